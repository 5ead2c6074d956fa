"""Many hosts, one registry on PostgreSQL: separate host processes against the suite's server.

Each host is a real runtime in its own process (``host_process.py``), talking to a fresh
database of the session's throwaway PostgreSQL and to real HTTPS agents on 127.0.0.1 served by
this test process.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from throwaway_postgres import PostgresServer

from jamey_agent_orchestration.store.keys import generate_master_key
from jamey_agent_orchestration.testing import AgentServerFactory
from jamey_agent_orchestration.testing.server import TaskRequest

from .conftest import StartHost, dump_database
from .hosts import HostProcess, register_params

CANARY = "sk-canary-pg-5e0c2a91f7b3-never-leaks"
SEEN_WITHIN = 1.0  # contract section 8: replace and unregister reach every host within 1 s


def _echo(request: TaskRequest) -> dict[str, Any]:
    return {"task": request.task, "params": dict(request.params)}


async def _within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Poll ``check`` until it holds; how long it took (fails after ``seconds``)."""
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - began


def _psql_count(server: PostgresServer, url: str, where: str = "") -> int:
    database = url.rsplit("/", 1)[1]
    return int(server.psql(f"SELECT count(*) FROM jamey_agents {where}", database=database))


async def test_hosts_registering_at_once_lose_nothing(
    start_host: StartHost, postgres_server: PostgresServer, postgres_url: str
) -> None:
    # Three hosts start together on an empty database: the schema is created once.
    hosts = await asyncio.gather(*(start_host() for _ in range(3)))
    assert [host.plugin["status"] for host in hosts] == ["active"] * 3, hosts[0].plugin
    per_host = 25
    batches = [
        [
            register_params(f"h{n}-{i}", f"https://agent{i}.example/", f"key-{n}-{i}")
            for i in range(per_host)
        ]
        for n in range(len(hosts))
    ]
    answers = await asyncio.gather(*(h.many(b) for h, b in zip(hosts, batches, strict=True)))
    assert all(a["success"] for batch in answers for a in batch), answers
    everyone = sorted(f"h{n}-{i}" for n in range(len(hosts)) for i in range(per_host))
    for host in hosts:
        await _within(SEEN_WITHIN, lambda host=host: _sorted_ids_are(host, everyone))
    assert await asyncio.to_thread(_psql_count, postgres_server, postgres_url) == len(everyone)
    database = postgres_url.rsplit("/", 1)[1]
    versions = postgres_server.psql(
        "SELECT value FROM jamey_registry_meta WHERE key = 'schema_version'", database=database
    )
    assert versions.splitlines() == ["\\x31"]  # one version row: b"1"


async def _sorted_ids_are(host: HostProcess, expected: list[str]) -> bool:
    return sorted(await host.listed_ids()) == expected


async def test_hosts_racing_on_the_same_ids_insert_each_once(
    start_host: StartHost, postgres_server: PostgresServer, postgres_url: str
) -> None:
    hosts = await asyncio.gather(*(start_host() for _ in range(3)))
    ids = [f"same-{i}" for i in range(30)]
    batch = [register_params(i, f"https://{i}.example/", "k") for i in ids]
    answers = await asyncio.gather(*(host.many(batch) for host in hosts))
    won: dict[str, int] = {}
    for host_answers in answers:
        for agent_id, answer in zip(ids, host_answers, strict=True):
            if answer["success"]:
                won[agent_id] = won.get(agent_id, 0) + 1
            else:
                assert answer["errors"] == [f"Agent already registered: {agent_id}"], answer
    assert won == dict.fromkeys(ids, 1)
    assert await asyncio.to_thread(_psql_count, postgres_server, postgres_url) == len(ids)


async def test_a_change_on_one_host_is_used_by_another_and_no_key_leaks(
    start_host: StartHost,
    jamey_agent_server: AgentServerFactory,
    postgres_server: PostgresServer,
    postgres_url: str,
) -> None:
    first = await jamey_agent_server(handlers={"echo": _echo}, name="first", api_key=CANARY)
    second = await jamey_agent_server(
        handlers={"echo": _echo}, name="second", api_key=CANARY + "-2"
    )
    a, b = await asyncio.gather(start_host(), start_host())
    registered = await a.call("register_agent", **_register_fields("echo-1", first.url, CANARY))
    assert registered["success"], registered
    # B's very next call finds it (a miss of its copy asks the database).
    sent = await b.call("send_task", agent_id="echo-1", task="echo", param_n="1")
    assert sent["success"], sent
    assert json.loads(sent["output"]) == {"task": "echo", "params": {"n": "1"}}
    assert [r.headers["Authorization"] for r in first.requests] == [f"Bearer {CANARY}"]

    # replace on A (another URL and key) reaches B within a second.
    replaced = await a.call(
        "register_agent", **_register_fields("echo-1", second.url, CANARY + "-2"), replace="true"
    )
    assert replaced["success"], replaced

    async def b_lists_the_new_url() -> bool:
        listed = json.loads((await b.call("list_agents"))["output"])
        return [entry["url"] for entry in listed] == [second.url]

    await _within(SEEN_WITHIN, b_lists_the_new_url)
    sent = await b.call("send_task", agent_id="echo-1", task="echo")
    assert sent["success"], sent
    assert len(first.requests) == 1
    assert [r.headers["Authorization"] for r in second.requests] == [f"Bearer {CANARY}-2"]

    # unregister on A reaches B within a second.
    assert (await a.call("unregister_agent", agent_id="echo-1"))["success"]

    await _within(SEEN_WITHIN, lambda: _ids_are(b, []))
    gone = await b.call("send_task", agent_id="echo-1", task="echo")
    assert gone["errors"] == ["Agent not found: echo-1"]
    assert len(second.requests) == 1

    # Registered again: at the end of the order, on both.
    assert (await b.call("register_agent", **_register_fields("echo-0", first.url, CANARY)))[
        "success"
    ]
    assert (await a.call("register_agent", **_register_fields("echo-1", first.url, CANARY)))[
        "success"
    ]
    for host in (a, b):
        await _within(SEEN_WITHIN, lambda host=host: _ids_are(host, ["echo-0", "echo-1"]))

    # The canary: in no table (nor anywhere in the database), in no log line of either host.
    dump = await asyncio.to_thread(dump_database, postgres_server, postgres_url)
    assert "jamey_agents" in dump
    assert CANARY not in dump
    await a.stop()
    await b.stop()
    for host in (a, b):
        text = host.log.read_text(encoding="utf-8")
        assert "agent_orchestration" in text  # the log is there, at DEBUG
        assert CANARY not in text, host.log


async def _ids_are(host: HostProcess, expected: list[str]) -> bool:
    return await host.listed_ids() == expected


def _register_fields(agent_id: str, url: str, api_key: str) -> dict[str, str]:
    fields = register_params(agent_id, url, api_key)
    del fields["action"]
    return fields


async def test_every_host_restarted_finds_the_registry(
    start_host: StartHost, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers={"echo": _echo}, name="kept")
    hosts = await asyncio.gather(start_host(), start_host())
    fields = _register_fields("kept", agent.url, agent.api_key)
    assert (await hosts[0].call("register_agent", **fields, capabilities="echo"))["success"]
    for host in hosts:
        await host.stop()
    hosts = await asyncio.gather(start_host(), start_host())
    for host in hosts:
        assert await host.listed_ids() == ["kept"]
        sent = await host.call("send_task", capability="echo", task="echo")
        assert sent["success"], sent
    assert len(agent.requests) == 2


async def test_a_host_with_another_master_key_is_refused_and_changes_nothing(
    start_host: StartHost, postgres_server: PostgresServer, postgres_url: str
) -> None:
    good = await start_host()
    assert (
        await good.call("register_agent", **_register_fields("a1", "https://a.example/", CANARY))
    )["success"]
    before = await asyncio.to_thread(dump_database, postgres_server, postgres_url)
    other_key = generate_master_key()
    wrong = await start_host(master_key=other_key)
    assert wrong.plugin["status"] == "failed"  # its startup failed
    assert other_key not in str(wrong.plugin["error"])
    answer = await wrong.call("list_agents")
    assert not answer["success"]
    (error,) = answer["errors"]
    assert error.startswith("Connector unavailable: agent_orchestration: The agent registry's keys")
    assert "JAMEY_SECRET_KEY" in error
    assert other_key not in error
    assert "nothing stored was changed" in error
    assert await asyncio.to_thread(dump_database, postgres_server, postgres_url) == before
    assert await good.listed_ids() == ["a1"]  # the good host goes on as before


async def test_the_database_stopped_and_started_under_a_running_host(
    start_host: StartHost,
    jamey_agent_server: AgentServerFactory,
    postgres_server: PostgresServer,
) -> None:
    agent = await jamey_agent_server(handlers={"echo": _echo}, name="known")
    host = await start_host(timeout="1")
    fields = _register_fields("known", agent.url, agent.api_key)
    assert (await host.call("register_agent", **fields, capabilities="echo"))["success"]
    await asyncio.to_thread(postgres_server.stop)
    try:
        # Sends, broadcasts and list_agents of known agents keep working from the copy.
        for params in (
            {"agent_id": "known"},
            {"capability": "echo"},
        ):
            sent = await host.call("send_task", task="echo", **params)
            assert sent["success"], sent
        broadcast = await host.call("broadcast", task="echo")
        assert broadcast["metadata"]["succeeded"] == "1", broadcast
        assert await host.listed_ids() == ["known"]
        # Writes fail within the timeout, saying why.
        began = time.monotonic()
        failed = await host.call(
            "register_agent", **_register_fields("new", agent.url, agent.api_key)
        )
        assert time.monotonic() - began < 1 + 1.5  # timeout 1 s, plus the pipes
        assert not failed["success"]
        assert failed["errors"][0].startswith("Registry unavailable: "), failed
        assert "postgres@" not in failed["errors"][0]
        failed = await host.call("unregister_agent", agent_id="known")
        assert failed["errors"][0].startswith("Registry unavailable: "), failed
        assert not await host.listening()
    finally:
        postgres_server.start()  # from the main thread: the server lives as long as its thread

    # Back by itself, within seconds: the listener is connected again, and writes work.
    await _within(10, host.listening)

    async def registers() -> bool:
        answer = await host.call(
            "register_agent", **_register_fields("new", agent.url, agent.api_key)
        )
        return bool(answer["success"])

    await _within(10, registers)
    assert await host.listed_ids() == ["known", "new"]
    assert len(agent.requests) == 3
