"""Each action of the ``agent_orchestration`` connector, through the runtime, against real HTTPS."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from jamey_agent_orchestration.testing.server import TaskRequest

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory
    from jamey_host import ConnectorResult

    from ..connector import Connector, MakeConnector

SEND_FAILED = "Failed to send task to agent"


def echo(request: TaskRequest) -> dict[str, Any]:
    return {"task": request.task, "params": dict(request.params)}


HANDLERS = {"echo": echo, "summarize": echo}


def assert_send_failed(result: ConnectorResult) -> None:
    """The call failed on the way to the agent (the guide's "Failed to send task to agent")."""
    assert not result.success
    assert result.errors[0].startswith(SEND_FAILED), result.errors


async def agent_for(factory: AgentServerFactory, name: str, **kwargs: Any) -> Any:
    return await factory(handlers=HANDLERS, name=name, **kwargs)


# -- register_agent / list_agents ------------------------------------------------------------


async def test_register_agent_then_list_shows_it_without_a_key(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    result = await connector.register("a1", agent, capabilities="summarize, translate")
    assert result.success, result.errors
    assert result.output == "Agent registered successfully"

    listing = await connector.call("list_agents")
    assert listing.success
    assert agent.api_key not in listing.output
    assert listing.json() == [
        {
            "id": "a1",
            "name": "Agent a1",
            "url": agent.url,
            "capabilities": ["summarize", "translate"],
            "protocol": "jamey",
        }
    ]


async def test_list_agents_is_empty_at_first(connector: Connector) -> None:
    result = await connector.call("list_agents")
    assert result.success
    assert result.json() == []


async def test_list_agents_keeps_registration_order(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a")
    for agent_id in ("zeta", "alpha", "mu"):
        assert (await connector.register(agent_id, agent)).success
    assert [entry["id"] for entry in await connector.listed()] == ["zeta", "alpha", "mu"]


async def test_duplicate_id_is_refused_and_the_original_kept(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    original = await agent_for(jamey_agent_server, "original")
    intruder = await agent_for(jamey_agent_server, "intruder")
    assert (await connector.register("a1", original)).success
    before = await connector.listed()

    result = await connector.register("a1", intruder)
    assert not result.success
    assert result.errors == ["Agent already registered: a1"]
    assert await connector.listed() == before

    sent = await connector.call("send_task", agent_id="a1", task="echo")
    assert sent.success, sent.errors
    assert len(original.requests) == 1
    assert original.requests[0].headers["Authorization"] == f"Bearer {original.api_key}"
    assert intruder.requests == []


async def test_replace_true_overwrites_url_and_key(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    old = await agent_for(jamey_agent_server, "old")
    new = await agent_for(jamey_agent_server, "new")
    assert (await connector.register("a1", old, capabilities="x")).success
    assert (await connector.register("b1", old)).success

    result = await connector.register("a1", new, capabilities="y", replace="true")
    assert result.success, result.errors
    assert result.output == "Agent registered successfully"
    listed = await connector.listed()
    assert [entry["id"] for entry in listed] == ["a1", "b1"]  # keeps its place
    assert listed[0]["url"] == new.url
    assert listed[0]["capabilities"] == ["y"]

    sent = await connector.call("send_task", agent_id="a1", task="echo")
    assert sent.success, sent.errors
    assert old.requests == []
    assert new.requests[0].headers["Authorization"] == f"Bearer {new.api_key}"


async def test_replace_rotates_the_key_on_the_same_url(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent, api_key="stale-key-000")).success
    failed = await connector.call("send_task", agent_id="a1", task="echo")
    assert failed.errors == ["Agent returned error status: 401: Unauthorized"]

    rotated = await connector.register("a1", agent, replace="true")
    assert rotated.success, rotated.errors
    sent = await connector.call("send_task", agent_id="a1", task="echo")
    assert sent.success, sent.errors
    assert [r.headers["Authorization"] for r in agent.requests] == [
        "Bearer stale-key-000",
        f"Bearer {agent.api_key}",
    ]


async def test_replace_of_an_unknown_id_registers_it(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    result = await connector.register("fresh", agent, replace="true")
    assert result.success, result.errors
    assert [entry["id"] for entry in await connector.listed()] == ["fresh"]


async def test_trailing_slash_of_the_url_is_removed(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent.url + "/", api_key=agent.api_key)).success
    assert (await connector.listed())[0]["url"] == agent.url
    assert (await connector.call("send_task", agent_id="a1", task="echo")).success
    assert agent.requests[0].path == "/api/v1/tasks"


# -- unregister_agent ------------------------------------------------------------------------


async def test_unregister_agent_then_it_is_not_found(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent)).success
    assert (await connector.register("a2", agent)).success

    result = await connector.call("unregister_agent", agent_id="a1")
    assert result.success, result.errors
    assert result.output == "Agent unregistered successfully"
    assert [entry["id"] for entry in await connector.listed()] == ["a2"]

    again = await connector.call("unregister_agent", agent_id="a1")
    assert again.errors == ["Agent not found: a1"]
    send = await connector.call("send_task", agent_id="a1", task="echo")
    assert send.errors == ["Agent not found: a1"]
    assert agent.requests == []


@pytest.mark.parametrize("bad_id", ["../etc", "a b", "-lead", "x" * 129, "é"])
@pytest.mark.parametrize("action", ["register_agent", "send_task", "unregister_agent"])
async def test_a_malformed_agent_id_is_named_as_such_and_not_echoed(
    connector: Connector, bad_id: str, action: str
) -> None:
    params = {"agent_id": bad_id, "task": "echo"}
    if action == "register_agent":
        params = {**params, "name": "A", "url": "https://agent.example", "api_key": "k-1"}
    result = await connector.call(action, **params)
    assert not result.success
    assert result.errors[0].startswith("Invalid agent_id: use 1 to 128 letters"), result.errors
    assert bad_id not in result.errors[0]
    assert await connector.listed() == []


async def test_a_well_formed_unknown_agent_id_is_not_found(connector: Connector) -> None:
    result = await connector.call("send_task", agent_id="ghost-1", task="echo")
    assert result.errors == ["Agent not found: ghost-1"]


async def test_unregistered_id_can_be_registered_again(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent)).success
    assert (await connector.call("unregister_agent", agent_id="a1")).success
    assert (await connector.register("a1", agent)).success


# -- send_task -------------------------------------------------------------------------------


async def test_send_task_by_agent_id_speaks_the_wire_protocol(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent)).success

    result = await connector.call(
        "send_task", agent_id="a1", task="echo", param_text="hello", param_n="3", other="x"
    )
    assert result.success, result.errors
    assert result.json() == {"task": "echo", "params": {"text": "hello", "n": "3"}}
    assert json.loads(result.output) == result.json()
    assert result.agents_contacted == ["a1"]

    [request] = agent.requests
    assert request.method == "POST"
    assert request.path == "/api/v1/tasks"
    assert request.headers["Authorization"] == f"Bearer {agent.api_key}"
    assert request.headers["Content-Type"].split(";")[0].strip() == "application/json"
    assert request.idempotency_key
    assert request.body == {"task": "echo", "params": {"text": "hello", "n": "3"}}


NOT_UTF8 = "it is not valid text (it holds a byte that is not UTF-8)"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (
            {"action": "send_task", "agent_id": "a1", "task": "r\udcffsum"},
            f"Invalid task: {NOT_UTF8}",
        ),
        (
            {"action": "send_task", "agent_id": "a1", "task": "echo", "param_city": "Z\udcffrich"},
            f"Invalid param_city: {NOT_UTF8}",
        ),
        (
            {"action": "send_task", "agent_id": "a1", "task": "echo", "param_\udcff": "x"},
            f"Invalid param name: {NOT_UTF8}",
        ),
        ({"action": "broadcast", "task": "\udcff"}, f"Invalid task: {NOT_UTF8}"),
    ],
)
async def test_a_stray_byte_of_a_command_line_is_refused_before_anything_is_sent(
    connector: Connector,
    jamey_agent_server: AgentServerFactory,
    call: dict[str, str],
    error: str,
) -> None:
    # Python reads an undecodable byte of argv as a lone surrogate, which no UTF-8 body can carry.
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent)).success
    action = call.pop("action")
    result = await connector.call(action, **call)
    assert result.errors == [error]
    assert agent.requests == []


async def test_each_task_gets_its_own_idempotency_key(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent)).success
    for _ in range(2):
        assert (await connector.call("send_task", agent_id="a1", task="echo")).success
    keys = [request.idempotency_key for request in agent.requests]
    assert len(set(keys)) == 2


async def test_send_task_by_capability_is_round_robin_in_registration_order(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    a = await agent_for(jamey_agent_server, "a")
    c = await agent_for(jamey_agent_server, "c")
    b = await agent_for(jamey_agent_server, "b")
    assert (await connector.register("a", a, capabilities="summarize")).success
    assert (await connector.register("c", c, capabilities="translate")).success
    assert (await connector.register("b", b, capabilities="translate,summarize")).success

    picked = []
    for _ in range(4):
        result = await connector.call("send_task", capability="summarize", task="summarize")
        assert result.success, result.errors
        picked.extend(result.agents_contacted)
    assert picked == ["a", "b", "a", "b"]
    assert (len(a.requests), len(b.requests), len(c.requests)) == (2, 2, 0)


async def test_send_task_to_a_capability_nobody_offers_fails(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a")
    assert (await connector.register("a", agent, capabilities="x")).success
    result = await connector.call("send_task", capability="nothing", task="echo")
    assert not result.success
    assert result.errors
    assert "nothing" in result.errors[0]
    assert agent.requests == []


# -- parameter errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Missing 'action' parameter"),
        ({"action": ""}, "Missing 'action' parameter"),
        ({"action": "dance"}, "Unknown action: dance"),
        ({"action": "send_task", "task": "echo"}, "Missing agent_id"),
        ({"action": "unregister_agent"}, "Missing agent_id"),
        ({"action": "send_task", "agent_id": "a1"}, "Missing task"),
        ({"action": "broadcast"}, "Missing task"),
        (
            {"action": "register_agent", "name": "n", "url": "https://a.example", "api_key": "k"},
            "Missing agent_id",
        ),
        (  # required by the action's spec: the runtime says so, before the connector runs
            {"action": "register_agent", "agent_id": "a", "name": "n", "url": "https://x.example"},
            "Missing api_key",
        ),
        (
            {
                "action": "register_agent",
                "agent_id": "a",
                "name": "n",
                "url": "https://x.example",
                "api_key": "",
            },
            "Security violation: API key cannot be empty",
        ),
        (
            {
                "action": "register_agent",
                "agent_id": "a",
                "name": "n",
                "url": "https://x.example",
                "api_key": "   ",
            },
            "Security violation: API key cannot be empty",
        ),
        (
            {
                "action": "register_agent",
                "agent_id": "a",
                "name": "n",
                "url": "http://x.example:8080",
                "api_key": "k",
            },
            "Security violation: Agent URLs must use HTTPS. Got: http",
        ),
        (  # the guide checks the scheme before the key (an empty key is given, and judged)
            {
                "action": "register_agent",
                "agent_id": "a",
                "name": "n",
                "url": "http://x.example",
                "api_key": "",
            },
            "Security violation: Agent URLs must use HTTPS. Got: http",
        ),
    ],
)
async def test_bad_params_fail_with_the_guides_wording(
    connector: Connector, params: dict[str, str], message: str
) -> None:
    result = await connector.runtime.execute_connector("agent_orchestration", params)
    assert not result.success
    assert result.errors == [message]
    assert await connector.listed() == []


# -- failures of the agent -------------------------------------------------------------------


async def test_wrong_key_is_401_and_not_retried(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent, api_key="not-the-key")).success
    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert not result.success
    assert result.errors == ["Agent returned error status: 401: Unauthorized"]
    assert result.agents_contacted == ["a1"]
    assert len(agent.requests) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_not_followed(
    connector: Connector, jamey_agent_server: AgentServerFactory, status: int
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    target = await agent_for(jamey_agent_server, "target", api_key=agent.api_key)
    agent.redirect_to(target.url + "/api/v1/tasks", status=status)
    assert (await connector.register("a1", agent)).success

    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert not result.success
    assert result.errors == [f"Agent returned error status: {status}"]
    assert len(agent.requests) == 1  # a redirect is not retried either
    assert target.requests == []


async def test_503_is_retried_with_the_same_idempotency_key(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    agent.fail_next(503, times=2)
    assert (await connector.register("a1", agent)).success

    result = await connector.call("send_task", agent_id="a1", task="echo", param_x="1")
    assert result.success, result.errors
    assert result.json() == {"task": "echo", "params": {"x": "1"}}
    assert result.metadata["attempts"] == "3"
    assert len(agent.requests) == 3
    keys = {request.idempotency_key for request in agent.requests}
    assert len(keys) == 1
    assert None not in keys


async def test_503_past_the_retries_fails_with_the_status(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(retries="2")
    agent = await agent_for(jamey_agent_server, "a1")
    agent.fail_next(503, times=5, headers={"Retry-After": "0"})
    assert (await connector.register("a1", agent)).success
    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert result.errors == ["Agent returned error status: 503: Injected failure 503"]
    assert len(agent.requests) == 2


async def test_a_retry_after_past_the_call_budget_is_not_waited_for(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    # timeout 1 s and 3 attempts: a budget of 3 s and 1 s of backoff. Waiting 30 s cannot fit.
    connector = await make_connector(timeout="1", retries="3")
    agent = await agent_for(jamey_agent_server, "a1")
    agent.fail_next(503, times=3, headers={"Retry-After": "30"})
    assert (await connector.register("a1", agent)).success

    started = time.perf_counter()
    result = await connector.call("send_task", agent_id="a1", task="echo")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed
    assert result.errors == [
        "Agent returned error status: 503: Injected failure 503 (the agent asked to retry in 30s, "
        "past this call's time budget of 4s)"
    ]
    assert result.metadata["attempts"] == "1"
    assert len(agent.requests) == 1


async def test_a_retry_after_within_the_call_budget_is_waited_for(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(timeout="1", retries="2")  # a budget of 2.4 s
    agent = await agent_for(jamey_agent_server, "a1")
    agent.fail_next(503, times=1, headers={"Retry-After": "1"})
    assert (await connector.register("a1", agent)).success

    started = time.perf_counter()
    result = await connector.call("send_task", agent_id="a1", task="echo")
    elapsed = time.perf_counter() - started
    assert result.success, result.errors
    assert 1.0 <= elapsed < 2.4, elapsed
    assert len(agent.requests) == 2


async def test_non_json_body_fails(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "a1")
    agent.respond_with(200, b"<html>hello</html>", content_type="text/html")
    assert (await connector.register("a1", agent)).success
    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert_send_failed(result)
    assert len(agent.requests) == 1


async def test_oversized_body_fails(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(max_response_bytes="200")
    agent = await agent_for(jamey_agent_server, "a1")
    assert (await connector.register("a1", agent)).success
    agent.respond_with(200, json.dumps({"data": "y" * 150}))  # under the limit
    assert (await connector.call("send_task", agent_id="a1", task="echo")).success

    agent.respond_with(200, json.dumps({"data": "x" * 5000}))
    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert_send_failed(result)


async def test_timeout_fails_within_about_the_timeout(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(timeout="0.5", retries="1")
    agent = await agent_for(jamey_agent_server, "a1", delay=5.0)
    assert (await connector.register("a1", agent)).success

    started = time.perf_counter()
    result = await connector.call("send_task", agent_id="a1", task="echo")
    elapsed = time.perf_counter() - started
    assert_send_failed(result)
    assert 0.4 < elapsed < 1.5, elapsed


async def test_closed_port_fails(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await agent_for(jamey_agent_server, "gone")
    assert (await connector.register("a1", agent)).success
    await agent.close()
    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert_send_failed(result)


async def test_a_failed_call_changes_nothing_in_the_registry(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    good = await agent_for(jamey_agent_server, "good")
    bad = await agent_for(jamey_agent_server, "bad")
    bad.fail_next(500, times=10)
    assert (await connector.register("good", good, capabilities="x")).success
    assert (await connector.register("bad", bad, api_key="wrong")).success
    before = await connector.listed()

    failures = [
        await connector.call("send_task", agent_id="bad", task="echo"),
        await connector.call("send_task", agent_id="ghost", task="echo"),
        await connector.register("good", bad),
        await connector.register("evil", "http://example.com", api_key="k"),
        await connector.register("evil", good, api_key=""),
        await connector.call("unregister_agent", agent_id="ghost"),
        await connector.call("dance"),
    ]
    assert not any(result.success for result in failures)
    assert await connector.listed() == before
    assert (await connector.call("send_task", agent_id="good", task="echo")).success
