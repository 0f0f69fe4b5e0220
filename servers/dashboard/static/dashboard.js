// The Roundtable dashboard: renders the state the server streams (server-sent events) and fetches the rest
// on demand. Every text from the team goes into the page as text (textContent), never as markup.
"use strict";

const FEED_KEPT = 300;
let lastState = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(target, ...children) {
  const node = typeof target === "string" ? document.querySelector(target) : target;
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

function relative(iso) {
  if (!iso) return "";
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const text = size < 60 ? `${size} s` : size < 3600 ? `${Math.round(size / 60)} min` : size < 86400
    ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86400)} d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function clock(iso) {
  return iso ? iso.slice(11, 19) : "";
}

const PRESENCE = { online: "● online", idle: "◐ idle", offline: "○ offline" };
const HEALTH = { healthy: "✓ healthy", degraded: "▲ degraded", unhealthy: "✕ unhealthy" };

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// -- agents ------------------------------------------------------------------------------------------
function renderAgents(state) {
  if (!state.agents.length) return fill("#agents .body", el("p", { class: "muted" }, "No agent has joined yet."));
  const rows = state.agents.map((a) =>
    el("tr", { "data-agent": a.name },
      el("th", { scope: "row" }, a.name),
      el("td", { class: `presence ${a.presence}` }, PRESENCE[a.presence] || a.presence),
      el("td", {}, a.role),
      el("td", {}, a.activity || "—"),
      el("td", {}, a.claims.length
        ? el("ul", { class: "plain" }, a.claims.map((c) =>
          el("li", {}, el("button", { type: "button", class: "link", "data-task": c.task_id }, `#${c.task_id} ${c.title}`),
            c.lease_expires_at ? ` — lease ends ${relative(c.lease_expires_at)}` : "")),
        a.more_claims ? el("li", {}, `and ${a.more_claims} more`) : null)
        : "—"),
      el("td", { class: "num" }, a.unread >= 1001 ? "1,000+" : String(a.unread))));
  fill("#agents .body", el("table", {},
    el("thead", {}, el("tr", {}, ["Agent", "Presence", "Role", "Doing", "Claims (time left)", "Unread"].map((h) =>
      el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows)));
}

// -- board -------------------------------------------------------------------------------------------
function card(task, health) {
  const lapsed = health.lapsed.has(task.id);
  const stuck = health.stuck.has(task.id);
  const flags = [];
  if (lapsed) flags.push(el("span", { class: "flag lapsed" }, "⚠ lapsed"));
  if (stuck) flags.push(el("span", { class: "flag stuck" }, "⏳ stuck"));
  const dead = task.stuck_on || [];
  if (dead.length) flags.push(el("span", { class: "flag dead" }, `✖ never ready: ${dead.map((d) => `#${d}`).join(", ")} ended undone`));
  if (task.status === "blocked" && task.blocked_reason) flags.push(el("span", { class: "flag" }, `blocked: ${task.blocked_reason}`));
  const who = task.holder ? `held by ${task.holder}` : task.assignee ? `for ${task.assignee}` : "";
  return el("li", { class: `card prio-${task.priority}${lapsed || stuck || dead.length ? " alert" : ""}` },
    el("button", { type: "button", class: "card-button", "data-task": task.id },
      el("span", { class: "title" }, `#${task.id} ${task.title}`),
      el("span", { class: "meta" },
        el("span", { class: `prio prio-${task.priority}` }, task.priority),
        who ? ` · ${who}` : "",
        task.lease_expires_at ? ` · lease ends ${relative(task.lease_expires_at)}` : "",
        task.depends_on.length ? ` · after ${task.depends_on.map((d) => `#${d}`).join(", ")}` : "",
        task.waiting_on.length ? ` (waiting on ${task.waiting_on.map((d) => `#${d}`).join(", ")})` : "",
        task.progress ? ` · ${task.progress}% done` : ""),
      flags.length ? el("span", { class: "flags" }, flags) : null));
}

function healthSets(state) {
  const work = state.health.work || {};
  return { lapsed: new Set(work.lapsed_leases || []), stuck: new Set(work.stuck_tasks || []) };
}

function renderBoard(state) {
  const sets = healthSets(state);
  const columns = state.board.columns.map((c) => {
    const list = el("ol", { class: "cards", "data-status": c.status }, c.tasks.map((t) => card(t, sets)));
    const more = c.next_cursor
      ? el("button", { type: "button", class: "more", onclick: (e) => moreTasks(e.currentTarget, c.status, list) ,
        "data-cursor": c.next_cursor }, "more…")
      : null;
    return el("div", { class: "column", "data-column": c.status },
      el("h3", {}, `${c.status} `, el("span", { class: "count" }, `(${c.total_shown})`)), list, more);
  });
  fill("#board .body", el("div", { class: "columns" }, columns));
}

async function moreTasks(button, status, list) {
  try {
    const page = await getJson(`/api/column?status=${encodeURIComponent(status)}&cursor=${encodeURIComponent(button.dataset.cursor)}`);
    const sets = lastState ? healthSets(lastState) : { lapsed: new Set(), stuck: new Set() };
    list.append(...page.tasks.map((t) => card(t, sets)));
    if (page.next_cursor) button.dataset.cursor = page.next_cursor; else button.remove();
  } catch (error) {
    button.textContent = `could not load more: ${error.message}`;
  }
}

async function showTask(id) {
  const dialog = document.getElementById("task-dialog");
  fill("#task-title", `Task #${id}`);
  fill("#task-dialog .body", el("p", { class: "muted" }, "loading…"));
  if (!dialog.open) dialog.showModal();
  try {
    const { task, history } = await getJson(`/api/task/${encodeURIComponent(id)}`);
    fill("#task-title", `Task #${task.id}: ${task.title}`);
    const facts = [
      ["status", task.status], ["priority", task.priority], ["holder", task.holder], ["assignee", task.assignee],
      ["lease ends", task.lease_expires_at && `${task.lease_expires_at} (${relative(task.lease_expires_at)})`],
      ["depends on", task.depends_on.map((d) => `#${d}`).join(", ")], ["tags", task.tags.join(", ")],
      ["attempts", `${task.attempts} of ${task.max_attempts}`], ["progress", task.progress ? `${task.progress}%` : ""],
      ["blocked because", task.blocked_reason], ["result", task.result], ["created by", task.created_by],
      ["created", task.created_at],
    ].filter(([, v]) => v);
    fill("#task-dialog .body",
      task.description ? el("p", { class: "description" }, task.description) : null,
      el("dl", {}, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("h3", {}, "History"),
      history.length ? el("ol", { class: "history" }, history.map((e) =>
        el("li", {}, el("time", { datetime: e.at }, e.at), ` ${e.agent || "system"} — ${e.kind}`,
          Object.keys(e.data).length ? el("code", {}, ` ${JSON.stringify(e.data)}`) : null)))
        : el("p", { class: "muted" }, "no history"));
  } catch (error) {
    fill("#task-dialog .body", el("p", { class: "error" }, error.message));
  }
}

// -- mail --------------------------------------------------------------------------------------------
function recipientState(r) {
  const parts = [r.read ? "read" : "unread"];
  if (r.acked) parts.push("acknowledged");
  if (r.overdue) parts.push("ack OVERDUE");
  return `${r.name} (${parts.join(", ")})`;
}

function message(m, heading) {
  const audience = m.kind === "broadcast" ? "everyone" : m.kind === "topic" ? `topic ${m.topic}` : "";
  const ack = m.ack_required
    ? el("span", { class: `flag${m.overdue_count ? " lapsed" : ""}` },
      m.overdue_count ? `⚠ ${m.overdue_count} acknowledgement(s) overdue` :
        `acknowledged ${m.acked_count}/${m.recipient_count}` + (m.ack_deadline ? `, due ${relative(m.ack_deadline)}` : ""))
    : null;
  return el("li", { class: `message prio-${m.priority}`, "data-message": m.id },
    el("p", { class: "meta" }, el("time", { datetime: m.at }, clock(m.at)), " ", el("strong", {}, m.sender), " → ",
      audience || m.recipients.map(recipientState).join(", ") || "nobody",
      m.recipient_count > m.recipients.length ? ` and ${m.recipient_count - m.recipients.length} more` : "",
      ` · read ${m.read_count}/${m.recipient_count}`, m.priority !== "normal" ? ` · ${m.priority}` : ""),
    m.subject && m.subject !== heading ? el("p", { class: "subject" }, m.subject) : null,
    el("p", { class: "text" }, m.body), ack);
}

function threads(messages) {
  const byThread = new Map();
  for (const m of messages) {
    if (!byThread.has(m.thread_id)) byThread.set(m.thread_id, []);
    byThread.get(m.thread_id).push(m);
  }
  return [...byThread.values()].map((ms) => {
    const ordered = ms.slice().reverse();
    const first = ordered[0];
    const heading = first.subject || `thread of #${first.thread_id}`;
    return el("li", { class: "thread", "data-thread": first.thread_id },
      el("h3", {}, heading, ordered.length > 1 ? ` (${ordered.length} messages)` : ""),
      el("ol", { class: "plain" }, ordered.map((m) => message(m, heading))));
  });
}

function renderMail(state) {
  const page = state.mail;
  const overdue = state.health.work ? state.health.work.overdue_acks : 0;
  fill("#mail .body",
    el("p", { class: "muted" }, `${state.unread} unread in all · ${overdue} acknowledgement(s) overdue`),
    page.messages.length ? el("ol", { class: "threads" }, threads(page.messages)) : el("p", { class: "muted" }, "No mail yet."));
  const older = document.getElementById("mail-older");
  older.hidden = !page.next_before;
  older.dataset.before = page.next_before || "";
  fill("#mail-more");
}

async function olderMail() {
  const button = document.getElementById("mail-older");
  try {
    const page = await getJson(`/api/mail?before=${encodeURIComponent(button.dataset.before)}`);
    document.getElementById("mail-more").append(el("ol", { class: "threads" }, threads(page.messages)));
    button.hidden = !page.next_before;
    button.dataset.before = page.next_before || "";
  } catch (error) {
    button.textContent = `could not load: ${error.message}`;
  }
}

// -- proposals -------------------------------------------------------------------------------------------
function renderProposals(state) {
  if (!state.proposals.length) return fill("#proposals .body", el("p", { class: "muted" }, "No proposals yet."));
  fill("#proposals .body", el("ol", { class: "plain" }, state.proposals.map((p) => {
    const most = Math.max(1, ...p.tally.options.map((o) => o.votes));
    const outcome = p.status === "open" ? `open, closes ${relative(p.deadline)}` : `${p.status}${p.outcome ? `: ${p.outcome}` : ""}`;
    return el("li", { class: `proposal ${p.status}`, "data-proposal": p.id },
      el("h3", {}, `#${p.id} ${p.title} `, el("span", { class: "badge" }, outcome)),
      el("p", { class: "meta" }, `by ${p.proposer} · ${p.rule} · ${p.tally.cast} of ${p.tally.electorate} voted, quorum ${p.tally.quorum}`,
        p.outcome_reason ? ` · ${p.outcome_reason}` : ""),
      el("table", { class: "tally" }, el("tbody", {}, p.tally.options.map((o) =>
        el("tr", {}, el("th", { scope: "row" }, o.option),
          el("td", {}, el("span", { class: "bar", style: null, "data-width": Math.round((100 * o.votes) / most) })),
          el("td", { class: "num" }, String(o.votes)))),
      p.tally.abstain ? el("tr", {}, el("th", { scope: "row" }, "abstain"), el("td"), el("td", { class: "num" }, String(p.tally.abstain))) : null)),
      p.votes.length ? el("ul", { class: "votes" }, p.votes.map((v) =>
        el("li", {}, el("strong", {}, v.agent), ` voted ${v.choice}`, v.rationale ? ` — “${v.rationale}”` : ""))) : null,
      p.not_voted.length && p.status === "open" ? el("p", { class: "muted" }, `not yet: ${p.not_voted.join(", ")}`) : null);
  })));
  for (const bar of document.querySelectorAll("#proposals .bar")) bar.style.width = `${bar.dataset.width}%`;
}

// -- knowledge ---------------------------------------------------------------------------------------
async function search(event) {
  event.preventDefault();
  const text = document.getElementById("q").value;
  try {
    const found = await getJson(`/api/knowledge?q=${encodeURIComponent(text)}`);
    fill("#hits",
      el("p", { class: "muted" }, `${found.total}${found.total_is_lower_bound ? "+" : ""} match(es)`),
      el("ol", { class: "plain" }, found.hits.map((h) =>
        el("li", { class: "hit" }, el("strong", {}, h.title), ` · ${h.kind} by ${h.author}, ${h.age} ago`,
          h.tags.length ? ` · ${h.tags.join(", ")}` : "", el("p", { class: "text" }, h.snippet.replaceAll("**", ""))))));
  } catch (error) {
    fill("#hits", el("p", { class: "error" }, error.message));
  }
}

function renderSkills(state) {
  const s = state.skills;
  fill("#skills", s.skills.length
    ? el("ul", { class: "plain" }, s.skills.map((k) => el("li", {}, el("strong", {}, `${k.name} v${k.version}`), ` — ${k.description} (by ${k.author})`)))
    : el("p", { class: "muted" }, "No skills yet."));
}

// -- health ------------------------------------------------------------------------------------------
function renderHealth(state) {
  const h = state.health;
  const badge = document.getElementById("health-badge");
  badge.textContent = HEALTH[h.status] || h.status;
  badge.className = `badge ${h.status}`;
  const db = h.database;
  fill("#health .body",
    el("p", { class: `status ${h.status}` }, HEALTH[h.status] || h.status),
    h.reasons.length ? el("ul", { class: "plain" }, h.reasons.map((r) =>
      el("li", { class: `reason ${r.severity}` }, el("code", {}, r.code), ` (${r.severity}) `, r.message)))
      : el("p", { class: "muted" }, "No reasons to worry."),
    db ? el("p", { class: "meta" }, `schema ${db.schema_version ?? ""} · file ${Math.round((db.size_bytes || 0) / 1024)} KiB · WAL ${Math.round((db.wal_bytes || 0) / 1024)} KiB`) : null);
}

// -- metrics -----------------------------------------------------------------------------------------
const LINE_STYLES = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4", "3 6"];

function chart(timeline) {
  const W = 640, H = 200, L = 50, B = 24;
  const tools = timeline.tools;
  const values = tools.flatMap((t) => t.points.map((p) => p.p95_ms || 0));
  const top = Math.max(1, ...values);
  const slots = tools.length ? tools[0].points.length : 12;
  const x = (i) => L + ((W - L - 10) * i) / Math.max(1, slots - 1);
  const y = (v) => H - B - ((H - B - 10) * v) / top;
  const lines = tools.map((t, n) => {
    const pts = t.points.map((p, i) => (p.p95_ms === null ? null : `${x(i).toFixed(1)},${y(p.p95_ms).toFixed(1)}`)).filter(Boolean);
    const dots = t.points.map((p, i) => (p.p95_ms === null ? null : svg("circle",
      { cx: x(i).toFixed(1), cy: y(p.p95_ms).toFixed(1), r: 3, class: `dot s${n % 8}` },
      svg("title", {}, `${t.tool}: p50 ${p.p50_ms} ms, p95 ${p.p95_ms} ms, ${p.calls} calls from ${clock(p.at)}`))));
    const medians = t.points.map((p, i) => (p.p50_ms === null ? null : `${x(i).toFixed(1)},${y(p.p50_ms).toFixed(1)}`)).filter(Boolean);
    return svg("g", {}, svg("polyline", { points: pts.join(" "), class: `series s${n % 8}`, fill: "none",
      "stroke-dasharray": LINE_STYLES[n % 8] }, svg("title", {}, `${t.tool} p95`)),
    svg("polyline", { points: medians.join(" "), class: `series p50 s${n % 8}`, fill: "none",
      "stroke-dasharray": LINE_STYLES[n % 8] }, svg("title", {}, `${t.tool} p50`)), dots);
  });
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title", class: "chart" },
    svg("title", { id: "chart-title" }, "p95 (thick) and p50 (thin) latency per tool over the last hour, in ms"),
    svg("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, class: "axis" }),
    svg("line", { x1: L, y1: 10, x2: L, y2: H - B, class: "axis" }),
    svg("text", { x: L - 6, y: 14, "text-anchor": "end", class: "tick" }, `${top.toFixed(top < 10 ? 1 : 0)} ms`),
    svg("text", { x: L - 6, y: H - B, "text-anchor": "end", class: "tick" }, "0"),
    svg("text", { x: L, y: H - 6, class: "tick" }, clock(timeline.since)),
    svg("text", { x: W - 10, y: H - 6, "text-anchor": "end", class: "tick" }, clock(timeline.until)),
    lines);
}

function renderMetrics(state) {
  const m = state.metrics;
  const errors = {};
  for (const t of m.tools) for (const [kind, n] of Object.entries(t.errors)) errors[kind] = (errors[kind] || 0) + n;
  const legend = el("ul", { class: "legend plain" }, state.timeline.tools.map((t, n) =>
    el("li", {}, svg("svg", { width: 30, height: 10, "aria-hidden": "true" },
      svg("line", { x1: 0, y1: 5, x2: 30, y2: 5, class: `series s${n % 8}`, "stroke-dasharray": LINE_STYLES[n % 8] })),
    ` ${t.tool} (${t.calls} calls)`)));
  fill("#metrics .body",
    state.timeline.tools.length
      ? [chart(state.timeline), el("p", { class: "meta" }, "thick line: p95 · thin line: p50 · points: hover for figures"), legend]
      : el("p", { class: "muted" }, "No tool calls in the last hour."),
    el("p", { class: "meta" }, `${m.totals.tool_calls} calls, ${m.totals.tool_errors} errors`,
      Object.keys(errors).length ? ` — by kind: ${Object.entries(errors).map(([k, n]) => `${k} ${n}`).join(", ")}` : ""),
    m.tools.length ? el("table", {},
      el("thead", {}, el("tr", {}, ["Tool", "Server", "Calls", "p50 ms", "p95 ms", "Errors"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, m.tools.map((t) => el("tr", {}, el("th", { scope: "row" }, t.tool), el("td", {}, t.server),
        el("td", { class: "num" }, String(t.calls)), el("td", { class: "num" }, t.p50_ms.toFixed(1)),
        el("td", { class: "num" }, t.p95_ms.toFixed(1)),
        el("td", {}, Object.entries(t.errors).map(([k, n]) => `${k} ${n}`).join(", ") || "—"))))) : null);
}

// -- the event feed ----------------------------------------------------------------------------------
function eventItem(e) {
  const what = e.object_type ? ` ${e.object_type} ${e.object_id}` : "";
  return el("li", { "data-event": e.id }, el("time", { datetime: e.at }, clock(e.at)), " ",
    el("strong", {}, e.agent || "system"), ` ${e.kind}${what}`,
    Object.keys(e.data).length ? el("code", {}, ` ${JSON.stringify(e.data).slice(0, 160)}`) : null);
}

function addEvents(events, fresh) {
  const list = document.querySelector("#feed .body");
  if (fresh) list.replaceChildren();
  for (const e of events) list.prepend(eventItem(e));
  while (list.children.length > FEED_KEPT) list.lastElementChild.remove();
}

// -- the stream ---------------------------------------------------------------------------------------
function render(state) {
  lastState = state;
  fill("#where", `team in ${state.db} · updated ${new Date(state.now * 1000).toLocaleTimeString()}`);
  renderAgents(state);
  renderBoard(state);
  renderMail(state);
  renderProposals(state);
  renderSkills(state);
  renderHealth(state);
  renderMetrics(state);
}

function connect() {
  const live = document.getElementById("live");
  const stream = new EventSource("/stream");
  stream.addEventListener("state", (event) => {
    const message = JSON.parse(event.data);
    render(message.state);
    addEvents(message.events, message.fresh);
    live.textContent = "● live";
    live.className = "badge live";
    document.body.dataset.lastEventId = event.lastEventId;
  });
  stream.addEventListener("error", () => {
    live.textContent = stream.readyState === EventSource.CLOSED ? "✕ disconnected (reload)" : "◌ reconnecting…";
    live.className = "badge offline";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-task]");
    if (target) showTask(target.dataset.task);
  });
  document.getElementById("search").addEventListener("submit", search);
  document.getElementById("mail-older").addEventListener("click", olderMail);
  connect();
});
