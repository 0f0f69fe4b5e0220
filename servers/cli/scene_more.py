"""The demo's knowledge and monitoring steps, played only when those servers are in the build.

Each step narrates, calls and checks exactly as in servers/cli/scene.py.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from servers.cli.scene import Scene

PUSH_SECONDS = 3.0
"""How long the channel step waits for its push (it comes within a second; the demo runs on busy machines)."""


async def channel(s: Scene) -> None:
    """bo's mail is pushed into ana's session as a Claude Code channel event, unread; then the SessionStart hook
    Claude Code would run for ana briefs her on it."""
    from servers.cli.launch import hook_command
    from servers.cli.scene import StepFailed

    listener = s.cast["ana"].servers["messaging"].listener
    if listener is None:
        raise StepFailed("ana's messaging client listening for channel pushes", "no listener")
    s.step("bo", "tells ana the migration is merged; her client is told at once, unasked", "message_send")
    began = time.monotonic()
    sent = await s.call(
        "bo",
        "message_send",
        to=["ana"],
        subject="migration merged",
        body="It is on main now.",
        reply_to=s.notes.get("thread"),
    )
    msg_id = sent["message"]["id"]

    def ours() -> Any:
        return next((p for p in listener.pushes if int(p.meta["first_id"]) <= msg_id <= int(p.meta["last_id"])), None)

    with anyio.move_on_after(PUSH_SECONDS):
        while ours() is None:
            await listener.arrived.wait()
    push = ours()
    took = listener.times[listener.pushes.index(push)] - began if push is not None else None
    s.check(
        push is not None and push.meta["senders"] == "bo" and "migration merged" in push.content,
        f"ana's client got notifications/claude/channel after {took or 0:.2f} s: "
        f"{push.content.splitlines()[0] if push else ''}",
        expected=f"a channel push of message {msg_id} from bo within {PUSH_SECONDS:g} s",
        got=[p.meta for p in listener.pushes] or "no push",
    )
    s.step("ana", "checks her inbox without reading it", "message_query")
    inbox = await s.call("ana", "message_query", thread=s.notes.get("thread", msg_id), mark_read=False)
    unread = [m for m in inbox["messages"] if m["id"] == msg_id and not m["read"]]
    s.check(
        bool(unread),
        f"message {msg_id} is still unread: a push never marks anything read",
        expected=f"message {msg_id} unread",
        got=[(m["id"], m["read"]) for m in inbox["messages"]],
    )
    s.step("ana", "starts a new Claude Code session: its SessionStart hook briefs her", "roundtable hook SessionStart")
    argv, env = hook_command("SessionStart", s.db, "ana")
    payload = {"session_id": f"demo-{uuid.uuid4()}", "hook_event_name": "SessionStart", "source": "startup"}
    done = await anyio.run_process(argv, input=json.dumps(payload).encode(), env=env, check=False)
    try:
        brief = json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"]
    except (ValueError, KeyError, TypeError):
        brief = ""
    s.check(
        done.returncode == 0 and brief.startswith("Roundtable: you are ana, a worker") and "migration merged" in brief,
        f'the brief: "{brief.splitlines()[0]}" … lists bo\'s unread "migration merged"' if brief else "",
        expected="a SessionStart answer naming ana and listing the unread message",
        got=f"exit {done.returncode}: {done.stdout.decode()[:200]!r} {done.stderr.decode()[-200:]!r}",
    )
    # She reads it (the board's counts stay as before this act), and only the scene's thread: on a file that
    # already has a team, mail to an earlier "ana" is not the demo's to read.
    await s.call("ana", "message_query", thread=s.notes.get("thread", msg_id))


async def experience(s: Scene) -> None:
    """ana shares what the review taught her; the planner, following the topic, is told and finds it."""
    s.step("planner", "follows announcements of new experience", "message_subscribe")
    followed = await s.call("planner", "message_subscribe", subscribe=["knowledge.*"])
    s.check(
        "knowledge.*" in followed["patterns"],
        "planner follows knowledge.*",
        expected="knowledge.* among planner's patterns",
        got=followed["patterns"],
    )
    s.step("ana", "shares what the review taught her", "experience_share")
    shared = await s.call(
        "ana",
        "experience_share",
        title="test migrations on a copy of real data",
        context=f"reviewing the migration of task {s.tasks.get('migration')}",
        tried="ran it on an empty database only",
        outcome="mixed",
        lesson="run every migration on a copy of production-sized data before review",
        tags=["migrations"],
    )
    entry = shared["entry"]
    s.notes["experience"] = entry["id"]
    s.check(
        entry["kind"] == "experience" and "planner" in shared["announced_to"],
        f"entry {entry['id']} saved and announced to {', '.join(shared['announced_to'])}",
        expected="an experience entry announced to planner",
        got=f"kind {entry['kind']}, announced to {shared['announced_to']}",
    )
    s.step("planner", 'searches the knowledge base for "migration data"', "knowledge_query")
    found = await s.call("planner", "knowledge_query", text="migration data")
    hits = [h["id"] for h in found["hits"]]
    s.check(
        entry["id"] in hits,
        f"planner finds entry {entry['id']} by ana among {found['total']} match(es)",
        expected=f"entry {entry['id']} among the hits",
        got=hits,
    )


async def skill(s: Scene) -> None:
    """bo saves two small skills, composes them into one; ana runs it for the next migration."""
    parts = {
        "test-a-migration": ["run migration {number} on a copy of production-sized data", "time it"],
        "get-a-review": ["ask a teammate to review migration {number}, acknowledgement required"],
    }
    s.step("bo", f"saves the skills {' and '.join(parts)}", "skill_define")
    for name, steps in parts.items():
        saved = (
            await s.call(
                "bo",
                "skill_define",
                name=name,
                description=f"{name.replace('-', ' ')}, the way the team learned to",
                steps=steps,
                parameters=[{"name": "number", "description": "the migration's number"}],
            )
        )["skill"]
        first = saved["version"] == 1 or s.shared_db  # on a file with a team, an earlier demo saved version 1
        s.check(
            saved["name"] == name and first,
            f"skill {name} version {saved['version']} saved",
            expected=f"skill {name} version 1",
            got=f"{saved['name']} version {saved['version']}",
        )
    s.step("bo", "composes them into ship-a-migration", "skill_compose")
    made = (
        await s.call(
            "bo",
            "skill_compose",
            name="ship-a-migration",
            description="test a migration on real-sized data, then get it reviewed",
            skills=list(parts),
        )
    )["skill"]
    s.check(
        len(made["steps"]) == 3 and [p.split("@")[0] for p in made["composed_of"] or []] == list(parts),
        f"ship-a-migration has {len(made['steps'])} steps, from {', '.join(made['composed_of'] or [])}",
        expected="3 steps composed from " + ", ".join(parts),
        got=f"{len(made['steps'])} steps from {made['composed_of']}",
    )
    s.step("ana", "runs ship-a-migration for migration 0006", "skill_execute")
    ran = await s.call("ana", "skill_execute", name="ship-a-migration", arguments={"number": "0006"})
    s.check(
        len(ran["steps"]) == 3 and ran["arguments"] == {"number": "0006"} and "0006" in ran["steps"][0],
        f'ana gets {len(ran["steps"])} steps to follow, starting "{ran["steps"][0]}"',
        expected="3 rendered steps mentioning migration 0006",
        got=ran["steps"],
    )


async def presence(s: Scene) -> None:
    """Each agent says what it is doing; the planner sees the whole team."""
    for who, doing in (("planner", "planning the release"), ("ana", "reviewing"), ("bo", "writing migrations")):
        s.step(who, f'tells the team it is "{doing}"', "agent_register")
        reg: Any = await s.call(who, "agent_register", activity=doing)
        me = reg.get("agent") or {}
        s.check(
            me.get("name") == who and me.get("activity") == doing,
            f"{who} is registered, doing: {doing}",
            expected=f"{who} registered with activity {doing!r}",
            got=reg,
        )
    s.step("planner", "looks at who is here", "agent_status")
    status: Any = await s.call("planner", "agent_status")
    here = {a["name"]: a for a in status.get("agents", []) if a.get("presence") in ("online", "idle")}
    s.check(
        set(s.cast) <= set(here),
        "present: " + ", ".join(f"{n} ({a.get('activity')})" for n, a in sorted(here.items())),
        expected=f"{', '.join(s.cast)} present",
        got=sorted(here),
    )


async def board(s: Scene) -> None:
    """The knowledge and monitoring lines of the final board."""
    if "knowledge" in s.kinds:
        entries = await s.call("planner", "knowledge_query", limit=1)
        skills = await s.call("planner", "skill_list", limit=100)
        names = ", ".join(k["name"] for k in skills["skills"])
        print(
            f"\nknowledge: {entries['total']} entr{'y' if entries['total'] == 1 else 'ies'}; skills: {names or 'none'}",
            file=s.out,
        )
    if "monitoring" in s.kinds:
        health = await s.call("planner", "network_health")
        reasons = "; ".join(f"{r['code']}: {r['message']}" for r in health["reasons"])
        print(f"health: {health['status']}" + (f" — {reasons}" if reasons else ""), file=s.out)
