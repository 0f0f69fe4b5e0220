"""The demo's knowledge and monitoring steps, played only when those servers are in the build.

TODO(lead, after merging servers/knowledge.py and servers/monitoring.py): the tool names are the product's
(PRODUCT.md); the argument and result field names below are guesses made before those servers existed.
Replace each `# guess` with the real names, then run `uv run roundtable demo` until every step checks out.
Everything else about a step (narration, check, failure) works as in servers/cli/scene.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servers.cli.scene import Scene


async def experience(s: Scene) -> None:
    """ana shares what she learned from the review; planner finds it by searching."""
    s.step("ana", "shares what the review taught her", "experience_share")
    shared: Any = await s.call(
        "ana",
        "experience_share",
        title="review migrations against a copy of the real database",  # guess
        what_happened="the migration passed on an empty file but would have locked a large table",  # guess
        lesson="run migrations on a copy of production data before review",  # guess
        tags=["migrations"],  # guess
    )
    entry = shared.get("experience") or shared.get("entry") or {}  # guess
    s.notes["experience"] = entry.get("id")
    s.check(bool(entry.get("id")), f"experience {entry.get('id')} saved", expected="a saved experience", got=shared)
    s.step("planner", 'searches the knowledge base for "migration"', "knowledge_query")
    found: Any = await s.call("planner", "knowledge_query", query="migration")  # guess
    hits = found.get("results") or found.get("entries") or []  # guess
    s.check(
        any(h.get("id") == entry.get("id") for h in hits),
        f"planner finds ana's experience among {len(hits)} result(s)",
        expected=f"experience {entry.get('id')} among the results",
        got=[h.get("id") for h in hits],
    )


async def skill(s: Scene) -> None:
    """bo composes a reusable skill from steps; ana runs it."""
    s.step("bo", 'composes the skill "ship a migration"', "skill_compose")
    made: Any = await s.call(
        "bo",
        "skill_compose",
        name="ship-a-migration",  # guess
        description="write, test on a copy, get a review, then ship",  # guess
        steps=["write the migration", "test it on a copy of the data", "ask for a review", "ship"],  # guess
    )
    skill_id = (made.get("skill") or {}).get("name")  # guess
    s.check(bool(skill_id), f'skill "{skill_id}" saved', expected="a saved skill", got=made)
    s.step("ana", f'runs the skill "{skill_id}"', "skill_execute")
    ran: Any = await s.call("ana", "skill_execute", name=skill_id, inputs={"task": s.tasks.get("migration")})  # guess
    s.check(
        ran.get("ok", ran.get("success")) is True,  # guess
        f"skill ran: {ran.get('summary') or ran.get('next_step')}",
        expected="the skill to run successfully",
        got=ran,
    )


async def presence(s: Scene) -> None:
    """Each agent says what it is doing; the planner sees the whole team."""
    for who, doing in (("planner", "planning the release"), ("ana", "reviewing"), ("bo", "writing migrations")):
        s.step(who, f'tells the team it is "{doing}"', "agent_register")
        reg: Any = await s.call(who, "agent_register", activity=doing)  # guess
        me = reg.get("agent") or {}  # guess
        s.check(
            me.get("name") == who and me.get("activity") == doing,
            f"{who} is registered, doing: {doing}",
            expected=f"{who} registered with activity {doing!r}",
            got=reg,
        )
    s.step("planner", "looks at who is here", "agent_status")
    status: Any = await s.call("planner", "agent_status")
    online = sorted(a["name"] for a in status.get("agents", []) if a.get("online"))  # guess
    s.check(
        set(s.cast) <= set(online),
        f"online: {', '.join(online)}",
        expected=f"{', '.join(s.cast)} online",
        got=online,
    )


async def board(s: Scene) -> None:
    """Lines for the final board from the knowledge and monitoring servers (TODO(lead): e.g. the number of
    entries and skills, each agent's activity); nothing while those servers are not in the build."""
    del s
