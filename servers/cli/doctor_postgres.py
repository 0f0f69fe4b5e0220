"""`roundtable doctor` on a PostgreSQL team: the connection, the server, the schema version and the user's
privileges, each a check with its fix in one line. It only looks: no statement it sends writes, and nothing
of it stays in the database (no agent, no session, no event)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import psycopg

from servers.cli.doctor import Check
from shared.db import pgsql
from shared.db.place import PostgresUrl
from shared.db.postgres import POOL_SIZE, latest_version

OLDEST = 120000
"""PostgreSQL 12: generated columns and nondeterministic (ICU) collations, which the schema uses."""
PER_SERVER = POOL_SIZE + 1
"""Connections one server process may hold: its pool and the change watcher's LISTEN connection."""
WRITES = ("SELECT", "INSERT", "UPDATE", "DELETE")


def check_postgres(place: PostgresUrl) -> list[Check]:
    """The checks of the team's PostgreSQL database, stopping at the first one the rest depend on."""
    parts = urlsplit(place.url)
    user = parts.username or "(your login name)"
    database = parts.path.strip("/")
    try:
        conn = psycopg.connect(place.url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        return [Check("PostgreSQL", False, f"{place.shown}: {_first_line(exc)}", _connection_fix(exc, user, database))]
    with conn:
        conn.execute("SET default_transaction_read_only = on")  # the doctor never writes
        version = int(_one(conn, "SHOW server_version_num"))
        shown_version = str(_one(conn, "SHOW server_version")).split()[0]
        checks = [
            Check(
                "PostgreSQL",
                version >= OLDEST,
                f"{place.shown}: connected as {_one(conn, 'SELECT current_user')}, PostgreSQL {shown_version}",
                "" if version >= OLDEST else "upgrade PostgreSQL to 12 or newer (Roundtable's schema needs it)",
            )
        ]
        if _one(conn, "SELECT pg_is_in_recovery()"):
            checks.append(
                Check("writable", False, "this server is a read-only standby", "point the URL at the primary server")
            )
            return checks
        checks += _schema_and_privileges(conn, user)
        checks.append(_connections(conn))
    return checks


def _schema_and_privileges(conn: psycopg.Connection[Any], user: str) -> list[Check]:
    schema = _one(conn, "SELECT current_schema()")
    if schema is None:
        missing = "the search_path names no schema that exists"
        return [Check("schema", False, missing, "set search_path (or create the schema it names)")]
    latest = latest_version()
    have = _one(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL")
    version = int(_one(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations") or 0) if have else 0
    grant_create = (
        f"as the database's owner: GRANT CREATE ON SCHEMA {schema} TO {user} (or ALTER DATABASE … OWNER TO {user})"
    )
    can_create = bool(_one(conn, "SELECT has_schema_privilege(current_schema(), 'CREATE')"))
    if version > latest:
        return [
            Check(
                "schema version",
                False,
                f"{version} (this Roundtable knows up to {latest})",
                "upgrade Roundtable: uvx --refresh --from <source> roundtable-coordination",
            )
        ]
    if version < latest:
        state = "empty" if version == 0 else f"at version {version}"
        icu = bool(_one(conn, "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collprovider = 'i')"))
        checks = [
            Check(
                "schema version",
                can_create,
                f"{state}; the first server creates version {latest} in schema {schema}",
                "" if can_create else grant_create,
            )
        ]
        if not icu:
            checks.append(
                Check("ICU collations", False, "this server has none", "use a PostgreSQL built with ICU (Debian's is)")
            )
        return checks
    checks = [Check("schema version", True, f"{latest} (up to date) in schema {schema}")]
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_type = 'BASE TABLE' ORDER BY table_name"
    )]  # fmt: skip
    lacking = [
        f"{what} on {table}"
        for table in tables
        for what in WRITES
        if not _one(conn, "SELECT has_table_privilege(%s::regclass, %s)", (table, what))
    ]
    if lacking:
        more = f" and {len(lacking) - 4} more" if len(lacking) > 4 else ""
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {user}"
        checks.append(
            Check("privileges", False, f"{user} lacks {', '.join(lacking[:4])}{more}", f"as their owner: {grant}")
        )
    else:
        checks.append(Check("privileges", True, f"{user} may read and write all {len(tables)} tables"))
    owner = _one(conn, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'schema_migrations'::regclass")
    if not lacking and owner != _one(conn, "SELECT current_user"):
        checks.append(
            Check(
                "migrations",
                True,
                f"the tables belong to {owner}",
                f"optional: a newer Roundtable alters them on its first start; start that one as {owner}",
            )
        )
    return checks


def _connections(conn: psycopg.Connection[Any]) -> Check:
    """Room for more server processes: each holds up to PER_SERVER connections."""
    most = int(_one(conn, "SHOW max_connections"))
    reserved = int(_one(conn, "SHOW superuser_reserved_connections"))
    used = int(_one(conn, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))
    room = max(most - reserved - used, 0) // PER_SERVER
    detail = f"{used} of {most} in use; room for about {room} more server processes ({PER_SERVER} connections each)"
    fix = "" if room >= 8 else "optional: raise max_connections in postgresql.conf (or put PgBouncer in front)"
    return Check("connections", room >= 1, detail, fix if room >= 1 else "raise max_connections or stop idle clients")


def _one(conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(statement, params).fetchone()
    return row[0] if row else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split("failed: ", 1)[-1] if "failed: " in text else text


def _connection_fix(exc: BaseException, user: str, database: str) -> str:
    said = str(exc)
    if any(full in said for full in pgsql.FULL):
        return pgsql.full_fix(said).split(": ", 1)[1]
    if "does not exist" in said and "database" in said:
        return f"create it, e.g. psql -c 'CREATE DATABASE {database} OWNER {user}' (as a superuser)"
    if "role" in said and "does not exist" in said:
        return f"create the user, e.g. psql -c \"CREATE USER {user} PASSWORD '…'\" (as a superuser)"
    if "password" in said:
        return "check the user and password in the URL (or PGPASSWORD, ~/.pgpass)"
    if "pg_hba.conf" in said:
        return "allow this host in the server's pg_hba.conf (a host line for this user and database), then reload it"
    if "resolve host" in said or "Name or service not known" in said:
        return "correct the host name in the URL"
    if "SSL" in said or "ssl" in said:
        return "match the server's TLS setting with ?sslmode=require (or disable) in the URL"
    return "start PostgreSQL there, or correct the host and port in the URL (default port 5432)"
