"""The `@tool` decorator and `add_tools`: tools are module-level `async def` functions, registered in one
visible place per server (its `build_server`), so `grep "def task_claim"` finds the tool itself.

`@tool(...)` records true annotations on the function and wraps it so that domain and database errors
become ToolErrors whose text names the fix (errors.domain_error). The docstring is the description the
model reads.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from shared.errors import RoundtableError, domain_error

P = ParamSpec("P")
R = TypeVar("R")

ANNOTATIONS = "__roundtable_tool__"


def tool(
    mcp: MCPServer[Any] | None = None,
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    title: str | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Mark an async function as a tool with true annotations (registered later by `add_tools`).

    Passing `mcp` registers it at once (the older closure style, until every server is converted).
    """

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except (RoundtableError, sqlite3.Error) as exc:
                raise ToolError(str(domain_error(exc))) from exc

        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=None if read_only else destructive,
            idempotent_hint=idempotent,
            open_world_hint=False,
        )
        setattr(call, ANNOTATIONS, annotations)
        if mcp is not None:
            add_tools(mcp, [call])
            return fn
        return call

    return decorate


def add_tools(mcp: MCPServer[Any], *groups: Iterable[Callable[..., Awaitable[Any]]]) -> None:
    """Register each group's `@tool` functions on `mcp`, in order."""
    for group in groups:
        for fn in group:
            annotations = getattr(fn, ANNOTATIONS, None)
            if annotations is None:
                raise TypeError(f"{fn.__name__} is not decorated with @tool")
            mcp.tool(annotations=annotations, description=inspect.cleandoc(fn.__doc__ or ""))(fn)
