"""Skills served as MCP prompts, straight from the database (the truth shared by every process).

MCPServer's prompts are an in-memory registry filled by decorators; skills change at run time and in other
processes, so prompts/list and prompts/get are answered by these two low-level request handlers, read from
the skills table on every request. build_server (servers/knowledge/__init__.py) registers them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    PaginatedRequestParams,
    Prompt,
    PromptArgument,
    PromptMessage,
    TextContent,
)

from shared.errors import RoundtableError, domain_error
from shared.frame.runtime import Runtime
from shared.rules import cursor
from shared.store.knowledge import skills

PAGE = 200


async def fingerprint(rt: Runtime) -> int:
    """Moves whenever a skill is defined or composed: what the prompts list-changed watcher compares."""
    return await skills.fingerprint(rt.db)


def _protocol_error(exc: RoundtableError | sqlite3.Error) -> MCPError:
    return MCPError(INVALID_PARAMS, str(domain_error(exc)))


async def list_prompts(ctx: ServerRequestContext[Runtime], params: PaginatedRequestParams) -> ListPromptsResult:
    """prompts/list: the newest version of every skill, PAGE at a time; an invalid cursor is INVALID_PARAMS."""
    rt = ctx.lifespan_context
    rt.notifier.prompt_lister(ctx)
    try:
        offset = cursor.offset(params.cursor, tool="prompts/list")
        found = await rt.db.read(skills.newest, limit=PAGE + 1, offset=offset)
    except (RoundtableError, sqlite3.Error) as exc:
        raise _protocol_error(exc) from exc
    listed = [
        Prompt(
            name=s.name,
            title=f"{s.name} (skill, version {s.version})",
            description=s.description,
            arguments=[
                PromptArgument(name=p.name, description=p.description, required=p.required) for p in s.parameters
            ],
        )
        for s in found[:PAGE]
    ]
    more = cursor.encode(offset + PAGE) if len(found) > PAGE else None
    return ListPromptsResult(prompts=listed, next_cursor=more, ttl_ms=0)


async def get_prompt(ctx: ServerRequestContext[Runtime], params: GetPromptRequestParams) -> GetPromptResult:
    """prompts/get: the skill's steps rendered with the arguments; refusals are INVALID_PARAMS with the fix."""
    rt = ctx.lifespan_context
    arguments: dict[str, Any] = dict(params.arguments or {})
    try:
        skill = await rt.db.read(skills.get, params.name)
        run = skills.execute(skill, {k: str(v) for k, v in arguments.items()})
    except (RoundtableError, sqlite3.Error) as exc:
        raise _protocol_error(exc) from exc
    return GetPromptResult(
        description=f"Skill {run.name}, version {run.version}",
        messages=[PromptMessage(role="user", content=TextContent(type="text", text=run.text))],
    )
