"""Fixtures shared by every test: the asyncio backend, a fresh database (a SQLite file, or a PostgreSQL database
on the session's own server), settings and a fake clock.

A test or module marked `@pytest.mark.engines("sqlite", "postgresql")` runs once per engine named: its `engine`
fixture is that name and `db_url` the database (a file path, or a URL); unmarked, `engine` is "sqlite". The
PostgreSQL server starts at the first test that needs it; where none can be started those tests skip with the
reason, and under CI=true (where .ci/run installs it) they fail."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from shared.config import Settings
from shared.db.connection import Database
from shared.db.place import Place, PostgresUrl, parse_place
from tests import postgres

ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("engines")
    if marker is not None and "engine" in metafunc.fixturenames:
        unknown = set(marker.args) - set(ENGINES)
        assert not unknown, f"unknown engines {sorted(unknown)}: name some of {ENGINES}"
        metafunc.parametrize("engine", marker.args, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Postgres]:
    """The session's PostgreSQL server, started once; skipped (failed under CI=true) where there is none."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(postgres.running())
        except postgres.Unavailable as missing:
            if os.environ.get("CI") == "true":
                pytest.fail(f"PostgreSQL is required under CI=true (.ci/run installs it): {missing}")
            pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {missing}")
        yield server


@pytest.fixture(scope="session")
def postgres_template(postgres_server: postgres.Postgres) -> str:
    """The migrated database every test's database is copied from (CREATE DATABASE … TEMPLATE: ≈ 100 ms, no
    migrating per test)."""
    name = postgres_server.create("roundtable_template")

    async def migrate() -> None:
        await (await Database.open(PostgresUrl(postgres_server.url(name)))).close()

    anyio.run(migrate)
    postgres_server.mark_template(name)
    return name


@pytest.fixture
def postgres_url(postgres_server: postgres.Postgres, postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own, dropped after it."""
    name = postgres_server.create(template=postgres_template)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop(name)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The engine this run of the test uses (see the `engines` marker)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db_url(engine: str, request: pytest.FixtureRequest) -> str:
    """This test's database as `--db`/ROUNDTABLE_DB would name it: the SQLite file's path or a PostgreSQL URL."""
    if engine == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return str(request.getfixturevalue("db_path"))


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
def place(db_url: str) -> Place:
    """This test's database as Settings.db holds it (see `db_url`)."""
    return parse_place(db_url)


@pytest.fixture
def settings(place: Place) -> Settings:
    """Settings for agent ana on this test's database (its engine's: see the `engines` marker)."""
    return Settings(db=place, agent="ana", presence_timeout=30.0, lease_seconds=600.0)


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
async def db(place: Place) -> AsyncIterator[Database]:
    """This test's database, opened and migrated (a SQLite file, or PostgreSQL under the `engines` marker)."""
    database = await Database.open(place)
    try:
        yield database
    finally:
        await database.close()
