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

SkillName = Annotated[str, Field(min_length=1, max_length=64)]
Description = Annotated[str, Field(min_length=1, max_length=store.DESCRIPTION_MAX)]


@tool(read_only=False, title="Define a skill")
async def skill_define(
    name: SkillName,
    description: Description,
    steps: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=store.STEP_MAX)]],
        Field(
            min_length=1,
            max_length=store.STEPS_MAX,
            description="{param} inserts an argument",
        ),
    ],
    ctx: Context[Any, Any],
    parameters: Annotated[
        list[SkillParameter],
        Field(max_length=store.PARAMETERS_MAX),
    ] = [],  # noqa: B006
) -> SkillSaved:
    """Save a named procedure: steps with {param} placeholders and declared parameters. Redefining
    makes a new version; old ones stay executable. Also offered as a prompt."""
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
            description="'name' or 'name@2', in order",
        ),
    ],
    ctx: Context[Any, Any],
) -> SkillSaved:
    """Make a skill from existing ones in order (steps joined, parameters merged): a snapshot."""
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
    text: Annotated[str | None, Field(max_length=100)] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Field(max_length=10)] = None,
) -> SkillList:
    """The team's skills (newest version each) with parameters and steps; look before writing a
    procedure. Run one with skill_execute."""
    rt = runtime(ctx)
    offset = cursors.offset(cursor, tool="skill_list")
    found, total = await rt.db.read(store.page, text=text, limit=limit, offset=offset)
    more = str(offset + len(found)) if offset + len(found) < total else None
    if found:
        step = "Run one with skill_execute(name, arguments)."
    elif total:  # a cursor past the end: it said "No skills found; save one" beside a total of them
        step = f"No skills past cursor {offset}: the {total} matching are on earlier pages; omit cursor to start over."
    else:
        step = "No skills found; save one with skill_define."
    return SkillList(skills=found, total=total, next_cursor=more, next_step=step)


@tool(read_only=True, title="Execute a skill")
async def skill_execute(
    name: SkillName,
    ctx: Context[Any, Any],
    arguments: Annotated[
        dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=store.ARGUMENT_MAX)]],
        Field(max_length=store.PARAMETERS_MAX),
    ] = {},  # noqa: B006
    version: Annotated[int | None, Field(ge=1)] = None,
) -> SkillRun:
    """Render a skill's steps with your arguments, for you to follow. Runs no code."""
    rt = runtime(ctx)
    return store.execute(await rt.db.read(store.get, name, version), arguments)


TOOLS = (skill_define, skill_compose, skill_list, skill_execute)
