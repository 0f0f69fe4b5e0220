"""The instrumentation's pieces: error kinds, and a flush that keeps its samples when the write fails."""

from __future__ import annotations

import sqlite3

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from pydantic import BaseModel, ValidationError

from shared.config import Settings
from shared.db.connection import Database
from shared.errors import Forbidden, NotFound
from shared.frame import instrument
from shared.frame.notify import CountingBus, Notifier
from shared.frame.runtime import Runtime
from shared.rules.clock import system_clock

pytestmark = pytest.mark.anyio


def wrapped(cause: BaseException, outer: type[ToolError] = ToolError) -> ToolError:
    inner = ToolError("inner")
    inner.__cause__ = cause
    exc = outer("Error executing tool x: inner")
    exc.__cause__ = inner
    return exc


def validation_error() -> ValidationError:
    class Args(BaseModel):
        n: int

    try:
        Args(n="seven")  # type: ignore[arg-type]
    except ValidationError as exc:
        return exc
    raise AssertionError("no error")


async def test_error_kinds_name_how_a_call_failed() -> None:
    assert instrument.error_kind(wrapped(NotFound("x"))) == "not_found"
    assert instrument.error_kind(wrapped(Forbidden("x"))) == "forbidden"
    assert instrument.error_kind(wrapped(validation_error())) == "validation"
    assert instrument.error_kind(wrapped(sqlite3.OperationalError("disk I/O error"))) == "unavailable"
    assert instrument.error_kind(wrapped(RuntimeError("bug"), UnexpectedToolError)) == "internal"
    assert instrument.error_kind(ToolError("Unknown tool: nope")) == "unknown_tool"
    assert instrument.error_kind(anyio.get_cancelled_exc_class()()) == "cancelled"


async def test_a_failed_flush_keeps_its_samples_for_the_next_one(settings: Settings, db: Database) -> None:
    rt = Runtime(settings=settings, server="toy", clock=system_clock, started_at=0.0, notifier=Notifier(CountingBus()))
    broken = await Database.open(settings.db)
    await broken.close()
    rt._db = broken
    rt.recorder.add((1.0, None, "toy", "a", 0.001, None))
    await instrument.flush(rt)  # the connection is closed: the write fails
    assert len(rt.recorder.pending) == 1
    rt.recorder.add((2.0, None, "toy", "b", 0.001, None))
    rt._db = db
    await instrument.flush(rt)
    assert len(rt.recorder.pending) == 0
    assert [r["tool"] for r in await db.fetchall("SELECT tool FROM tool_calls ORDER BY ts")] == ["a", "b"]
