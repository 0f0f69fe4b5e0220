"""The invariants a swarm run must leave behind, checked against the team's database (either engine, through
tests/direct.py), its events table and what every client saw. Each check raises AssertionError naming what
broke."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

from tests.direct import Direct
from tests.reliability.swarm import ALLOWED_ERRORS, Agent, Team

FORBIDDEN = ("database is locked", "Shared database error")


def internal(text: str, tool: str) -> bool:
    """An unexpected exception reaches the model as `Error executing tool <name>` with nothing after it."""
    return text.strip() == f"Error executing tool {tool}"


def check_answers(team: Team) -> None:
    """No client saw a lock error or an internal error; every other error is one the workload expects."""
    bad = [c for c in team.calls if any(word in c.text for word in FORBIDDEN) or internal(c.text, c.tool)]
    assert not bad, [(c.agent, c.tool, c.text[:300]) for c in bad[:5]]
    unexpected = [
        c for c in team.calls if c.is_error and not any(word in c.text for word in ALLOWED_ERRORS.get(c.tool, ()))
    ]
    assert not unexpected, [(c.agent, c.tool, c.arguments, c.text[:300]) for c in unexpected[:5]]


def check_file(conn: Direct) -> None:
    """SQLite's own checks of the file (PostgreSQL checks its pages and foreign keys as it writes)."""
    if conn.engine == "sqlite":
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def agent_ids(conn: Direct) -> dict[str, str]:
    return {name: agent_id for agent_id, name in conn.execute("SELECT id, name FROM agents")}


def check_tasks(conn: Direct, agents: Sequence[Agent]) -> None:
    """Replay each task's events: claimed only while nobody holds it and its dependencies are done, finished
    only by its holder, completed at most once; the final state equals the row. The claims and completions
    clients were told about are exactly those events (a killed agent may have more: answers it never got)."""
    state: dict[int, tuple[str, str | None]] = {}
    deps: dict[int, list[int]] = {}
    completed: set[int] = set()
    claims_by: Counter[tuple[str, int]] = Counter()
    finishes_by: Counter[tuple[str, int]] = Counter()
    finishing = {"task.completed": "done", "task.retry": "open", "task.failed": "failed", "task.released": "open"}
    rows = conn.execute(
        "SELECT id, kind, agent_id, CAST(object_id AS INTEGER), data FROM events WHERE object_type = 'task' ORDER BY id"
    )
    for event_id, kind, agent, task, raw in rows:
        data = json.loads(raw)
        status, holder = state.get(task, (None, None))
        where = f"event {event_id} {kind} on task {task} ({status}, held by {holder})"
        if kind == "task.created":
            assert status is None, where
            state[task], deps[task] = ("open", None), data["depends_on"]
        elif kind == "task.claimed":
            assert status == "open", where
            assert all(d in completed for d in deps[task]), f"{where}: dependencies {deps[task]} not done"
            state[task] = ("claimed", agent)
            claims_by[agent, task] += 1
        elif kind == "task.lease_lapsed":
            assert status == "claimed" and agent == holder, where  # the lapse event is the holder's
            state[task] = (data["now"], None)
        elif kind in finishing:
            assert status == "claimed" and agent == holder, where
            if kind == "task.completed":
                assert task not in completed, f"{where}: completed twice"
                completed.add(task)
            state[task] = (finishing[kind], None)
            finishes_by[agent, task] += 1
        else:
            assert kind == "task.updated", f"{where}: the workload does not do this"
    final = {t: (s, h) for t, s, h in conn.execute("SELECT id, status, holder FROM tasks")}
    assert final == state, {
        t: (final.get(t), state.get(t)) for t in final.keys() | state.keys() if final.get(t) != state.get(t)
    }

    ids = agent_ids(conn)
    for a in agents:
        told = Counter((ids[a.name], t) for t in a.claims)
        recorded = Counter({k: n for k, n in claims_by.items() if k[0] == ids[a.name]})
        _same_or_more(a, told, recorded, "claims")
        answered = Counter(
            (ids[a.name], c.arguments["task_id"])
            for c in _calls(a, "task_complete", "task_update")
            if not c.is_error and (c.tool == "task_complete" or c.arguments.get("status") == "open")
        )
        _same_or_more(a, answered, Counter({k: n for k, n in finishes_by.items() if k[0] == ids[a.name]}), "finishes")


def _calls(agent: Agent, *tools: str) -> list:  # type: ignore[type-arg]
    return [c for c in agent.team.calls if c.agent == agent.name and c.tool in tools]


def _same_or_more(agent: Agent, told: Counter, recorded: Counter, what: str) -> None:  # type: ignore[type-arg]
    """What a client was told equals what the file records; a killed agent may have lost the answers of the
    calls it had in flight, never gained one."""
    if not agent.kills:
        assert told == recorded, f"{agent.name} {what}: told {dict(told - recorded)}, recorded {dict(recorded - told)}"
    else:
        assert not told - recorded, f"{agent.name} {what} told but not recorded: {dict(told - recorded)}"
        lost = sum((recorded - told).values())  # up to two calls in flight (parallel tool calls) per kill
        assert lost <= 2 * len(agent.kills), f"{agent.name} {what}: {dict(recorded - told)}"


def check_messages(conn: Direct, agents: Sequence[Agent], drained: dict[str, list[int]]) -> None:
    """Every message reached exactly its recipients, and each recipient read it exactly once (during the run
    or in the final drain). A killed reader may miss only messages marked read while its answer was lost."""
    ids = agent_ids(conn)
    for c in (c for a in agents for c in _calls(a, "message_send") if not c.is_error):
        message = c.data["message"]["id"]
        got = {n for (n,) in conn.execute(
            "SELECT a.name FROM message_recipients r JOIN agents a ON a.id = r.agent_id WHERE r.message_id = ?",
            (message,),
        )}  # fmt: skip
        assert got == set(c.data["delivered_to"]), (message, got, c.data["delivered_to"])
    sent = [(m, json.loads(raw)["recipients"], n) for m, raw, n in conn.execute(
        "SELECT m.id, e.data, (SELECT count(*) FROM message_recipients r WHERE r.message_id = m.id) FROM messages m"
        " JOIN events e ON e.object_type = 'message' AND e.object_id = CAST(m.id AS TEXT) AND e.kind = 'message.sent'"
    )]  # fmt: skip
    assert all(recorded == rows for _, recorded, rows in sent), [s for s in sent if s[1] != s[2]][:5]
    for a in agents:
        me = ids[a.name]
        expected = {m for (m,) in conn.execute(
            "SELECT m.id FROM messages m JOIN message_recipients r ON r.message_id = m.id AND r.agent_id = ?"
            " WHERE m.kind != 'broadcast'"
            " UNION SELECT id FROM messages WHERE kind = 'broadcast' AND (sender_id IS NULL OR sender_id != ?)",
            (me, me),
        )}  # fmt: skip
        seen = Counter(a.seen + drained[a.name])
        twice = sorted(m for m, n in seen.items() if n > 1)
        assert not twice, f"{a.name} was given messages {twice} more than once"
        assert set(seen) <= expected, f"{a.name} was given messages not for it: {sorted(set(seen) - expected)}"
        missing = sorted(expected - set(seen))
        lost = [m for m in missing if not _read_while_killed(conn, a, me, m)]
        assert not lost, f"{a.name} never got messages {lost}"


def _read_while_killed(conn: Direct, agent: Agent, me: str, message: int) -> bool:
    row = conn.execute("SELECT read_at FROM message_recipients WHERE agent_id = ? AND message_id = ?", (me, message))
    read_at = (row.fetchone() or (None,))[0]
    return read_at is not None and any(before - 0.05 <= read_at <= killed + 0.05 for before, killed in agent.kills)


def check_votes(conn: Direct, agents: Sequence[Agent]) -> None:
    """One vote per (proposal, elector), the latest accepted one; each closed proposal closed once, and its
    recorded tally is the ballot box."""
    ids = agent_ids(conn)
    box = {(p, a): c for p, a, c in conn.execute("SELECT proposal_id, agent_id, choice FROM votes")}
    electors = set(conn.execute("SELECT proposal_id, agent_id FROM proposal_electors").fetchall())
    assert set(box) <= electors, sorted(set(box) - electors)[:5]
    voted = Counter(
        (int(p), a) for p, a in conn.execute("SELECT object_id, agent_id FROM events WHERE kind = 'proposal.voted'")
    )
    for a in agents:
        told = Counter((p, ids[a.name]) for p, _ in a.votes)
        _same_or_more(a, told, Counter({k: n for k, n in voted.items() if k[1] == ids[a.name]}), "votes")
        if not a.kills:
            latest = {p: choice for p, choice in a.votes}
            assert all(box[p, ids[a.name]] == c for p, c in latest.items()), a.name
    closes = Counter(int(p) for (p,) in conn.execute("SELECT object_id FROM events WHERE kind = 'proposal.closed'"))
    assert all(n == 1 for n in closes.values()), closes
    for pid, status, options in conn.execute("SELECT id, status, options FROM proposals"):
        assert (status != "open") == (pid in closes), (pid, status)
        if status == "open":
            continue
        (raw,) = conn.execute(
            "SELECT data FROM events WHERE kind = 'proposal.closed' AND object_id = ?", (str(pid),)
        ).fetchone()
        data = json.loads(raw)
        counted = Counter(c for (p, _), c in box.items() if p == pid)
        assert data["status"] == status
        assert data["votes"] == {o: counted.get(o, 0) for o in json.loads(options)}, (pid, data, counted)
        assert data["abstain"] == counted.get("abstain", 0), (pid, data, counted)


def check_all(conn: Direct, team: Team, agents: Iterable[Agent], drained: dict[str, list[int]]) -> None:
    everyone = list(agents)
    check_answers(team)
    check_file(conn)
    check_tasks(conn, everyone)
    check_messages(conn, everyone, drained)
    check_votes(conn, everyone)
