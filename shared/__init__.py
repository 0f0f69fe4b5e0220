"""Roundtable's shared package: settings, the database, identity, and the domain stores."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcp-roundtable")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
