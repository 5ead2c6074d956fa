"""A throwaway PostgreSQL server for the tests (see ``server``) and its pytest fixtures."""

from .binaries import INSTALL_HINT, find_bindir
from .server import PostgresFailed, PostgresNotInstalled, PostgresServer

__all__ = [
    "INSTALL_HINT",
    "PostgresFailed",
    "PostgresNotInstalled",
    "PostgresServer",
    "find_bindir",
]
