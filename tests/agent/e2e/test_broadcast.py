"""``broadcast`` and the registry under concurrency, through the runtime, against real HTTPS."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from jamey_agent_orchestration.testing.server import TaskRequest

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory
    from jamey_agent_orchestration.testing.agents import RecordingAgent

    from ..connector import Connector, MakeConnector, Waiter


def handlers_for(name: str) -> dict[str, Any]:
    def echo(request: TaskRequest) -> dict[str, Any]:
        return {"agent": name, "params": dict(request.params)}

    return {"echo": echo}


async def start(factory: AgentServerFactory, name: str, **kwargs: Any) -> RecordingAgent:
    return await factory(handlers=handlers_for(name), name=name, **kwargs)


async def timed_broadcast(connector: Connector, **params: str) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await connector.call("broadcast", task="echo", **params)
    return result, time.perf_counter() - started


async def test_broadcast_maps_each_agent_to_its_response_or_error(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    a = await start(jamey_agent_server, "a")
    b = await start(jamey_agent_server, "b")
    c = await start(jamey_agent_server, "c")
    assert (await connector.register("a", a)).success
    assert (await connector.register("b", b, api_key="wrong-key")).success
    assert (await connector.register("c", c)).success

    result = await connector.call("broadcast", task="echo", param_q="1")
    assert result.success, result.errors
    assert result.json() == {
        "a": {"agent": "a", "params": {"q": "1"}},
        "b": {"error": "Agent returned error status: 401: Unauthorized"},
        "c": {"agent": "c", "params": {"q": "1"}},
    }
    assert result.metadata["succeeded"] == "2"
    assert result.metadata["failed"] == "1"
    assert sorted(result.agents_contacted) == ["a", "b", "c"]
    for agent in (a, b, c):
        [request] = agent.requests
        assert request.body == {"task": "echo", "params": {"q": "1"}}
        assert request.idempotency_key
    assert len({agent.requests[0].idempotency_key for agent in (a, b, c)}) == 3


async def test_broadcast_all_failing_still_succeeds_as_a_broadcast(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    a = await start(jamey_agent_server, "a")
    a.respond_with(200, b"not json", content_type="text/plain")
    assert (await connector.register("a", a)).success
    result = await connector.call("broadcast", task="echo")
    assert result.success
    assert result.metadata["succeeded"] == "0"
    assert result.metadata["failed"] == "1"
    assert result.json()["a"]["error"].startswith("Failed to send task to agent")
    assert result.agents_contacted == ["a"]


async def test_broadcast_with_no_agents(connector: Connector) -> None:
    result = await connector.call("broadcast", task="echo")
    assert result.success
    assert result.json() == {}
    assert result.metadata["succeeded"] == "0"
    assert result.metadata["failed"] == "0"
    assert result.agents_contacted == []


async def test_broadcast_filters_by_capability(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    a = await start(jamey_agent_server, "a")
    b = await start(jamey_agent_server, "b")
    c = await start(jamey_agent_server, "c")
    assert (await connector.register("a", a, capabilities="gpu,text")).success
    assert (await connector.register("b", b, capabilities="text")).success
    assert (await connector.register("c", c, capabilities="gpu")).success

    result = await connector.call("broadcast", task="echo", capability="gpu")
    assert result.success, result.errors
    assert set(result.json()) == {"a", "c"}
    assert sorted(result.agents_contacted) == ["a", "c"]
    assert b.requests == []
    assert result.metadata["succeeded"] == "2"


async def test_slow_agents_are_contacted_at_once(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    for name in ("a", "b", "c"):
        agent = await start(jamey_agent_server, name, delay=0.5)
        assert (await connector.register(name, agent)).success
    result, elapsed = await timed_broadcast(connector)
    assert result.metadata["succeeded"] == "3", result.output
    assert elapsed < 1.2, elapsed


async def test_one_hung_agent_does_not_hold_the_broadcast(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(timeout="0.5", retries="1")
    for index in range(5):
        name = f"agent{index}"
        agent = await start(jamey_agent_server, name, delay=30.0 if index == 2 else 0.0)
        assert (await connector.register(name, agent)).success

    result, elapsed = await timed_broadcast(connector)
    assert elapsed < 0.5 + 1.0, elapsed
    assert result.success
    output = result.json()
    assert output["agent2"]["error"].startswith("Failed to send task to agent")
    for index in (0, 1, 3, 4):
        assert output[f"agent{index}"] == {"agent": f"agent{index}", "params": {}}
    assert result.metadata["succeeded"] == "4"
    assert result.metadata["failed"] == "1"


async def test_max_concurrency_one_makes_the_broadcast_sequential(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(max_concurrency="1")
    agents = []
    for name in ("a", "b", "c"):
        agent = await start(jamey_agent_server, name, delay=0.3)
        agents.append(agent)
        assert (await connector.register(name, agent)).success
    result, elapsed = await timed_broadcast(connector)
    assert result.metadata["succeeded"] == "3"
    assert elapsed >= 0.9, elapsed


async def test_max_concurrency_two_overlaps_two_at_a_time(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(max_concurrency="2")
    for name in ("a", "b", "c", "d"):
        agent = await start(jamey_agent_server, name, delay=0.3)
        assert (await connector.register(name, agent)).success
    result, elapsed = await timed_broadcast(connector)
    assert result.metadata["succeeded"] == "4"
    assert 0.6 <= elapsed < 1.1, elapsed


async def test_broadcast_keeps_exactly_max_concurrency_in_flight_and_answers_in_order(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(max_concurrency="3")
    in_flight = peak = 0

    async def counted(request: TaskRequest) -> dict[str, Any]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return {"ok": True}

    names = [f"agent{index:02d}" for index in range(10)]
    for name in reversed(names):  # registration order, not name order, is the answer's order
        agent = await jamey_agent_server(handlers={"echo": counted}, name=name)
        assert (await connector.register(name, agent)).success
    result = await connector.call("broadcast", task="echo")
    assert result.metadata["succeeded"] == "10"
    assert peak == 3
    assert list(result.json()) == list(reversed(names))
    assert result.agents_contacted == list(reversed(names))


async def test_register_during_a_long_broadcast_returns_at_once(
    connector: Connector, jamey_agent_server: AgentServerFactory, wait_for: Waiter
) -> None:
    slow = await start(jamey_agent_server, "slow", delay=1.0)
    quick = await start(jamey_agent_server, "quick")
    assert (await connector.register("slow", slow)).success

    broadcast = asyncio.ensure_future(connector.call("broadcast", task="echo"))
    await wait_for(lambda: len(slow.requests) == 1)

    started = time.perf_counter()
    registered = await connector.register("quick", quick)
    listed = await connector.listed()
    elapsed = time.perf_counter() - started
    assert registered.success, registered.errors
    assert elapsed < 0.2, elapsed
    assert not broadcast.done()
    assert [entry["id"] for entry in listed] == ["slow", "quick"]
    assert (await connector.call("send_task", agent_id="quick", task="echo")).success
    assert not broadcast.done()

    result = await broadcast
    assert result.success
    assert set(result.json()) == {"slow"}  # the agents registered when it started


async def test_300_concurrent_registrations_lose_nothing(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await start(jamey_agent_server, "shared")
    results = await asyncio.gather(*(connector.register(f"agent-{i}", agent) for i in range(300)))
    assert all(result.success for result in results)
    listed = await connector.listed()
    assert len(listed) == 300
    assert {entry["id"] for entry in listed} == {f"agent-{i}" for i in range(300)}


async def test_300_concurrent_registrations_of_one_id_let_exactly_one_win(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agents = [await start(jamey_agent_server, f"s{i}") for i in range(3)]
    results = await asyncio.gather(*(connector.register("same", agents[i % 3]) for i in range(300)))
    winners = [i for i, result in enumerate(results) if result.success]
    assert len(winners) == 1
    losers = [result for result in results if not result.success]
    assert all(result.errors == ["Agent already registered: same"] for result in losers)
    [entry] = await connector.listed()
    assert entry["url"] == agents[winners[0] % 3].url
    # the winner's own key is the one kept
    assert (await connector.call("send_task", agent_id="same", task="echo")).success


async def test_an_agent_that_never_answers_the_tls_handshake_is_cut_off(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(timeout="0.5", retries="1")
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # accept the TCP connection, then say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        agent = await start(jamey_agent_server, "a")
        assert (await connector.register("a", agent)).success
        silent_url = f"https://127.0.0.1:{port}"
        assert (await connector.register("silent", silent_url, api_key="k")).success

        result, elapsed = await timed_broadcast(connector)
        assert elapsed < 1.5, elapsed
        output = result.json()
        assert output["a"] == {"agent": "a", "params": {}}
        assert output["silent"]["error"].startswith("Failed to send task to agent")
        assert writers, "the silent peer was never dialled"
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
