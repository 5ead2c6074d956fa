"""The A2A actions through the runtime, against the reference agent in A2A mode (real HTTPS):
registration from the card, tasks, task queries, mixed broadcasts, breakers and health checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from jamey_agent_orchestration.testing.server import TaskError, TaskRequest

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory, RecordingAgent

    from ..connector import Connector, MakeConnector, Waiter


def uppercase(request: TaskRequest) -> dict[str, Any]:
    if "text" not in request.params:
        raise TaskError("Missing param: text")
    return {"text": request.params["text"].upper()}


def echo(request: TaskRequest) -> dict[str, Any]:
    return {"task": request.task, "params": dict(request.params)}


HANDLERS = {"uppercase": uppercase, "echo": echo}


async def a2a_agent(
    factory: AgentServerFactory, name: str = "ref", **kwargs: Any
) -> RecordingAgent:
    return await factory(handlers=HANDLERS, name=name, protocol="a2a", **kwargs)


def rpc_calls(agent: RecordingAgent) -> list[Any]:
    return [r for r in agent.requests if r.path == "/a2a/jsonrpc"]


# -- register_agent ----------------------------------------------------------------------------


async def test_an_a2a_agent_is_registered_from_its_card(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    result = await connector.register_a2a("ref", agent)
    assert result.success, result.errors
    assert result.output == "Agent registered successfully"
    assert result.metadata == {"agent_id": "ref", "protocol": "a2a"}
    assert result.warnings == []
    [listed] = await connector.listed()
    assert listed == {
        "id": "ref",
        "name": "ref",  # the card's
        "url": agent.url,  # the base URL given, not the interface's
        "capabilities": ["health_check", "uppercase", "echo", "long_task", "needs_input"],
        "protocol": "a2a",
    }
    [card_fetch] = agent.requests
    assert (card_fetch.method, card_fetch.path) == ("GET", "/.well-known/agent-card.json")
    assert card_fetch.headers["A2A-Version"] == "1.0"
    assert "Authorization" not in card_fetch.headers
    [plugin_agent] = await connector.plugin.store.list()
    assert plugin_agent.binding == "JSONRPC"
    assert str(plugin_agent.endpoint) == f"{agent.url}/a2a/jsonrpc"
    assert plugin_agent.key_header is None  # the card's Bearer scheme


async def test_a_duplicate_is_refused_before_any_card_fetch_and_replace_fetches_again(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    duplicate = await connector.register_a2a("ref", agent)
    assert duplicate.errors == ["Agent already registered: ref"]
    assert len(agent.requests) == 1
    replaced = await connector.register_a2a("ref", agent, name="Renamed", replace="true")
    assert replaced.success, replaced.errors
    assert len(agent.requests) == 2
    [listed] = await connector.listed()
    assert listed["name"] == "Renamed"


async def test_a_jamey_agent_still_needs_a_name(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS)
    result = await connector.call(
        "register_agent", agent_id="j", url=agent.url, api_key=agent.api_key
    )
    assert result.errors == ["Missing name"]
    result = await connector.call(
        "register_agent", agent_id="j", url=agent.url, api_key=agent.api_key, protocol="grpc"
    )
    assert result.errors == ["Invalid protocol 'grpc': use jamey or a2a"]


async def test_an_empty_key_is_refused_before_the_card_is_fetched(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    result = await connector.register_a2a("ref", agent, api_key=" ")
    assert result.errors == ["Security violation: API key cannot be empty"]
    assert agent.requests == []


# -- send_task ---------------------------------------------------------------------------------


async def test_send_task_runs_the_handler_and_returns_the_task(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    result = await connector.call("send_task", agent_id="ref", task="uppercase", param_text="hi")
    assert result.success, result.errors
    task = result.json()
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"] == [
        {"data": {"text": "HI"}, "mediaType": "application/json"}
    ]
    assert result.metadata["task_id"] == task["id"]
    assert result.metadata["state"] == "TASK_STATE_COMPLETED"
    executed = connector.last_execute()
    assert executed.details["agent_id"] == "ref"
    assert executed.details["origin"] == agent.url
    assert (executed.details["status"], executed.details["attempts"]) == (200, 1)
    [call] = rpc_calls(agent)
    assert call.body["params"]["message"]["messageId"] == call.idempotency_key


async def test_a_handler_error_fails_the_task_and_an_unknown_task_is_rejected(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    failed = await connector.call("send_task", agent_id="ref", task="uppercase")
    assert failed.errors == ["Agent task ended in state TASK_STATE_FAILED: Missing param: text"]
    assert failed.json()["status"]["state"] == "TASK_STATE_FAILED"
    rejected = await connector.call("send_task", agent_id="ref", task="translate")
    assert rejected.errors == [
        "Agent task ended in state TASK_STATE_REJECTED: Unknown task: translate"
    ]


async def test_a_long_task_without_waiting_then_polled_and_cancelled(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    started = await connector.call("send_task", agent_id="ref", task="long_task", wait="false")
    assert started.success, started.errors
    assert started.metadata["state"] == "TASK_STATE_WORKING"
    task_id = started.metadata["task_id"]
    polled = await connector.call("get_task", agent_id="ref", task_id=task_id, history_length="1")
    assert polled.success, polled.errors
    assert polled.metadata["state"] == "TASK_STATE_WORKING"
    assert len(polled.json()["history"]) == 1
    assert connector.last_execute().details["task_id"] == task_id
    cancelled = await connector.call("cancel_task", agent_id="ref", task_id=task_id)
    assert cancelled.success, cancelled.errors
    assert cancelled.metadata["state"] == "TASK_STATE_CANCELED"
    again = await connector.call("cancel_task", agent_id="ref", task_id=task_id)
    assert again.errors == ["Agent returned error: -32002 Task cannot be canceled"]
    assert [c.body["method"] for c in rpc_calls(agent)] == [
        "SendMessage",
        "GetTask",
        "CancelTask",
        "CancelTask",
    ]


async def test_a_task_that_asks_for_input_is_continued(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    asked = await connector.call("send_task", agent_id="ref", task="needs_input")
    assert asked.success
    assert asked.warnings == [
        "Agent task is in state TASK_STATE_INPUT_REQUIRED: need more input: send a follow-up "
        "message with this taskId"
    ]
    done = await connector.call(
        "send_task",
        agent_id="ref",
        task="the answer",
        task_id=asked.metadata["task_id"],
        context_id=asked.metadata["context_id"],
        param_n="1",
    )
    assert done.success, done.errors
    assert done.json()["artifacts"][0]["parts"][0]["data"] == {
        "input": "the answer",
        "params": {"n": "1"},
    }


async def test_retries_reuse_the_idempotency_key_and_the_message_id(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    agent.fail_next(503, times=2, headers={"Retry-After": "0"})
    result = await connector.call("send_task", agent_id="ref", task="echo", param_a="1")
    assert result.success, result.errors
    assert result.metadata["attempts"] == "3"
    calls = rpc_calls(agent)
    assert len(calls) == 3
    assert len({c.idempotency_key for c in calls}) == 1
    assert len({c.body["params"]["message"]["messageId"] for c in calls}) == 1


async def test_a_503_past_the_retries_shows_the_agents_message(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(retries="2")
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    agent.fail_next(503, times=2, headers={"Retry-After": "0"})
    result = await connector.call("send_task", agent_id="ref", task="echo")
    assert result.errors == ["Agent returned error status: 503: Injected failure 503"]
    assert result.metadata["protocol"] == "a2a"


# -- the jamey protocol refuses what only A2A can do -------------------------------------------


@pytest.mark.parametrize("action", ["get_task", "cancel_task"])
async def test_a_jamey_agent_does_not_support_task_queries(
    connector: Connector, jamey_agent_server: AgentServerFactory, action: str
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS)
    assert (await connector.register("j", agent)).success
    result = await connector.call(action, agent_id="j", task_id="t-1")
    assert result.errors == [f"Action not supported by protocol jamey: {action}"]
    assert agent.requests == []


@pytest.mark.parametrize(
    ("param", "value"), [("context_id", "c-1"), ("task_id", "t-1"), ("wait", "false")]
)
async def test_a_jamey_agent_refuses_what_only_a2a_can_do(
    connector: Connector, jamey_agent_server: AgentServerFactory, param: str, value: str
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS)
    assert (await connector.register("j", agent)).success
    result = await connector.call("send_task", agent_id="j", task="echo", **{param: value})
    assert result.errors == [f"Param not supported by protocol jamey: {param}"]
    assert agent.requests == []
    waited = await connector.call("send_task", agent_id="j", task="echo", wait="true")
    assert waited.success, waited.errors  # a jamey agent always waits


async def test_task_query_params_are_checked(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    missing = await connector.call("get_task", agent_id="ref")
    assert missing.errors == ["Missing task_id"]
    nobody = await connector.call("cancel_task", agent_id="nobody", task_id="t")
    assert nobody.errors == ["Agent not found: nobody"]
    bad_length = await connector.call("get_task", agent_id="ref", task_id="t", history_length="-1")
    assert bad_length.errors == ["Invalid history_length '-1': use a whole number from 0 to 10000"]
    unprintable = await connector.call("get_task", agent_id="ref", task_id="a\u200bb")
    assert unprintable.errors == ["Invalid task_id: use 1 to 256 printable characters"]
    bad_wait = await connector.call("send_task", agent_id="ref", task="echo", wait="maybe")
    assert bad_wait.errors[0].startswith("Invalid wait:")
    assert rpc_calls(agent) == []


# -- broadcast, routing, breakers, health -------------------------------------------------------


async def test_a_broadcast_over_mixed_agents(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    a2a = await a2a_agent(jamey_agent_server)
    jamey = await jamey_agent_server(handlers=HANDLERS, name="jamey")
    asks = await a2a_agent(jamey_agent_server, name="asks")
    assert (await connector.register_a2a("a2a", a2a)).success
    assert (await connector.register("jamey", jamey)).success
    assert (await connector.register_a2a("wrong", a2a, api_key="wrong-key")).success
    result = await connector.call("broadcast", task="echo", param_x="1")
    assert result.success, result.errors
    answers = result.json()
    assert answers["a2a"]["artifacts"][0]["parts"][0]["data"] == {
        "task": "echo",
        "params": {"x": "1"},
    }
    assert answers["jamey"] == {"task": "echo", "params": {"x": "1"}}
    assert answers["wrong"] == {"error": "Agent returned error status: 401: Unauthorized"}
    assert result.metadata == {"succeeded": "2", "failed": "1", "total": "3"}
    sent = connector.named("agent.task_sent")
    assert {e.details["agent_id"] for e in sent} == {"a2a", "jamey"}

    # An interrupted task succeeds, and its warning names the agent.
    assert (await connector.register_a2a("asks", asks, capabilities="ask")).success
    asked = await connector.call("broadcast", task="needs_input", capability="ask")
    assert asked.metadata["succeeded"] == "1"
    assert asked.warnings == [
        "asks: Agent task is in state TASK_STATE_INPUT_REQUIRED: need more input: send a "
        "follow-up message with this taskId"
    ]


async def test_send_task_by_capability_routes_over_skill_ids(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    first = await a2a_agent(jamey_agent_server, name="first")
    second = await a2a_agent(jamey_agent_server, name="second")
    assert (await connector.register_a2a("first", first)).success
    assert (await connector.register_a2a("second", second)).success
    routed = [
        (await connector.call("send_task", capability="uppercase", task="echo")).agents_contacted
        for _ in range(3)
    ]
    assert routed == [["first"], ["second"], ["first"]]


async def test_the_breaker_guards_a2a_agents_and_their_task_queries(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(breaker_threshold="2", retries="1")
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    agent.fail_next(503, times=2)
    for _ in range(2):
        assert not (await connector.call("send_task", agent_id="ref", task="echo")).success
    assert connector.named("agent.circuit_open")
    before = len(agent.requests)
    refused = await connector.call("send_task", agent_id="ref", task="echo")
    assert refused.errors[0].startswith("circuit open for agent ref")
    queried = await connector.call("get_task", agent_id="ref", task_id="t-1")
    assert queried.errors[0].startswith("circuit open for agent ref")
    assert queried.agents_contacted == []
    assert len(agent.requests) == before


async def test_the_health_check_of_an_a2a_agent_is_a_card_fetch(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory, wait_for: Waiter
) -> None:
    connector = await make_connector(health_interval="0.1")
    agent = await a2a_agent(jamey_agent_server)
    assert (await connector.register_a2a("ref", agent)).success
    await wait_for(lambda: len(connector.named("agent.health_checked")) >= 2)
    assert rpc_calls(agent) == []  # no task, no key
    assert all("Authorization" not in r.headers for r in agent.requests)
    checked = connector.named("agent.health_checked")[0]
    assert checked.outcome == "success"
    assert (checked.details["agent_id"], checked.details["status"]) == ("ref", 200)
