"""The migration files this code ships, by number: model-free and without aiosqlite, so the Claude Code hook can
tell a file of another schema version from its own before it touches it (connection.py re-exports these)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def migration_files(folder: str) -> list[tuple[int, Traversable]]:
    """The `NNNN_name.sql` files in shared/db/`folder`, in order of their numbers (from the folder beside this
    module when the package is installed as files: importlib.resources costs the hook 5 ms of imports)."""
    beside = Path(__file__).with_name(folder)
    if beside.is_dir():
        entries: Any = beside.iterdir()
    else:
        from importlib import resources

        entries = (resources.files("shared.db") / folder).iterdir()
    return sorted(
        ((int(e.name[:4]), e) for e in entries if e.name.endswith(".sql") and e.name[:4].isdigit()),
        key=lambda found: found[0],
    )


def latest_version(folder: str = "migrations") -> int:
    """The newest schema version this code ships in shared/db/`folder` (`migrations` for SQLite,
    `migrations_pg` for PostgreSQL; from the file names, nothing is read)."""
    files = migration_files(folder)
    return files[-1][0] if files else 0
