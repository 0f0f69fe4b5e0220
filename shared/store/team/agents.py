"""Agents and their server sessions: registration, heartbeats, names and profiles, pruning, and the
live-session test every presence query is built from (`live_sessions_sql`).

An agent is online while any of its sessions (one per server process) has heartbeated within the
presence timeout. Presence is computed in SQL from `sessions.heartbeat_at`, never cached
(shared/store/team/presence.py).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence

from shared.actor import Actor
from shared.config import Role
from shared.db.connection import Database, Tx
from shared.errors import Conflict, InvalidArgument, NotFound
from shared.rules import names as names_rule
from shared.store import events
from shared.store.mail import inbox
from shared.store.team.live import configured_id as configured_id
from shared.store.team.live import live_session_sql as live_session_sql
from shared.store.team.live import live_sessions_sql as live_sessions_sql

NAME_MAX = names_rule.NAME_MAX
NAME_PATTERN = names_rule.NAME_PATTERN
RESERVED_NAMES = names_rule.RESERVED_NAMES
ROLE_STRENGTH = "CASE {col} WHEN 'admin' THEN 2 WHEN 'worker' THEN 1 ELSE 0 END"
ACTIVITY_MAX = 200
CAPABILITY_MAX = 50
CAPABILITIES_MAX = 30


DEAD_SESSION_SECONDS = 86400.0
"""A session silent this long (or ten presence timeouts, if longer) belonged to a crashed process."""


def _suffixes(key: str) -> list[str]:
    digest = hashlib.sha1(key.encode()).hexdigest()
    return [digest[:4], digest[:8], *(f"{digest[:8]}-{n}" for n in range(2, 50))]


def _first_free(tx: Tx, base: str, suffixes: Iterable[object]) -> str | None:
    """The first `<base>-<suffix>` no agent is named (None when all are taken)."""
    for suffix in suffixes:
        candidate = f"{base}-{suffix}"
        if tx.fetchone("SELECT 1 FROM agents WHERE name = ?", (candidate,)) is None:
            return candidate
    return None


def _free_name(tx: Tx, base: str, key: str) -> str:
    name = _first_free(tx, base, _suffixes(key))
    if name is None:
        raise Conflict(f"could not find a free agent name for {base!r}; set ROUNDTABLE_AGENT explicitly")
    return name


def find_or_create(
    tx: Tx,
    *,
    key: str,
    explicit_name: str | None,
    default_base: str,
    client_name: str,
    host: str,
    role: Role,
    now: float,
) -> tuple[str, str]:
    """The agent (id, name) of this identity, created when it is new (see register_session); no session is
    opened. The Claude Code hook (servers/cli/hook.py) calls it when it runs before the session's servers."""
    agent_id = configured_id(explicit_name) if explicit_name is not None else key
    row = tx.fetchone("SELECT name FROM agents WHERE id = ?", (agent_id,))
    if explicit_name is not None and row is None:
        squatter = tx.fetchone("SELECT id, name FROM agents WHERE name = ? AND id != ?", (explicit_name, agent_id))
        if squatter is not None:
            moved = _free_name(tx, explicit_name[: NAME_MAX - 12], str(squatter["id"]))
            tx.execute("UPDATE agents SET name = ? WHERE id = ?", (moved, squatter["id"]))
            reason = f"the name belongs to the agent configured with ROUNDTABLE_AGENT={explicit_name}"
            events.record(
                tx,
                now=now,
                agent_id=str(squatter["id"]),
                agent_name=moved,
                kind="agent.renamed",
                object_type="agent",
                object_id=str(squatter["id"]),
                data={"from": squatter["name"], "to": moved, "reason": reason},
            )
    if row is None:
        name = explicit_name or _free_name(tx, default_base, key)
        tx.execute(
            "INSERT INTO agents(id, name, client_name, host, role, created_at, last_seen, last_active)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (agent_id, name, client_name, host, role, now, now, now),
        )
        inbox.deliver_broadcasts(tx, agent_id, now=now)
        events.record(
            tx,
            now=now,
            agent_id=agent_id,
            agent_name=name,
            kind="agent.joined",
            object_type="agent",
            object_id=agent_id,
            data={"client": client_name, "host": host},
        )
    else:
        name = row["name"]
        tx.execute(
            "UPDATE agents SET client_name = ?, host = ?, last_seen = ?, last_active = ? WHERE id = ?",
            (client_name, host, now, now, agent_id),
        )
    return agent_id, name


async def register_session(
    db: Database,
    *,
    key: str,
    explicit_name: str | None,
    default_base: str,
    client_name: str,
    host: str,
    role: Role,
    server: str,
    pid: int,
    now: float,
    presence_timeout: float = 30.0,
) -> Actor:
    """Find or create the agent for this identity and open a session for this server process.

    An explicit name binds to its own identity (`named:<name>`), never to whoever holds that display name:
    an agent that took the name before (renaming itself to it) is renamed to a free `<name>-<suffix>`, so
    the configured agent gets its name and its mail. A derived identity keeps the name it has (it may have
    renamed itself) or gets `<client>-<suffix>`, unique. The role is the session's; the agent's stored role
    is the strongest of its live sessions. The Actor returned carries default settings: the runtime fills
    in its own (`Actor.of`).
    """
    session_id = uuid.uuid4().hex

    def register(tx: Tx) -> Actor:
        agent_id, name = find_or_create(
            tx,
            key=key,
            explicit_name=explicit_name,
            default_base=default_base,
            client_name=client_name,
            host=host,
            role=role,
            now=now,
        )
        tx.execute(
            "INSERT INTO sessions(id, agent_id, server, pid, host, started_at, heartbeat_at, role)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, agent_id, server, pid, host, now, now, role),
        )
        _agent_role(tx, agent_id, now, presence_timeout)
        return Actor(id=agent_id, name=name, role=role, session_id=session_id, now=now)

    return await db.write(register)


def _beat(tx: Tx, me: Actor, server: str, pid: int, host: str, now: float) -> None:
    tx.execute(
        "INSERT INTO sessions(id, agent_id, server, pid, host, started_at, heartbeat_at, role)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        (me.session_id, me.id, server, pid, host, now, now, me.role),
    )
    tx.execute("UPDATE agents SET last_seen = ? WHERE id = ?", (now, me.id))


async def heartbeat(db: Database, me: Actor, *, server: str, pid: int, host: str, now: float) -> None:
    """Refresh this session (recreating it if it was pruned while we slept) and the agent's last_seen."""
    await db.write(_beat, me, server, pid, host, now)


def _end(tx: Tx, me: Actor) -> None:
    tx.execute("DELETE FROM sessions WHERE id = ?", (me.session_id,))
    _agent_role(tx, me.id, me.now, me.presence_timeout)


async def end_session(db: Database, me: Actor) -> None:
    """Remove this process's session on a clean exit, so presence (and the agent's role, the strongest
    of its live sessions) reflects it at once."""
    await db.write(_end, me)


async def set_client_name(db: Database, me: Actor, client_name: str) -> None:
    """Record the client's own name (MCP clientInfo.name) for the agent, when the client sent one."""
    await db.write_one("UPDATE agents SET client_name = ? WHERE id = ?", (client_name[:100], me.id))


def prune_sessions(tx: Tx, *, older_than: float) -> int:
    """Drop sessions that stopped heartbeating long ago (crashed processes); returns how many."""
    return len(tx.execute("DELETE FROM sessions WHERE heartbeat_at < ? RETURNING id", (older_than,)))


async def current_name(db: Database, agent_id: str) -> str:
    """The agent's name now (it can be renamed by any of its four servers)."""
    return str(await db.scalar("SELECT name FROM agents WHERE id = ?", (agent_id,)) or agent_id)


def ids_by_names(tx: Tx, names: Sequence[str]) -> dict[str, str]:
    """Agent ids by name as given (names match without regard to case). Any name nobody has is refused
    with the known names (rules.names.unknown), so a typo never reaches the caller as "no such row"."""
    return {n: agent_id for n, (agent_id, _) in _by_names(tx, names).items()}


def named(tx: Tx, names: Sequence[str]) -> dict[str, str]:
    """The agents of these names as {id: name as stored}, in the order given; unknown names are refused as
    ids_by_names refuses them. One statement (a send's addressees)."""
    return dict(_by_names(tx, names).values())


def _by_names(tx: Tx, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """{name as given: (id, name as stored)} for every name, or the refusal that names the known ones."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    keys = list(dict.fromkeys(n.strip() for n in wanted))  # " bo" is bo: it was "no agent is named ' bo'"
    marks = ",".join("?" * len(keys))
    rows = tx.execute(f"SELECT id, name FROM agents WHERE name IN ({marks})", keys)
    found = {str(r["name"]).lower(): (str(r["id"]), str(r["name"])) for r in rows}
    missing = [n for n in wanted if n.strip().lower() not in found]
    if missing:
        raise names_rule.unknown("agent", missing, known_names(tx))
    return {n: found[n.strip().lower()] for n in wanted}


async def id_by_name(db: Database, name: str) -> str:
    """The id of the agent of this name (any case); NotFound lists the known names."""
    return (await db.read(ids_by_names, [name]))[name]


def known_names(tx: Tx, limit: int = 50) -> list[str]:
    """The names of the agents seen most recently, newest first."""
    rows = tx.execute("SELECT name FROM agents ORDER BY last_seen DESC LIMIT ?", (limit,))
    return [str(r["name"]) for r in rows]


def check_name(name: str) -> str:
    """A name other agents can type (rules.names.check_agent_name, which ROUNDTABLE_AGENT obeys too)."""
    return names_rule.check_agent_name(name)


def _configured_holder(tx: Tx, name: str) -> str | None:
    """The id of the configured identity (ROUNDTABLE_AGENT) named `name`, any case, if it has ever started."""
    row = tx.fetchone("SELECT id FROM agents WHERE lower(id) = lower(?)", (configured_id(name),))
    return None if row is None else str(row["id"])


def _agent_role(tx: Tx, agent_id: str, now: float, presence_timeout: float) -> None:
    """The agent's stored role: the strongest its live sessions declared (an observer server started under
    a worker's name never makes that worker an observer); unchanged when none is live."""
    strongest = tx.fetchone(
        f"SELECT role FROM sessions WHERE agent_id = ? AND heartbeat_at >= ?"
        f" ORDER BY {ROLE_STRENGTH.format(col='role')} DESC LIMIT 1",
        (agent_id, now - presence_timeout),
    )
    if strongest is not None:
        tx.execute("UPDATE agents SET role = ? WHERE id = ?", (strongest["role"], agent_id))


def check_capabilities(capabilities: Sequence[str]) -> list[str]:
    """Capabilities as task_create's `requires` names them: stripped, de-duplicated, in the given order."""
    found = list(dict.fromkeys(c.strip() for c in capabilities if c.strip()))
    if len(found) > CAPABILITIES_MAX:
        raise InvalidArgument(f"{len(found)} capabilities; declare at most {CAPABILITIES_MAX}")
    long = [c for c in found if len(c) > CAPABILITY_MAX]
    if long:
        raise InvalidArgument(f"capability {long[0][:60]!r}… is over {CAPABILITY_MAX} characters; shorten it")
    return found


def _suggest(tx: Tx, name: str) -> str:
    base = name[: NAME_MAX - 3]
    return _first_free(tx, base, range(2, 100)) or f"{base[: NAME_MAX - 9]}-{uuid.uuid4().hex[:8]}"


async def update_profile(
    db: Database,
    me: Actor,
    *,
    name: str | None = None,
    capabilities: Sequence[str] | None = None,
    activity: str | None = None,
) -> list[str]:
    """Rename the agent `me`, replace its capabilities and/or set its activity (at `me.now`); returns what
    changed, in words.

    Names are unique without regard to case; a taken name is refused with a free one to use instead.
    Each change is an event (agent.renamed, agent.capabilities, agent.activity) in the same transaction.
    """
    new_name = check_name(name) if name is not None else None
    caps = check_capabilities(capabilities) if capabilities is not None else None
    if activity is not None:
        activity = " ".join(activity.split())
        if len(activity) > ACTIVITY_MAX:
            raise InvalidArgument(f"activity is {len(activity)} characters; the limit is {ACTIVITY_MAX}")

    def change(tx: Tx) -> list[str]:
        changed: list[str] = []
        row = tx.fetchone("SELECT name, capabilities, activity FROM agents WHERE id = ?", (me.id,))
        if row is None:
            raise NotFound("this agent is not registered (it was pruned?); restart this server to register again")
        changes: list[tuple[str, str, str, dict[str, object]]] = []
        if new_name is not None and new_name != row["name"]:
            taken = tx.fetchone("SELECT id FROM agents WHERE name = ? AND id != ?", (new_name, me.id))
            if taken is not None:
                suggestion = _suggest(tx, new_name)
                raise Conflict(
                    f"the name {new_name!r} is taken by another agent (names ignore case); "
                    f"pick another, e.g. {suggestion!r}"
                )
            configured = _configured_holder(tx, new_name)
            if configured is not None and configured != me.id:
                owner = configured.removeprefix("named:")
                raise Conflict(
                    f"the name {new_name!r} belongs to the agent started with ROUNDTABLE_AGENT={owner} "
                    f"(names ignore case), even while it uses another; pick another, e.g. {_suggest(tx, new_name)!r}"
                )
            changes.append(("name", new_name, "agent.renamed", {"from": row["name"], "to": new_name}))
            changed.append(f"renamed from {row['name']} to {new_name}")
        if caps is not None and caps != json.loads(row["capabilities"]):
            changes.append(("capabilities", json.dumps(caps), "agent.capabilities", {"capabilities": caps}))
            changed.append(f"capabilities now {caps}")
        if activity is not None and activity != row["activity"]:
            changes.append(("activity", activity, "agent.activity", {"activity": activity}))
            changed.append(f"activity: {activity!r}" if activity else "activity cleared")
        for column, value, kind, data in changes:
            tx.execute(f"UPDATE agents SET {column} = ?, last_active = ? WHERE id = ?", (value, me.now, me.id))
            events.record(tx, now=me.now, agent_id=me.id, kind=kind, object_type="agent", object_id=me.id, data=data)
        return changed

    return await db.write(change)


def prune_gone(tx: Tx, at: Actor, *, retention: float) -> list[str]:
    """Remove agents offline for longer than `retention` at `at.now` (their sessions and topic subscriptions
    go too); returns their names. Never an agent with a live session, a claimed task or a token not revoked
    (`roundtable serve` speaks for a token's agent by id: pruned, its token could no longer open a session).
    Each removal is an `agent.pruned` event, so the history of who was here stays in the audit trail."""
    rows = tx.execute(
        "DELETE FROM agents AS a WHERE a.last_seen < :cutoff"
        f" AND NOT {live_session_sql('a.id')}"
        " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.holder = a.id AND t.status = 'claimed')"
        " AND NOT EXISTS (SELECT 1 FROM tokens k WHERE k.agent_id = a.id AND k.revoked_at IS NULL)"
        " RETURNING id, name, client_name, host, role, created_at, last_seen",
        at.params(cutoff=at.now - retention),
    )
    if rows:
        tx.executemany("DELETE FROM topic_subscriptions WHERE agent_id = ?", [(r["id"],) for r in rows])
    for r in rows:
        events.record(
            tx,
            now=at.now,
            agent_id=r["id"],
            agent_name=r["name"],
            kind="agent.pruned",
            object_type="agent",
            object_id=r["id"],
            data={
                "client": r["client_name"],
                "host": r["host"],
                "role": r["role"],
                "joined": r["created_at"],
                "last_seen": r["last_seen"],
                "offline_seconds": round(at.now - r["last_seen"]),
            },
        )
    return sorted(str(r["name"]) for r in rows)


def _prune(tx: Tx, at: Actor, retention: float) -> list[str]:
    gone = prune_gone(tx, at, retention=retention)
    prune_sessions(tx, older_than=at.now - max(DEAD_SESSION_SECONDS, at.presence_timeout * 10))
    return gone


async def prune(db: Database, at: Actor, *, retention: float) -> list[str]:
    """One write: agents gone longer than `retention` (prune_gone; their names are returned) and sessions
    of crashed processes (prune_sessions, silent over DEAD_SESSION_SECONDS)."""
    return await db.write(_prune, at, retention)
