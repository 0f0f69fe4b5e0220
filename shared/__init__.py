"""Roundtable's shared package: settings, the database, identity, and the domain stores."""

from typing import Any


def __getattr__(name: str) -> Any:
    """`__version__`, read from the installed distribution's metadata when first asked for (importlib.metadata
    costs tens of milliseconds: a short-lived process such as the Claude Code hook never pays it)."""
    if name != "__version__":
        raise AttributeError(f"module 'shared' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("mcp-roundtable")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
