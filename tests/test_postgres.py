"""The test harness's PostgreSQL: one server per session, a fresh database per test, one marker for both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.db.connection import Database
from tests import postgres

pytestmark = pytest.mark.anyio


def test_each_test_gets_a_fresh_database_of_its_own(postgres_server: postgres.Postgres, postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    postgres_server.sql("CREATE TABLE mine (a int); INSERT INTO mine VALUES (1)", name)
    other = postgres_server.create(template="roundtable_template")
    try:
        assert postgres_server.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'mine'", other) == "0"
    finally:
        postgres_server.drop(other)
    assert postgres_server.sql("SHOW server_version_num", name) >= "150000"
    assert postgres_server.sql("SHOW fsync", name) == "off"


@pytest.mark.engines("sqlite", "postgresql")
def test_the_engines_marker_runs_a_test_once_per_engine(engine: str, db_url: str, db_path: Path) -> None:
    if engine == "sqlite":
        assert db_url == str(db_path)
    else:
        assert db_url.startswith("postgresql://") and "127.0.0.1" in db_url


def test_unmarked_tests_use_sqlite(engine: str, db_url: str) -> None:
    assert engine == "sqlite" and not db_url.startswith("postgresql")


def test_the_binaries_are_found_or_the_reason_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROUNDTABLE_PG_BIN", str(tmp_path))
    try:
        found = postgres.find_bindir()
    except postgres.Unavailable as missing:
        assert "ROUNDTABLE_PG_BIN" in str(missing) and "apt-get install postgresql" in str(missing)
    else:
        assert found != tmp_path and (found / "initdb").is_file()


@pytest.mark.engines("sqlite", "postgresql")
async def test_each_engines_database_is_migrated_and_empty(engine: str, db: Database) -> None:
    assert db.engine == engine
    assert await db.schema_version() == db.latest_version()
    assert await db.scalar("SELECT count(*) FROM tasks") == 0
