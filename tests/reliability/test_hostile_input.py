"""Hostile input: every tool of every server driven with generated arguments — wrong types, huge strings,
unicode edge cases, SQL and FTS syntax, negative and enormous numbers, unknown ids. Each answer must be a
valid result or an error with a message (never a crash), and the server must stay alive and consistent.
Each server is driven in-process and over HTTP behind `roundtable serve` (a token's caller, real uvicorn)."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from servers import SERVER_KINDS
from shared.config import Settings
from tests.http import connect, make_token_sync, serving

NASTY_TEXT = [
    "'; DROP TABLE tasks; --",
    '" OR 1=1 --',
    "NEAR(a b)",
    'title:"x"',
    "a AND OR NOT",
    "(((",
    ")",
    "*",
    "-x",
    "^",
    "\x00",
    "\u202e\u0301",
    "🦜" * 50,
    "\ufeff",
    "x" * 70_000,
    "",
    " ",
    "topic:",
    "build.*",
    "**",
    "../../etc/passwd",
    "%",
    "_",
    "\\",
    "NULL",
]
EDGE_NUMBERS = [0, -1, 1, 2**31, 2**63 - 1, -(2**63), 10**30, 1e308, -1e308, 0.5]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EDGE_NUMBERS),
    st.integers(min_value=-5, max_value=50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_TEXT),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=10,
)


@dataclass
class Live:
    portal: BlockingPortal
    client: Client
    tools: dict[str, set[str]]


@contextmanager
def in_process(kind: str, db: Path) -> Iterator[Any]:
    module = importlib.import_module(f"servers.{kind}")
    yield Client(module.build_server(Settings(db=db, agent="fuzzer", role="admin")))


@contextmanager
def over_http(kind: str, db: Path) -> Iterator[Any]:
    """The same server behind `roundtable serve` (a real uvicorn), the fuzzer's token an admin's."""
    token = make_token_sync(db, "fuzzer", "admin")
    with serving(db) as served:
        yield connect(served.url(kind), token)


@pytest.fixture(params=[(kind, way) for way in ("in-process", "http") for kind in SERVER_KINDS], ids=str)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    kind, way = request.param
    db = tmp_path / "hostile.db"
    with (
        (in_process if way == "in-process" else over_http)(kind, db) as client_cm,
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(client_cm) as client,
    ):
        listed = portal.call(client.list_tools)
        tools = {t.name: set(t.input_schema.get("properties", {})) for t in listed.tools}
        yield Live(portal, client, tools)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_tool_answers_generated_arguments_with_a_result_or_a_clear_error(live: Live, data: Any) -> None:
    name = data.draw(st.sampled_from(sorted(live.tools)))
    keys = st.sampled_from(sorted(live.tools[name] | {"as_agent", "extra"}))
    arguments = data.draw(st.dictionaries(keys, values, max_size=6))
    for key in live.tools[name]:  # a valid wait of a minute (message_wait's default) says nothing about input
        value = arguments.get(key, 60)
        if "timeout" in key and type(value) in (int, float) and 1 < value <= 86_400:
            arguments[key] = 1
    result = live.portal.call(live.client.call_tool, name, arguments)
    if result.is_error:
        message = result.content[0].text  # type: ignore[union-attr]
        assert message.strip() and message != f"Error executing tool {name}", (name, arguments, message)
    alive = live.portal.call(live.client.list_tools)
    assert {t.name for t in alive.tools} == set(live.tools)
