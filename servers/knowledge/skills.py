"""Skill tools: define, compose, list, execute (over shared/store/knowledge/skills.py). Every change also
tells prompt-menu clients. Registered by build_server in servers/knowledge/__init__.py."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from shared.frame.runtime import runtime
from shared.frame.tool import tool
from shared.models.knowledge import SkillList, SkillParameter, SkillRun, SkillSaved
from shared.rules import cursor as cursors
from shared.store.knowledge import skills as store

SkillName = Annotated[str, Field(min_length=1, max_length=64, description="lower-case, e.g. release-checklist")]
Description = Annotated[
    str, Field(min_length=1, max_length=store.DESCRIPTION_MAX, description="what it achieves, when to use it")
]


@tool(read_only=False, title="Define a skill")
async def skill_define(
    name: SkillName,
    description: Description,
    steps: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=store.STEP_MAX)]],
        Field(
            min_length=1,
            max_length=store.STEPS_MAX,
            description="the procedure, one instruction each; {param} inserts an argument, {{ }} are braces",
        ),
    ],
    ctx: Context[Any, Any],
    parameters: Annotated[
        list[SkillParameter],
        Field(max_length=store.PARAMETERS_MAX, description="what the steps need; a default makes one optional"),
    ] = [],  # noqa: B006
) -> SkillSaved:
    """Save a reusable procedure as a named skill: a description, declared parameters and steps (text
    templates with {param} placeholders). Defining an existing name makes a new version; old versions are
    kept and still executable. The skill also appears as a prompt in clients' prompt menus."""
    rt = runtime(ctx)
    skill = await store.define(rt.db, await rt.writer(), name, description, parameters, steps)
    await rt.notifier.prompts_changed()
    return SkillSaved(
        skill=skill,
        next_step=f"Saved {skill.name} version {skill.version}; run it with "
        f"skill_execute(name={skill.name!r}, arguments={{…}}).",
    )


@tool(read_only=False, title="Compose a skill")
async def skill_compose(
    name: SkillName,
    description: Description,
    skills: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=80)]],
        Field(
            min_length=2,
            max_length=store.PARTS_MAX,
            description="existing skills in the order to follow them: 'name' (newest) or 'name@2'",
        ),
    ],
    ctx: Context[Any, Any],
) -> SkillSaved:
    """Build a new skill (or a new version of one) from existing skills in order: their steps one after the
    other, their parameters merged. A parameter declared differently by two parts is refused. The result
    is a snapshot: later versions of the parts do not change it. Returns the new skill."""
    rt = runtime(ctx)
    skill = await store.compose(rt.db, await rt.writer(), name, description, skills)
    await rt.notifier.prompts_changed()
    return SkillSaved(
        skill=skill,
        next_step=f"Composed {skill.name} version {skill.version} from {', '.join(skill.composed_of or [])}.",
    )


@tool(read_only=True, title="List skills")
async def skill_list(
    ctx: Context[Any, Any],
    text: Annotated[str | None, Field(max_length=100, description="words in the name or description")] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Field(max_length=10, description="next_cursor from the previous page")] = None,
) -> SkillList:
    """The team's skills (newest version of each, by name) with their parameters, steps and versions.
    Look here before writing a procedure down: `text` filters on name or description; the result gives
    the total and a next_cursor when there are more. Run one with skill_execute."""
    rt = runtime(ctx)
    offset = cursors.offset(cursor, tool="skill_list")
    found, total = await rt.db.read(store.page, text=text, limit=limit, offset=offset)
    more = str(offset + len(found)) if offset + len(found) < total else None
    step = "Run one with skill_execute(name, arguments)." if found else "No skills found; save one with skill_define."
    return SkillList(skills=found, total=total, next_cursor=more, next_step=step)


@tool(read_only=True, title="Execute a skill")
async def skill_execute(
    name: SkillName,
    ctx: Context[Any, Any],
    arguments: Annotated[
        dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=store.ARGUMENT_MAX)]],
        Field(max_length=store.PARAMETERS_MAX, description="a value for each declared parameter"),
    ] = {},  # noqa: B006
    version: Annotated[int | None, Field(ge=1, description="an older version; default the newest")] = None,
) -> SkillRun:
    """Render a skill's procedure with your arguments, for you to follow step by step. It runs no code.
    Unknown or missing arguments are refused with the declared parameters."""
    rt = runtime(ctx)
    return store.execute(await rt.db.read(store.get, name, version), arguments)


TOOLS = (skill_define, skill_compose, skill_list, skill_execute)
