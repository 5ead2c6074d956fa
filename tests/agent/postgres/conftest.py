"""Fixtures of the PostgreSQL registry tests: host processes, and what is in the database."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from throwaway_postgres import PostgresServer

from jamey_agent_orchestration.store.keys import generate_master_key
from jamey_agent_orchestration.testing import ThrowawayCA

from .hosts import HostProcess

StartHost = Callable[..., Awaitable[HostProcess]]


@pytest.fixture
def master_key() -> str:
    return generate_master_key()


@pytest.fixture
async def start_host(
    postgres_url: str, master_key: str, jamey_agent_ca: ThrowawayCA, tmp_path: Path
) -> AsyncIterator[StartHost]:
    """``await start_host()`` starts a host process on this test's database; all are stopped."""
    started: list[HostProcess] = []

    async def start(**settings: str) -> HostProcess:
        options = {"master_key": master_key, **settings}
        key = options.pop("master_key")
        url = options.pop("url", postgres_url)
        log = tmp_path / f"host-{len(started)}.log"
        host = await HostProcess.start(url, master_key=key, ca=jamey_agent_ca, log=log, **options)
        started.append(host)
        return host

    yield start
    for host in started:
        await host.stop()


def dump_database(server: PostgresServer, url: str) -> str:
    """Everything in the database (schema and rows), as ``pg_dump`` writes it."""
    database = url.rsplit("/", 1)[1]
    done = subprocess.run(
        [
            str(server.bindir / "pg_dump"),
            *("-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-d", database),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    # pg_dump brackets its output with a random \restrict token: not the database's content.
    lines = done.stdout.splitlines()
    return "\n".join(line for line in lines if not line.startswith(("\\restrict", "\\unrestrict")))
