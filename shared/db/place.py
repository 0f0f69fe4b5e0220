"""Where the team lives: a SQLite file (a Path, the embedded default) or a PostgreSQL database (its URL).

`ROUNDTABLE_DB` / `--db` name either. A value starting with `postgresql://` or `postgres://` is a PostgreSQL
URL (libpq's form: `postgresql://user:password@host:port/database?sslmode=…`); anything else is a file path,
taken exactly as before. Settings carry the result as one `Place`; `shown(place)` is how it is printed
(a URL's password is never shown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL database named by its libpq URL."""

    url: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.url.lower().startswith(SCHEMES):
            raise ValueError(f"{self.shown} is not a PostgreSQL URL; it starts with postgresql://")
        if not urlsplit(self.url).path.strip("/"):
            raise ValueError(
                f"{self.shown} names no database; add its name after the host, e.g. postgresql://user@host/team"
            )

    @property
    def shown(self) -> str:
        """The URL with any password replaced by ***: the one after the user name, and libpq's
        `?password=` parameter (the dashboard shows this to every observer, serve prints it)."""
        parts = urlsplit(self.url)
        if parts.password is not None:
            netloc = parts.netloc.rsplit("@", 1)
            user = netloc[0].split(":", 1)[0]
            parts = parts._replace(netloc=f"{user}:***@{netloc[1]}")
        if parts.query:
            pieces = parts.query.split("&")
            hidden = [f"{p.split('=', 1)[0]}=***" if _is_password(p) else p for p in pieces]
            parts = parts._replace(query="&".join(hidden))
        return urlunsplit(parts)

    def __str__(self) -> str:
        return self.shown


def _is_password(piece: str) -> bool:
    """Whether this `name=value` of a URL's query is libpq's password."""
    return unquote_plus(piece.split("=", 1)[0]).strip().lower() == "password"


Place = Path | PostgresUrl
"""Where the team lives: a SQLite file or a PostgreSQL database."""


def parse_place(raw: str) -> Place:
    """`raw` as a Place: a PostgreSQL URL by its scheme, else a file path (~ expanded, made absolute)."""
    if raw.strip().lower().startswith(SCHEMES):
        return PostgresUrl(raw.strip())
    return Path(raw).expanduser().absolute()


def shown(place: Place) -> str:
    """How a place is printed: the file's path, or the URL without its password."""
    return place.shown if isinstance(place, PostgresUrl) else str(place)


def sqlite_file(place: Place, command: str) -> Path:
    """The file of a SQLite place; for PostgreSQL, the one line saying `command` works on SQLite files only."""
    if isinstance(place, PostgresUrl):
        raise ValueError(f"{command} works on a SQLite file only; {place.shown} is a PostgreSQL database")
    return place
