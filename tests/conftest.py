"""Fixtures shared by every test: the asyncio backend, a fresh database file, settings and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from shared.config import Settings
from shared.db.connection import Database


class FakeClock:
    """A clock tests move by hand: `clock.advance(60)` instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiosqlite is asyncio-only


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "roundtable.db"


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(db=db_path, agent="ana", presence_timeout=30.0, lease_seconds=600.0)


@pytest.fixture
def as_agent(settings: Settings):  # type: ignore[no-untyped-def]
    """Settings for another agent on the same database: `as_agent("bo", role="admin")`."""

    def make(name: str, **changes: object) -> Settings:
        return replace(settings, agent=name, **changes)  # type: ignore[arg-type]

    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    try:
        yield database
    finally:
        await database.close()
