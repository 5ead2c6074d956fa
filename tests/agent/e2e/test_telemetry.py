"""The agent connector's traces and metrics, through the runtime, against real HTTPS agents.

The reference agent (both modes) runs in this process with the suite's SDK providers, so the
spans it makes from the ``traceparent`` it received land in the same exporter: a test sees the
whole trace, the host's span down to the agent's. The official SDK's A2A server is the peer of
``tests/a2a_interop/test_trace_context.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from otel_setup import OtelCapture

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.testing.server import TaskRequest
from jamey_host import Runtime, RuntimeConfig

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory, ThrowawayCA
    from jamey_agent_orchestration.testing.agents import RecordedRequest, RecordingAgent

    from ..connector import Connector, MakeConnector, Waiter

tracer = trace.get_tracer("tests.host")
CALL = "execute_connector agent_orchestration"


def echo(request: TaskRequest) -> dict[str, Any]:
    return {"params": dict(request.params)}


HANDLERS = {"echo": echo}


def traceparent_of(span: ReadableSpan) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return span.parent is not None and span.parent.span_id == parent.context.span_id


def named(otel: OtelCapture, name: str) -> list[ReadableSpan]:
    return [span for span in otel.spans() if span.name == name]


def received(requests: Sequence[RecordedRequest], path_end: str) -> list[str | None]:
    return [r.headers.get("traceparent") for r in requests if r.path.endswith(path_end)]


async def test_a_send_task_is_the_call_span_its_attempt_and_the_agent_span_in_one_trace(
    otel: OtelCapture, connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS, name="a1")
    assert (await connector.register("a1", agent)).success
    otel.reset()

    with tracer.start_as_current_span("host request") as host:
        result = await connector.call("send_task", agent_id="a1", task="echo", param_x="1")
    assert result.success, result.errors

    call = otel.span(CALL)
    attempt = otel.span("invoke_agent a1")
    served = otel.span("POST /api/v1/tasks")
    assert call.parent is not None
    assert call.parent.span_id == host.get_span_context().span_id
    assert child_of(attempt, call)
    assert child_of(served, attempt)
    assert served.parent is not None
    assert served.parent.is_remote  # it came over the wire
    assert len({span.context.trace_id for span in (call, attempt, served)}) == 1
    assert dict(call.attributes or {}) == {
        "jamey.connector": "agent_orchestration",
        "jamey.action": "send_task",
        "jamey.outcome": "success",
    }
    assert attempt.kind is SpanKind.CLIENT
    assert dict(attempt.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": "a1",
        "gen_ai.agent.name": "Agent a1",
        "server.address": "127.0.0.1",
        "server.port": agent.port,
        "jamey.agent.protocol": "jamey",
        "http.response.status_code": 200,
    }
    assert received(agent.requests, "/api/v1/tasks")[-1] == traceparent_of(attempt)

    assert otel.points("jamey.agent.requests")[0][0] == {
        "gen_ai.agent.id": "a1",
        "jamey.outcome": "success",
    }
    assert otel.total("jamey.agent.requests") == 1
    calls = otel.points("jamey.connector.calls")
    assert [attributes for attributes, _ in calls] == [
        {
            "jamey.connector": "agent_orchestration",
            "jamey.action": "send_task",
            "jamey.outcome": "success",
        }
    ]
    assert otel.metric_names() == {
        "jamey.connector.calls",
        "jamey.connector.duration",
        "jamey.agent.requests",
    }


async def test_every_retry_is_a_span_of_its_own_with_its_own_traceparent(
    otel: OtelCapture, make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(retries="3")
    agent = await jamey_agent_server(handlers=HANDLERS, name="flaky")
    assert (await connector.register("flaky", agent)).success
    agent.fail_next(503, times=2, headers={"Retry-After": "0"})
    otel.reset()

    result = await connector.call("send_task", agent_id="flaky", task="echo")
    assert result.success, result.errors
    assert result.metadata["attempts"] == "3"

    call = otel.span(CALL)
    attempts = named(otel, "invoke_agent flaky")
    assert len(attempts) == 3
    assert all(child_of(attempt, call) for attempt in attempts)
    resends = [(attempt.attributes or {}).get("http.request.resend_count") for attempt in attempts]
    assert resends == [None, 1, 2]
    statuses = [(attempt.attributes or {})["http.response.status_code"] for attempt in attempts]
    assert statuses == [503, 503, 200]
    assert [attempt.status.status_code for attempt in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert (
        attempts[0].status.description == "Agent returned error status: 503: Injected failure 503"
    )
    assert (attempts[0].attributes or {})["error.type"] == "status_5xx"
    sent = received(agent.requests, "/api/v1/tasks")[-3:]
    assert sent == [traceparent_of(attempt) for attempt in attempts]
    assert otel.total("jamey.agent.requests", **{"jamey.outcome": "failure"}) == 2
    assert otel.total("jamey.agent.requests", **{"jamey.outcome": "success"}) == 1


async def test_a_failed_request_fails_its_attempt_and_the_call_with_the_result_error(
    otel: OtelCapture, connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS, name="a1")
    assert (await connector.register("a1", agent, api_key="not-its-key")).success
    otel.reset()

    result = await connector.call("send_task", agent_id="a1", task="echo")

    call = otel.span(CALL)
    attempt = otel.span("invoke_agent a1")
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == result.errors[0]
    assert (call.attributes or {})["jamey.outcome"] == "failure"
    assert attempt.status.status_code is StatusCode.ERROR
    assert (attempt.attributes or {})["error.type"] == "status_4xx"
    assert (attempt.attributes or {})["http.response.status_code"] == 401


async def test_a_connection_failure_is_an_attempt_without_a_status(
    otel: OtelCapture, make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(retries="1")
    agent = await jamey_agent_server(name="gone")
    assert (await connector.register("gone", agent)).success
    await agent.close()
    otel.reset()

    await connector.call("send_task", agent_id="gone", task="echo")

    attempt = otel.span("invoke_agent gone")
    assert (attempt.attributes or {})["error.type"] == "connection"
    assert "http.response.status_code" not in (attempt.attributes or {})
    assert otel.total("jamey.agent.requests", **{"jamey.outcome": "failure"}) == 1


async def test_a_refused_address_is_a_failed_call_and_nothing_is_dialled(
    otel: OtelCapture, connector: Connector
) -> None:
    result = await connector.call(
        "register_agent",
        agent_id="private",
        name="Private",
        url="https://10.0.0.1:8443",
        api_key="k",
    )

    call = otel.span(CALL)
    # The connector's own refusal (audited agent.register_refused, outcome denied) is a failed
    # call for the runtime, as the call's connector.execute event says; "denied" is the runtime's
    # gating (tests/telemetry/test_runtime_calls.py).
    assert connector.last_execute().outcome == "failure"
    assert (call.attributes or {})["jamey.outcome"] == "failure"
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == result.errors[0]
    assert otel.span_names() == [CALL]
    assert otel.total("jamey.agent.requests") == 0


async def test_an_a2a_registration_is_a_card_fetch_span_carrying_its_traceparent(
    otel: OtelCapture, connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS, name="b1", protocol="a2a")

    assert (await connector.register_a2a("b1", agent)).success

    call = otel.span(CALL)
    fetch = otel.span("fetch_agent_card b1")
    served = otel.span("GET /.well-known/agent-card.json")
    assert child_of(fetch, call)
    assert child_of(served, fetch)
    assert fetch.kind is SpanKind.CLIENT
    assert dict(fetch.attributes or {}) == {  # the card is to name the agent: no name yet
        "gen_ai.agent.id": "b1",
        "server.address": "127.0.0.1",
        "server.port": agent.port,
        "jamey.agent.protocol": "a2a",
        "http.response.status_code": 200,
    }
    assert received(agent.requests, "/agent-card.json") == [traceparent_of(fetch)]
    assert otel.total("jamey.agent.requests") == 0  # a card is not a task


async def test_a2a_tasks_record_their_task_id_and_state_on_each_attempt(
    otel: OtelCapture, connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS, name="b1", protocol="a2a")
    assert (await connector.register_a2a("b1", agent, name="Agent b1")).success

    otel.reset()
    started = await connector.call("send_task", agent_id="b1", task="long_task", wait="false")
    assert started.success, started.errors
    task_id = started.metadata["task_id"]
    attempt = otel.span("invoke_agent b1")
    served = otel.span("POST /a2a/jsonrpc")
    assert child_of(attempt, otel.span(CALL))
    assert child_of(served, attempt)
    assert dict(attempt.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": "b1",
        "gen_ai.agent.name": "Agent b1",
        "server.address": "127.0.0.1",
        "server.port": agent.port,
        "jamey.agent.protocol": "a2a",
        "http.response.status_code": 200,
        "jamey.a2a.task_id": task_id,
        "jamey.a2a.task_state": "TASK_STATE_WORKING",
    }
    assert received(agent.requests, "/a2a/jsonrpc")[-1] == traceparent_of(attempt)

    for action, state in (
        ("get_task", "TASK_STATE_WORKING"),
        ("cancel_task", "TASK_STATE_CANCELED"),
    ):
        otel.reset()
        result = await connector.call(action, agent_id="b1", task_id=task_id)
        assert result.success, result.errors
        attempt = otel.span("invoke_agent b1")
        assert (otel.span(CALL).attributes or {})["jamey.action"] == action
        assert (attempt.attributes or {})["jamey.a2a.task_id"] == task_id
        assert (attempt.attributes or {})["jamey.a2a.task_state"] == state
        assert received(agent.requests, "/a2a/jsonrpc")[-1] == traceparent_of(attempt)
        assert otel.total("jamey.agent.requests", **{"jamey.outcome": "success"}) == 1

    otel.reset()
    again = await connector.call("cancel_task", agent_id="b1", task_id=task_id)
    assert not again.success  # an A2A error object: the attempt failed, no task in the answer
    attempt = otel.span("invoke_agent b1")
    assert (attempt.attributes or {})["error.type"] == "agent_error"
    assert "jamey.a2a.task_id" not in (attempt.attributes or {})


async def test_a_broadcast_is_one_span_with_a_delivery_child_per_agent(
    otel: OtelCapture, connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    jamey = await jamey_agent_server(handlers=HANDLERS, name="j1")
    a2a = await jamey_agent_server(handlers=HANDLERS, name="b1", protocol="a2a")
    refusing = await jamey_agent_server(handlers=HANDLERS, name="j2")
    assert (await connector.register("j1", jamey)).success
    assert (await connector.register_a2a("b1", a2a, name="Agent b1")).success
    assert (await connector.register("j2", refusing, api_key="wrong")).success
    otel.reset()

    result = await connector.call("broadcast", task="echo", param_x="1")
    assert result.metadata["succeeded"] == "2"

    call = otel.span(CALL)
    broadcast = otel.span("broadcast")
    assert child_of(broadcast, call)
    assert dict(broadcast.attributes or {}) == {
        "jamey.broadcast.agents": 3,
        "jamey.broadcast.succeeded": 2,
        "jamey.broadcast.failed": 1,
    }
    for agent_id, protocol in (("j1", "jamey"), ("b1", "a2a"), ("j2", "jamey")):
        delivery = otel.span(f"deliver_task {agent_id}")
        attempt = otel.span(f"invoke_agent {agent_id}")
        assert child_of(delivery, broadcast)
        assert child_of(attempt, delivery)
        assert {
            key: value for key, value in (delivery.attributes or {}).items() if key != "error.type"
        } == {
            "gen_ai.agent.id": agent_id,
            "gen_ai.agent.name": f"Agent {agent_id}",
            "jamey.agent.protocol": protocol,
            "jamey.delivery.attempts": 1,
        }
    failed = otel.span("deliver_task j2")
    assert (failed.attributes or {})["error.type"] == "status_4xx"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description is not None
    assert failed.status.description.startswith("Agent returned error status: 401")
    assert received(jamey.requests, "/api/v1/tasks") == [
        traceparent_of(otel.span("invoke_agent j1"))
    ]
    assert received(a2a.requests, "/a2a/jsonrpc") == [traceparent_of(otel.span("invoke_agent b1"))]


async def test_circuit_open_counts_each_agent_while_its_breaker_is_open(
    otel: OtelCapture,
    jamey_agent_ca: ThrowawayCA,
    jamey_agent_server: AgentServerFactory,
) -> None:
    settings = {
        "ca_bundle": str(jamey_agent_ca.ca_path),
        "allow_networks": "127.0.0.0/8",
        "timeout": "2",
        "retries": "1",
        "breaker_threshold": "1",
        "breaker_cooldown": "60",
    }
    agents: list[RecordingAgent] = []
    for name in ("d1", "d2", "d3"):
        agent = await jamey_agent_server(name=name)
        await agent.close()
        agents.append(agent)
    config = RuntimeConfig(connector_settings={"agent_orchestration": settings})
    runtime = Runtime(config, plugins=[AgentOrchestrationPlugin()], load_entrypoints=False)

    def circuit_open(**attributes: str) -> float:
        return otel.total("jamey.agent.circuit_open", **attributes)

    async with runtime:
        for agent in agents:
            params = {"agent_id": agent.name, "name": agent.name, "url": agent.url, "api_key": "k"}
            registered = await runtime.execute_connector(
                "agent_orchestration", {"action": "register_agent", **params}
            )
            assert registered.success
            await runtime.execute_connector(
                "agent_orchestration", {"action": "send_task", "agent_id": agent.name, "task": "x"}
            )
        assert circuit_open() == 3  # each breaker opened after its one failure
        assert circuit_open(**{"gen_ai.agent.id": "d1"}) == 1

        otel.reset()
        refused = await runtime.execute_connector(
            "agent_orchestration", {"action": "send_task", "agent_id": "d1", "task": "x"}
        )
        assert refused.errors[0].startswith("circuit open for agent d1")
        assert otel.span_names() == [CALL]  # failed fast: no request, no attempt span
        assert otel.total("jamey.agent.requests") == 0

        unregistered = await runtime.execute_connector(
            "agent_orchestration", {"action": "unregister_agent", "agent_id": "d1"}
        )
        assert unregistered.success
        assert circuit_open(**{"gen_ai.agent.id": "d1"}) == -1  # since the reset: down by one
    # The runtime closed with two breakers open: they no longer count either.
    assert circuit_open() == -3
    assert {frozenset(attributes) for attributes, _ in otel.points("jamey.agent.circuit_open")} <= {
        frozenset({"gen_ai.agent.id"})
    }


async def test_health_checks_are_traced_requests_without_a_broadcast_span(
    otel: OtelCapture,
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    wait_for: Waiter,
) -> None:
    connector = await make_connector(health_interval="0.05")
    jamey = await jamey_agent_server(name="j1")
    a2a = await jamey_agent_server(name="b1", protocol="a2a")
    assert (await connector.register("j1", jamey)).success
    assert (await connector.register_a2a("b1", a2a)).success
    otel.reset()

    await wait_for(lambda: len(named(otel, "invoke_agent j1")) >= 2)
    await wait_for(lambda: len(named(otel, "fetch_agent_card b1")) >= 2)

    names = set(otel.span_names())
    assert "broadcast" not in names
    assert not any(name.startswith("deliver_task") for name in names)
    assert CALL not in names  # no call was made: the runtime's own task sent them
    checks = named(otel, "invoke_agent j1") + named(otel, "fetch_agent_card b1")
    assert all(span.parent is None for span in checks)  # each check is a trace of its own
    assert otel.total("jamey.agent.requests", **{"gen_ai.agent.id": "j1"}) >= 2
    assert otel.total("jamey.agent.requests", **{"gen_ai.agent.id": "b1"}) == 0
