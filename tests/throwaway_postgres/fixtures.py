"""pytest fixtures: one throwaway PostgreSQL server per test session, a fresh database per test.

A test that needs PostgreSQL takes ``postgres_url`` (a fresh database's URL, plain text, so it can
be handed to another process as is) and, to stop or crash the server under it, ``postgres_server``
as well. Without PostgreSQL on the machine such a test is skipped, saying how to install it; with
``CI`` set it fails instead, since CI must run every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .binaries import INSTALL_HINT, find_bindir
from .server import PostgresServer


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is missing, or fail it when ``CI`` is set."""
    if find_bindir() is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the PostgreSQL tests must run, but {INSTALL_HINT}", False)
    pytest.skip(INSTALL_HINT)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's server; the same one for every test, stopped at the end of the session."""
    require_postgres()
    with PostgresServer.temporary() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT/jamey_test_N``: a new empty database for this test."""
    with postgres_server.database() as url:
        yield url
