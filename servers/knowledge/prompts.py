"""Skills served as MCP prompts, straight from the database (the truth shared by every process).

MCPServer's prompts are an in-memory registry filled by decorators; skills change at run time and in other
processes, so prompts/list and prompts/get are answered here from the skills table instead, through the
low-level server (`_lowlevel_server`, private: used only in `serve`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
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
from shared.frame.notify import advertise_prompt_list_changes
from shared.frame.runtime import Runtime
from shared.store.knowledge import skills

PAGE = 200


async def fingerprint(rt: Runtime) -> int:
    return await skills.fingerprint(rt.db)


def _protocol_error(exc: RoundtableError | sqlite3.Error) -> MCPError:
    return MCPError(INVALID_PARAMS, str(domain_error(exc)))


def serve(mcp: MCPServer[Runtime]) -> None:
    async def list_prompts(ctx: ServerRequestContext[Runtime], params: PaginatedRequestParams) -> ListPromptsResult:
        rt = ctx.lifespan_context
        rt.notifier.prompt_lister(ctx)
        if params.cursor and not params.cursor.isdigit():
            raise MCPError(INVALID_PARAMS, f"cursor {params.cursor!r} is not one prompts/list returned; omit it")
        offset = int(params.cursor) if params.cursor else 0
        try:
            found = await skills.newest(rt.db, limit=PAGE + 1, offset=offset)
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
        more = str(offset + PAGE) if len(found) > PAGE else None
        return ListPromptsResult(prompts=listed, next_cursor=more, ttl_ms=0)

    async def get_prompt(ctx: ServerRequestContext[Runtime], params: GetPromptRequestParams) -> GetPromptResult:
        rt = ctx.lifespan_context
        arguments: dict[str, Any] = dict(params.arguments or {})
        try:
            run = skills.execute(await skills.get(rt.db, params.name), {k: str(v) for k, v in arguments.items()})
        except (RoundtableError, sqlite3.Error) as exc:
            raise _protocol_error(exc) from exc
        return GetPromptResult(
            description=f"Skill {run.name}, version {run.version}",
            messages=[PromptMessage(role="user", content=TextContent(type="text", text=run.text))],
        )

    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("prompts/list", PaginatedRequestParams, list_prompts)
    lowlevel.add_request_handler("prompts/get", GetPromptRequestParams, get_prompt)
    advertise_prompt_list_changes(mcp)
