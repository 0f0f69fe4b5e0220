"""The demo's knowledge and monitoring steps, played only when those servers are in the build.

Each step narrates, calls and checks exactly as in servers/cli/scene.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servers.cli.scene import Scene


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
        s.check(
            saved["name"] == name and saved["version"] == 1,
            f"skill {name} version 1 saved",
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
