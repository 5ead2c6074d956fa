"""PostgresAgentStore in this process, against the suite's throwaway PostgreSQL.

The store contract, the schema and what it refuses, the listener (notifications, versions, any
error as a lost connection, a frozen network), keys at rest and rotation, the URL's user-info.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from throwaway_postgres import PostgresServer

from jamey_agent_orchestration.commands.rotate_key import rotate_key
from jamey_agent_orchestration.database_url import DatabaseUrl
from jamey_agent_orchestration.model import Agent, ApiKey
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.store import RegistryError, open_store
from jamey_agent_orchestration.store.keys import KeyCipher, generate_master_key
from jamey_agent_orchestration.store.postgres import LISTENER_NAME, PostgresAgentStore

from .freezer import FreezingRelay

CANARY = "sk-canary-pg-store-91c4e7a2d05b"
KEY_TEXT = generate_master_key()


def cipher(text: str = KEY_TEXT) -> KeyCipher:
    return KeyCipher.from_text(text, source="JAMEY_SECRET_KEY")


def agent(n: int | str, *caps: str, key: str = CANARY, **fields: Any) -> Agent:
    return Agent(
        id=f"a{n}",
        name=f"Agent {n}",
        url=f"https://agent{n}.example/",
        api_key=ApiKey(key),
        capabilities=caps,
        **fields,
    )


def database(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], seconds: float = 5
) -> None:
    began = time.monotonic()
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.01)


@pytest.fixture
async def open_pg(postgres_url: str) -> AsyncIterator[Callable[..., Awaitable[PostgresAgentStore]]]:
    stores: list[PostgresAgentStore] = []

    async def make(
        url: str = postgres_url, *, key: str = KEY_TEXT, **options: Any
    ) -> PostgresAgentStore:
        options.setdefault("timeout", 2.0)
        store = PostgresAgentStore(DatabaseUrl(url), cipher(key), **options)
        stores.append(store)
        await store.open()
        return store

    yield make
    for store in stores:
        await store.close()


OpenPg = Callable[..., Awaitable[PostgresAgentStore]]


async def test_operations_follow_the_store_contract(open_pg: OpenPg) -> None:
    store = await open_pg()
    assert await store.insert(agent(1, "x"))
    assert not await store.insert(agent(1, "y"))
    assert await store.insert(agent(2))
    assert await store.insert(agent(3, "x"))
    assert await store.get("a1") == agent(1, "x")
    assert await store.get("nope") is None
    assert await store.replace(agent(1, "z", key="rotated"))
    assert [a.id for a in await store.list()] == ["a1", "a2", "a3"]
    assert [(await store.next_for_capability("x")) for _ in range(2)] == [agent(3, "x")] * 2
    assert not await store.replace(agent(4, "x"))
    assert await store.delete("a2")
    assert not await store.delete("a2")
    assert [a.id for a in await store.list()] == ["a1", "a3", "a4"]
    assert await store.insert(agent(2))  # again: at the end of the order
    assert [a.id for a in await store.list()] == ["a1", "a3", "a4", "a2"]
    a2a = agent(
        9,
        "s",
        protocol="a2a",
        endpoint="https://agent9.example/rpc",
        binding="HTTP+JSON",
        key_header="X-Key",
    )
    assert await store.insert(a2a)
    other = await open_pg()  # read back from the database, every field
    assert await other.get("a9") == a2a
    assert await other.list() == await store.list()


async def test_round_robin_turns_are_per_host(open_pg: OpenPg) -> None:
    first, second = await open_pg(), await open_pg()
    for n in range(3):
        await first.insert(agent(n, "x"))
    await until(lambda: len(second._copy) == 3)
    picks = [(await first.next_for_capability("x")).id for _ in range(3)]  # type: ignore[union-attr]
    assert picks == ["a0", "a1", "a2"]
    assert (await second.next_for_capability("x")).id == "a0"  # type: ignore[union-attr]


async def test_changes_reach_another_store_and_a_miss_asks_the_database(open_pg: OpenPg) -> None:
    writer, reader = await open_pg(), await open_pg()
    await writer.insert(agent(1))
    await until(lambda: len(reader._copy) == 1)
    await writer.replace(agent(1, key="new"))
    await until(lambda: reader._copy.entry("a1").agent == agent(1, key="new"))  # type: ignore[union-attr]
    await writer.delete("a1")
    await until(lambda: len(reader._copy) == 0)
    # With the reader's listener stopped, a registration elsewhere is still found by get.
    assert reader._listener is not None
    reader._listener.cancel()
    await writer.insert(agent(2))
    assert await reader.get("a2") == agent(2)
    assert [a.id for a in await reader.list()] == ["a2"]


async def test_several_stores_create_the_schema_at_once(open_pg: OpenPg) -> None:
    stores = await asyncio.gather(*(open_pg() for _ in range(6)))
    assert await stores[0].insert(agent(1))
    await until(lambda: all(len(store._copy) == 1 for store in stores))


async def test_a_foreign_database_is_refused_and_left_untouched(
    open_pg: OpenPg, postgres_server: PostgresServer, postgres_url: str
) -> None:
    name = database(postgres_url)
    postgres_server.psql("CREATE TABLE orders (id int); INSERT INTO orders VALUES (42)", name)
    with pytest.raises(RegistryError, match="is not a jamey agent registry") as caught:
        await open_pg()
    assert "it holds other tables: orders" in str(caught.value)
    assert "left untouched" in str(caught.value)
    tables = postgres_server.psql("SELECT tablename FROM pg_tables WHERE schemaname='public'", name)
    assert tables.split() == ["orders"]  # nothing of ours was created
    assert postgres_server.psql("SELECT id FROM orders", name).strip() == "42"


async def test_a_table_of_ours_by_name_only_is_refused(
    open_pg: OpenPg, postgres_server: PostgresServer, postgres_url: str
) -> None:
    postgres_server.psql(
        "CREATE TABLE jamey_registry_meta (key text, value bytea)", database(postgres_url)
    )
    with pytest.raises(RegistryError, match="is not a jamey agent registry"):
        await open_pg()


async def test_a_newer_schema_is_refused(
    open_pg: OpenPg, postgres_server: PostgresServer, postgres_url: str
) -> None:
    store = await open_pg()
    await store.close()
    postgres_server.psql(
        "UPDATE jamey_registry_meta SET value = '9'::bytea WHERE key = 'schema_version'",
        database(postgres_url),
    )
    with pytest.raises(RegistryError, match="newer jamey"):
        await open_pg()


async def test_a_wrong_master_key_is_refused_at_open(open_pg: OpenPg) -> None:
    await (await open_pg()).insert(agent(1))
    other = generate_master_key()
    with pytest.raises(RegistryError, match="do not decrypt") as caught:
        await open_pg(key=other)
    assert other not in str(caught.value)


async def test_unreachable_at_startup_is_clear_and_never_shows_the_user_info(
    postgres_server: PostgresServer,
) -> None:
    password = "pw-" + CANARY
    url = f"postgresql://jamey_admin:{password}@127.0.0.1:1/registry"
    store = PostgresAgentStore(DatabaseUrl(url), cipher(), timeout=2)
    began = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        await store.open()
    assert time.monotonic() - began < 3
    message = str(caught.value)
    assert message.startswith("Registry unavailable: ")
    assert "127.0.0.1:1" in message
    for secret in (password, "jamey_admin"):
        assert secret not in message
        assert secret not in repr(caught.value)
        assert secret not in repr(store)
    await store.close()


async def test_a_wrong_password_is_refused_without_showing_it(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    # The suite's server trusts every local user, so ask for a database that is not there.
    url = postgres_url.replace("postgres@", f"postgres:{CANARY}@") + "_missing"
    store = PostgresAgentStore(DatabaseUrl(url), cipher(), timeout=2)
    with pytest.raises(RegistryError, match="Registry unavailable: ") as caught:
        await store.open()
    assert CANARY not in str(caught.value)
    assert "does not exist" in str(caught.value)
    await store.close()


def test_the_url_is_never_shown_with_its_user_info() -> None:
    url = DatabaseUrl(f"postgresql://bot:{CANARY}@db.example:5432/reg?sslmode=verify-full")
    assert url.safe == "postgresql://***@db.example:5432/reg?sslmode=verify-full"
    assert CANARY not in repr(url) + str(url) + repr(AgentSettings(registry=url))
    assert url.scrub(f"failed for bot at postgresql://bot:{CANARY}@db.example:5432/reg") == (
        "failed for *** at postgresql://***@db.example:5432/reg?sslmode=verify-full"
    ) or CANARY not in url.scrub(f"x {CANARY} y")
    assert "PostgreSQL" in DatabaseUrl("postgresql://postgres:x@h/d").scrub("PostgreSQL said no")
    settings = AgentSettings.from_mapping({"registry": f"postgres://u:{CANARY}@h/d"})
    assert isinstance(settings.registry, DatabaseUrl)
    for bad in (f"mysql://u:{CANARY}@h/d", f"postgresql://u:{CANARY}@[bad/d"):
        with pytest.raises(ValueError, match="Invalid setting registry") as caught:
            AgentSettings.from_mapping({"registry": bad})
        assert CANARY not in str(caught.value)


def test_without_the_extra_the_startup_failure_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "jamey_agent_orchestration.store.postgres", raising=False)
    monkeypatch.setenv("JAMEY_SECRET_KEY", KEY_TEXT)
    settings = AgentSettings(registry=DatabaseUrl(f"postgresql://u:{CANARY}@h/d"))
    with pytest.raises(RegistryError, match=r"jamey-agent-orchestration\[postgres\]") as caught:
        open_store(settings, tmp_path)
    assert CANARY not in str(caught.value)


def test_a_shared_registry_never_creates_a_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, postgres_url: str
) -> None:
    monkeypatch.delenv("JAMEY_SECRET_KEY", raising=False)
    settings = AgentSettings(registry=DatabaseUrl(postgres_url))
    with pytest.raises(RegistryError, match="never creates a key file") as caught:
        open_store(settings, tmp_path)
    assert "JAMEY_SECRET_KEY" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


async def test_any_error_on_the_listen_connection_is_a_lost_connection(
    open_pg: OpenPg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jamey_agent_orchestration.store.postgres.HEALTH_INTERVAL", 0.05)
    store, writer = await open_pg(), await open_pg()
    await until(lambda: store.reloads == 1)
    # The error asyncpg raises when a connection dies mid-operation, and that neither its
    # termination listeners nor "except PostgresError/InterfaceError" notice.
    real = asyncpg.Connection.fetchval
    failed: list[bool] = []

    async def fail_once(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        if query == "SELECT 1" and self is store._listen_conn and not failed:
            failed.append(True)
            raise asyncpg.InternalClientError("cannot switch to state 11")
        return await real(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchval", fail_once)
    await writer.insert(agent(1))
    await until(lambda: store.reloads >= 2 and store.listening)
    await until(lambda: len(store._copy) == 1)


async def test_a_terminated_listener_reconnects_and_reloads_what_it_missed(
    open_pg: OpenPg, postgres_server: PostgresServer, postgres_url: str
) -> None:
    store, writer = await open_pg(), await open_pg()
    assert store.reloads == 1
    store._listener.cancel()  # type: ignore[union-attr]  # deaf: notifications are lost
    await writer.insert(agent(1))
    store._listen_conn = None
    store._listener = asyncio.create_task(store._listen())  # as after a loss
    await until(lambda: store.reloads == 2 and len(store._copy) == 1)
    # A backend killed by the server: noticed at once (termination), reloaded.
    postgres_server.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database(postgres_url)}' AND application_name = '{LISTENER_NAME}'",
    )
    await writer.insert(agent(2))
    await until(lambda: store.reloads >= 3 and len(store._copy) == 2)


async def test_an_old_notification_never_overwrites_a_newer_row(open_pg: OpenPg) -> None:
    store = await open_pg()
    await store.insert(agent(1, key="old"))
    old_version = store._copy.version_of("a1")
    await store.replace(agent(1, key="new"))
    store._notified(None, 0, "jamey_registry", f'{{"id": "a1", "version": {old_version}}}')
    store._wake.set()
    await asyncio.sleep(0.1)
    assert await store.get("a1") == agent(1, key="new")
    await store.delete("a1")
    store._notified(None, 0, "jamey_registry", f'{{"id": "a1", "version": {old_version}}}')
    await asyncio.sleep(0.1)
    assert await store.get("a1") is None


async def test_a_frozen_network_fails_writes_within_the_timeout_and_recovers(
    open_pg: OpenPg,
    postgres_server: PostgresServer,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("jamey_agent_orchestration.store.postgres.HEALTH_INTERVAL", 0.2)
    relay = await FreezingRelay.start(postgres_server.port)
    try:
        store = await open_pg(relay.url_for(postgres_url), timeout=1.0)
        await store.insert(agent(1))
        relay.freeze()
        began = time.monotonic()
        with pytest.raises(RegistryError, match="Registry unavailable: no answer") as caught:
            await store.insert(agent(2))
        assert time.monotonic() - began < 1.5
        assert "postgres@" not in str(caught.value)
        assert await store.get("a1") == agent(1)  # served from the copy
        await until(lambda: not store.listening, 3)  # the health check caught it
        relay.thaw()
        await until(lambda: store.listening, 10)
        count = postgres_server.psql(
            "SELECT count(*) FROM jamey_agents WHERE id = 'a2'", database(postgres_url)
        )
        count = count.strip()
        assert count in ("0", "1")  # sent before the freeze took hold, or not at all
        if count == "0":
            assert await store.insert(agent(2))
    finally:
        await relay.close()


async def test_a_tampered_record_is_a_registry_error_never_a_send(
    open_pg: OpenPg, postgres_server: PostgresServer, postgres_url: str
) -> None:
    problems: list[tuple[str, str]] = []
    store = await open_pg(on_problem=lambda i, m: problems.append((i, m)))
    await store.insert(agent(1, "x"))
    await store.insert(agent(2, "x"))
    # Without the master key: the URL changed (the trigger gives the row a new version).
    postgres_server.psql(
        "UPDATE jamey_agents SET url = 'https://attacker.example/' WHERE id = 'a1'",
        database(postgres_url),
    )
    await until(lambda: bool(problems))
    with pytest.raises(RegistryError, match="agent a1 does not match its record"):
        await store.get("a1")
    assert [a.id for a in await store.list()] == ["a2"]
    assert (await store.next_for_capability("x")).id == "a2"  # type: ignore[union-attr]
    assert problems[0][0] == "a1"
    assert CANARY not in problems[0][1]
    fresh = await open_pg()
    with pytest.raises(RegistryError, match="does not match its record"):
        await fresh.get("a1")


async def test_rotation_in_one_transaction_and_running_hosts_refused(
    open_pg: OpenPg,
    postgres_server: PostgresServer,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    running = await open_pg()
    for n in range(5):
        await running.insert(agent(n, key=f"{CANARY}-{n}"))
    new_text = generate_master_key()
    env = {"JAMEY_SECRET_KEY": KEY_TEXT, "NEW_KEY": new_text, "JAMEY_HOME": str(tmp_path)}
    import io

    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(
        rotate_key, DatabaseUrl(postgres_url), "NEW_KEY", environ=env, out=out, err=err
    )
    assert code == 0, err.getvalue()
    assert "Re-encrypted 5 agent key(s)" in out.getvalue()
    assert "postgres@" not in out.getvalue()
    # The host still on the old key is refused, reads and writes, not served wrong keys.
    await until(lambda: running._refusal is not None)
    with pytest.raises(RegistryError, match="was rotated"):
        await running.get("a1")
    with pytest.raises(RegistryError, match="was rotated"):
        await running.insert(agent(9))
    rotated = await open_pg(key=new_text)
    assert [a.api_key for a in await rotated.list()] == [ApiKey(f"{CANARY}-{n}") for n in range(5)]
    with pytest.raises(RegistryError, match="do not decrypt"):
        await open_pg()

    # A rotation that cannot finish (a tampered row) changes nothing at all.
    postgres_server.psql(
        "UPDATE jamey_agents SET url = 'https://attacker.example/' WHERE id = 'a3'",
        database(postgres_url),
    )
    before = postgres_server.psql(
        "SELECT string_agg(encode(api_key, 'hex'), ',' ORDER BY id) FROM jamey_agents",
        database(postgres_url),
    )
    env = {"JAMEY_SECRET_KEY": new_text, "NEW_KEY": generate_master_key()}
    code = await asyncio.to_thread(
        rotate_key, DatabaseUrl(postgres_url), "NEW_KEY", environ=env, out=out, err=err
    )
    assert code == 1
    assert "agent a3 does not match" in err.getvalue()
    after = postgres_server.psql(
        "SELECT string_agg(encode(api_key, 'hex'), ',' ORDER BY id) FROM jamey_agents",
        database(postgres_url),
    )
    assert after == before
    assert (await open_pg(key=new_text)).reloads == 1  # still opens with the current key
