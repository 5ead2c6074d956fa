"""asyncpg and psycopg 3 (async) side by side, against a throwaway PostgreSQL on 127.0.0.1.

Not part of ``python -m benchmarks``: run it by hand from the repository root, with both drivers,
to revisit the driver decision in ``docs/registry-postgres-notes.md``::

    pip install asyncpg 'psycopg[binary]'
    python -m benchmarks.pg_drivers [--quick]

Speed (each figure: ``reps`` pairs, alternating which driver goes first; ratio = psycopg time over
asyncpg time, pair by pair, so above 1 means asyncpg is faster):

* insert: sequential parameterised INSERTs of one row (text key, bytea value), autocommit.
* select: sequential primary-key SELECTs of one such row.
* notify: ``pg_notify`` on one connection until a LISTEN on another receives it, one at a time:
  median and worst latency.
* pool: asyncpg's pool, acquire + ``SELECT 1`` + release, with its default reset on release
  against a reset that does nothing (ratio = default time over no-op time).

Faults: one LISTEN connection per driver, then the server goes away in four ways: the backend is
terminated (``pg_terminate_backend``), the server stops cleanly, the server is killed (SIGKILL to
every server process: the socket closes with no message), or the network freezes (a proxy on
127.0.0.1 stops forwarding: no byte, no close). For each: how soon the listener notices, what it
sees, what the next query on that connection raises, and what a query in flight raises. Then the
race: a backend terminated half a millisecond before the client's next query, many times.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psycopg

from tests.throwaway_postgres import PostgresServer

from ._common import paired, ratios

NOTICE_WAIT = 3.0  # how long a listener gets to notice a fault
QUERY_TIMEOUT = 2.0
CHANNEL = "jamey_bench"


# ----------------------------------------------------------------------------- speed


async def _speed(server: PostgresServer, quick: bool) -> None:
    reps = 3 if quick else 9
    rows = 300 if quick else 2_000
    url = server.url
    a = await asyncpg.connect(url)
    p = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await a.execute("CREATE TABLE bench (id text PRIMARY KEY, value bytea NOT NULL)")
        value = b"x" * 200
        turn = 0

        async def insert_asyncpg() -> float:
            nonlocal turn
            turn += 1
            start = time.perf_counter()
            for i in range(rows):
                await a.execute("INSERT INTO bench VALUES ($1, $2)", f"a{turn}-{i}", value)
            return time.perf_counter() - start

        async def insert_psycopg() -> float:
            nonlocal turn
            turn += 1
            start = time.perf_counter()
            for i in range(rows):
                await p.execute("INSERT INTO bench VALUES (%s, %s)", (f"p{turn}-{i}", value))
            return time.perf_counter() - start

        _report("insert", rows, await paired({"a": insert_asyncpg, "p": insert_psycopg}, reps))

        async def select_asyncpg() -> float:
            start = time.perf_counter()
            for i in range(rows):
                await a.fetchrow("SELECT id, value FROM bench WHERE id = $1", f"a1-{i}")
            return time.perf_counter() - start

        async def select_psycopg() -> float:
            start = time.perf_counter()
            for i in range(rows):
                cursor = await p.execute("SELECT id, value FROM bench WHERE id = %s", (f"a1-{i}",))
                await cursor.fetchone()
            return time.perf_counter() - start

        _report("select", rows, await paired({"a": select_asyncpg, "p": select_psycopg}, reps))
    finally:
        await a.close()
        await p.close()
    await _notify_latency(url, 100 if quick else 1_000)
    await _pool_reset(url, reps, rows)


def _report(name: str, count: int, samples: dict[str, list[float]]) -> None:
    a, p = statistics.median(samples["a"]), statistics.median(samples["p"])
    ratio = ratios(samples["p"], samples["a"])
    print(
        f"{name:8} asyncpg {a / count * 1e3:.3f} ms/op  psycopg {p / count * 1e3:.3f} ms/op  "
        f"psycopg/asyncpg median {statistics.median(ratio):.2f} "
        f"(min {min(ratio):.2f}, max {max(ratio):.2f})"
    )


async def _notify_latency(url: str, count: int) -> None:
    sender = await asyncpg.connect(url)
    try:
        for name, listen in (("asyncpg", _asyncpg_receiver), ("psycopg", _psycopg_receiver)):
            received: asyncio.Queue[float] = asyncio.Queue()
            async with listen(url, received):
                latencies = []
                for i in range(count):
                    start = time.perf_counter()
                    await sender.execute("SELECT pg_notify($1, $2)", CHANNEL, str(i))
                    latencies.append(await asyncio.wait_for(received.get(), 5) - start)
            latencies.sort()
            print(
                f"notify   {name} median {statistics.median(latencies) * 1e3:.3f} ms, "
                f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1e3:.3f} ms, "
                f"worst {latencies[-1] * 1e3:.3f} ms over {count}"
            )
    finally:
        await sender.close()


@contextlib.asynccontextmanager
async def _asyncpg_receiver(url: str, received: asyncio.Queue[float]) -> Any:
    connection = await asyncpg.connect(url)
    await connection.add_listener(CHANNEL, lambda *_: received.put_nowait(time.perf_counter()))
    try:
        yield
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _psycopg_receiver(url: str, received: asyncio.Queue[float]) -> Any:
    connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await connection.execute(f"LISTEN {CHANNEL}")

    async def pump() -> None:
        async for _ in connection.notifies():
            received.put_nowait(time.perf_counter())

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connection.close()


async def _pool_reset(url: str, reps: int, count: int) -> None:
    async def no_reset(connection: asyncpg.Connection) -> None:
        pass

    default = await asyncpg.create_pool(url, min_size=1, max_size=1)
    lean = await asyncpg.create_pool(url, min_size=1, max_size=1, reset=no_reset)
    try:

        def side(pool: asyncpg.Pool) -> Callable[[], Awaitable[float]]:
            async def run() -> float:
                start = time.perf_counter()
                for _ in range(count):
                    async with pool.acquire() as connection:
                        await connection.fetchval("SELECT 1")
                return time.perf_counter() - start

            return run

        samples = await paired({"default": side(default), "lean": side(lean)}, reps)
        d, n = statistics.median(samples["default"]), statistics.median(samples["lean"])
        ratio = ratios(samples["default"], samples["lean"])
        print(
            f"pool     asyncpg acquire+SELECT 1+release: default reset {d / count * 1e3:.3f} ms, "
            f"no-op reset {n / count * 1e3:.3f} ms, default/no-op median "
            f"{statistics.median(ratio):.2f} (min {min(ratio):.2f}, max {max(ratio):.2f})"
        )
    finally:
        await default.close()
        await lean.close()


# ----------------------------------------------------------------------------- faults


class FreezingProxy:
    """A TCP proxy on 127.0.0.1 whose connections can be frozen: no byte passes, none closes."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FreezingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def freeze(self) -> None:
        self._thawed.clear()

    async def __aexit__(self, *_: object) -> None:
        self._thawed.set()
        for writer in self._writers:
            writer.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=QUERY_TIMEOUT)
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._thawed.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


class Driver:
    """One driver's idle LISTEN connection and busy query, and what each learns of a fault."""

    name: str

    async def listen(self, url: str) -> None:
        """Open a LISTEN connection; ``noticed`` resolves when the driver learns it was lost."""
        raise NotImplementedError

    noticed: asyncio.Future[tuple[float, str]]

    async def next_query(self) -> str:
        """Run SELECT 1 on the listen connection; describe what it raised."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def busy(self, url: str, fault: Callable[[], None]) -> str:
        """Cause ``fault`` during a query; describe what the query raised."""
        raise NotImplementedError


class Asyncpg(Driver):
    name = "asyncpg"

    async def listen(self, url: str) -> None:
        self.noticed = asyncio.get_running_loop().create_future()
        self.connection = await asyncpg.connect(url)
        await self.connection.add_listener(CHANNEL, lambda *_: None)

        def terminated(connection: object) -> None:
            if not self.noticed.done():
                self.noticed.set_result((time.perf_counter(), "termination listener called"))

        self.connection.add_termination_listener(terminated)

    async def next_query(self) -> str:
        try:
            await self.connection.fetchval("SELECT 1", timeout=QUERY_TIMEOUT)
        except BaseException as error:
            return _describe(error) + f", then is_closed() {self.connection.is_closed()}"
        return "no error"

    async def close(self) -> None:
        self.connection.terminate()

    async def busy(self, url: str, fault: Callable[[], None]) -> str:
        connection = await asyncpg.connect(url)
        try:
            query = asyncio.create_task(connection.execute("SELECT pg_sleep(10)"))
            await asyncio.sleep(0.2)
            fault()
            await asyncio.wait_for(query, QUERY_TIMEOUT)
        except BaseException as error:
            return _describe(error)
        finally:
            connection.terminate()
        return "no error"


class Psycopg(Driver):
    name = "psycopg"

    async def listen(self, url: str) -> None:
        self.noticed = asyncio.get_running_loop().create_future()
        self.connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await self.connection.execute(f"LISTEN {CHANNEL}")
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for _ in self.connection.notifies():
                pass
        except Exception as error:
            self.noticed.set_result((time.perf_counter(), "notifies() raised " + _describe(error)))
        else:
            self.noticed.set_result((time.perf_counter(), "notifies() ended without error"))

    async def next_query(self) -> str:
        if not self._task.done():
            # notifies() holds the connection's lock: a query would wait for it to stop.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await asyncio.wait_for(self.connection.execute("SELECT 1"), QUERY_TIMEOUT)
        except BaseException as error:
            return _describe(error) + f", then closed {self.connection.closed}"
        return "no error"

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.connection.close(), QUERY_TIMEOUT)

    async def busy(self, url: str, fault: Callable[[], None]) -> str:
        connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            query = asyncio.create_task(connection.execute("SELECT pg_sleep(10)"))
            await asyncio.sleep(0.2)
            fault()
            await asyncio.wait_for(query, QUERY_TIMEOUT)
        except BaseException as error:
            return _describe(error)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), QUERY_TIMEOUT)
        return "no error"


def _describe(error: BaseException) -> str:
    kind = type(error)
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{kind.__module__}.{kind.__qualname__}({text!r})"


async def _faults(server: PostgresServer) -> None:
    def terminate() -> None:
        server.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )

    faults: dict[str, Callable[[], None]] = {
        "terminate": terminate,
        "stop": server.stop,
        "kill": server.kill,
    }
    for fault_name, fault in [*faults.items(), ("freeze", lambda: None)]:
        for driver in (Asyncpg(), Psycopg()):
            async with FreezingProxy(server.port) as proxy:
                # Only the freeze needs the proxy; the others act on the server's own socket.
                port = proxy.port if fault_name == "freeze" else server.port
                await driver.listen(f"postgresql://postgres@127.0.0.1:{port}/postgres")
                await asyncio.sleep(0.1)
                start = time.perf_counter()
                if fault_name == "freeze":
                    proxy.freeze()
                else:
                    fault()
                try:
                    when, how = await asyncio.wait_for(asyncio.shield(driver.noticed), NOTICE_WAIT)
                    noticed = f"after {(when - start) * 1e3:.0f} ms: {how}"
                except TimeoutError:
                    noticed = f"not within {NOTICE_WAIT:.0f} s"
                start = time.perf_counter()
                next_query = await driver.next_query()
                took = time.perf_counter() - start
                await driver.close()
            server.start()
            print(f"{fault_name:9} {driver.name:8} LISTEN connection noticed {noticed}")
            print(f"{'':18} next query ({took:.1f} s): {next_query}")
            if fault_name != "freeze":
                print(f"{'':18} query in flight: {await driver.busy(server.url, fault)}")
                server.start()


async def _terminate_race(server: PostgresServer, count: int) -> None:
    """A backend terminated just before the client's next query, ``count`` times per driver."""
    admin = await asyncpg.connect(server.url)
    try:
        tally: collections.Counter[str] = collections.Counter()
        for _ in range(count):
            connection = await asyncpg.connect(server.url)
            fired: list[object] = []
            connection.add_termination_listener(fired.append)
            await connection.fetchval("SELECT 1")
            await admin.fetchval("SELECT pg_terminate_backend($1)", connection.get_server_pid())
            await asyncio.sleep(0.0005)  # the server's goodbye arrives, the close not yet
            try:
                await connection.fetchval("SELECT 2")
                outcome = "no error"
            except Exception as error:
                outcome = type(error).__name__
            await asyncio.sleep(0.1)
            listener = "called" if fired else "NOT called"
            tally[f"{outcome}, termination listener {listener}"] += 1
            connection.terminate()
        print(f"race      asyncpg  over {count}: {dict(tally)}")
        tally.clear()
        for _ in range(count):
            other = await psycopg.AsyncConnection.connect(server.url)
            await other.execute("SELECT 1")
            await admin.fetchval("SELECT pg_terminate_backend($1)", other.info.backend_pid)
            await asyncio.sleep(0.0005)
            try:
                await other.execute("SELECT 2")
                tally["no error"] += 1
            except Exception as error:
                tally[type(error).__name__] += 1
            await other.close()
        print(f"race      psycopg  over {count}: {dict(tally)}")
    finally:
        await admin.close()


async def _main(quick: bool, only: str | None) -> None:
    with PostgresServer.temporary() as server:
        print(f"asyncpg {asyncpg.__version__}, psycopg {psycopg.__version__}, {server.url}")
        if only in (None, "speed"):
            await _speed(server, quick)
        if only in (None, "faults"):
            await _faults(server)
            await _terminate_race(server, 50 if quick else 200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pg_drivers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows and pairs")
    parser.add_argument("--only", choices=("speed", "faults"))
    args = parser.parse_args(argv)
    asyncio.run(_main(args.quick, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
