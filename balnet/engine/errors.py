"""The error of bad user input, shared by the engine's records and backends.

:class:`ConfigError` is printed by the CLI as one line with exit status 2,
never as a traceback.  It lives here, below :mod:`.params` and :mod:`.backend`,
so that both can raise it without importing each other.
"""
from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """Bad user input: printed as one line by the CLI, exit code 2."""
