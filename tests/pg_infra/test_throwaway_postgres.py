"""The throwaway PostgreSQL fixtures: fresh databases, restarts, LISTEN/NOTIFY, other processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from throwaway_postgres import INSTALL_HINT, PostgresServer, fixtures


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close(timeout=10)


@pytest.mark.parametrize("run", ["first", "second"])
async def test_each_test_gets_a_fresh_empty_database(postgres_url: str, run: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")
    async with connected(postgres_url) as connection:
        assert await connection.fetchval("SELECT current_database()") == name
        assert (
            await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            == 0
        )
        # Without IF NOT EXISTS: the second run fails here if it got the first run's database.
        await connection.execute("CREATE TABLE marker (run text)")
        await connection.execute("INSERT INTO marker VALUES ($1)", run)


async def test_databases_are_isolated_and_dropped_after_use(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    async with connected(postgres_url) as connection:
        await connection.execute("CREATE TABLE mine (id int)")
    with postgres_server.database() as other_url:
        assert other_url != postgres_url
        async with connected(other_url) as other:
            assert await other.fetchval("SELECT to_regclass('mine') IS NULL")
            # Still connected when the database is dropped: the drop must not wait for us.
            other_name = await other.fetchval("SELECT current_database()")
            with postgres_server.database():
                pass
        assert other_name in postgres_server.psql("SELECT datname FROM pg_database").split()
    assert other_name not in postgres_server.psql("SELECT datname FROM pg_database").split()


async def test_a_stopped_server_refuses_connections_and_comes_back_with_its_data(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    async with connected(postgres_url) as connection:
        await connection.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('here')")
    postgres_server.stop()
    assert not postgres_server.running
    assert not (postgres_server.data / "postmaster.pid").exists()
    with pytest.raises(ConnectionRefusedError):
        await asyncpg.connect(postgres_url, timeout=5)
    postgres_server.start()
    async with connected(postgres_url) as connection:
        assert await connection.fetchval("SELECT value FROM kept") == "here"


async def test_a_killed_server_drops_its_clients_and_recovers_every_committed_row(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    connection = await asyncpg.connect(postgres_url, timeout=10)
    lost = asyncio.Event()
    connection.add_termination_listener(lambda _: lost.set())
    await connection.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('here')")
    postgres_server.kill()
    await asyncio.wait_for(lost.wait(), 5)
    assert connection.is_closed()
    postgres_server.start()
    async with connected(postgres_url) as connection:
        assert await connection.fetchval("SELECT value FROM kept") == "here"


async def test_listen_notify_reaches_another_connection(postgres_url: str) -> None:
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    async with connected(postgres_url) as listener, connected(postgres_url) as sender:
        await listener.add_listener(
            "agents", lambda _c, _pid, channel, payload: received.put_nowait((channel, payload))
        )
        await sender.execute("SELECT pg_notify('agents', 'a1')")
        assert await asyncio.wait_for(received.get(), 5) == ("agents", "a1")
        # Sent inside a transaction, a notification arrives only when the transaction commits.
        async with sender.transaction():
            await sender.execute("SELECT pg_notify('agents', 'a2')")
            await asyncio.sleep(0.1)
            assert received.empty()
        assert await asyncio.wait_for(received.get(), 5) == ("agents", "a2")


async def test_another_process_uses_the_url_as_is(postgres_url: str) -> None:
    script = (
        "import asyncio, os, asyncpg\n"
        "async def main():\n"
        "    connection = await asyncpg.connect(os.environ['DATABASE_URL'], timeout=10)\n"
        "    await connection.execute(\"INSERT INTO seen VALUES (pg_backend_pid(), 'child')\")\n"
        "    await connection.close()\n"
        "asyncio.run(main())\n"
    )
    async with connected(postgres_url) as connection:
        await connection.execute("CREATE TABLE seen (pid int, who text)")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, env={**os.environ, "DATABASE_URL": postgres_url}
        )
        assert await asyncio.wait_for(process.wait(), 30) == 0
        assert await connection.fetchval("SELECT who FROM seen") == "child"


def test_a_database_is_dropped_even_when_the_test_left_the_server_stopped(
    postgres_server: PostgresServer,
) -> None:
    with postgres_server.database() as url:
        name = url.rsplit("/", 1)[1]
        postgres_server.stop()
    assert postgres_server.running
    assert name not in postgres_server.psql("SELECT datname FROM pg_database").split()


def test_a_temporary_server_leaves_no_process_and_no_files(postgres_server: PostgresServer) -> None:
    with PostgresServer.temporary(postgres_server.bindir) as server:
        directory, postmaster = server.directory, server.pid
        # A client still in a query when the server stops.
        client = subprocess.Popen(
            [
                str(server.bindir / "psql"),
                "-X",
                "-q",
                "-d",
                server.url,
                "-c",
                "SELECT pg_sleep(60)",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            backends = _wait_for_backends(server, "SELECT pg_sleep(60)")
        except BaseException:
            client.kill()
            client.wait(10)
            raise
    assert client.wait(10) != 0  # the shutdown disconnected it
    assert postmaster is not None
    for pid in [postmaster, *backends]:
        assert not Path(f"/proc/{pid}").exists(), f"server process {pid} is still there"
    assert not directory.exists()


def _wait_for_backends(server: PostgresServer, query: str) -> list[int]:
    """Every server process's pid, once a backend runs ``query``."""
    for _ in range(500):
        rows = server.psql(
            "SELECT pid, query FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        ).splitlines()
        if any(row.endswith("|" + query) for row in rows):
            return [int(row.split("|", 1)[0]) for row in rows]
        time.sleep(0.01)
    raise AssertionError(f"no backend ran {query!r} within 5 s")


def test_without_postgresql_a_test_skips_saying_how_to_install_but_never_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fixtures, "find_bindir", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y postgresql"):
        fixtures.require_postgres()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failure:
        fixtures.require_postgres()
    assert INSTALL_HINT in str(failure.value)
