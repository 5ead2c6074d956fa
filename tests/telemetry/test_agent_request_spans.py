"""jamey_agent_orchestration.telemetry with the SDK installed: spans and metrics of agent requests.

These drive the facade the way ``RequestSender._attempt``, ``Deliverer.deliver_all`` and the
breakers' callbacks do; the connector wired to it, against real agents, is tested in
``tests/agent/e2e/test_telemetry.py``. The propagation over real HTTPS is in
test_trace_propagation.py.
"""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from otel_setup import OtelCapture

from jamey_agent_orchestration import telemetry
from jamey_agent_orchestration.breaker import Breakers
from jamey_agent_orchestration.delivery import count_forgotten, count_transition
from jamey_agent_orchestration.net.client import FailureKind
from jamey_agent_orchestration.telemetry import (
    agent_target,
    circuit_changed,
    start_attempt,
    start_broadcast,
    start_card_fetch,
    start_delivery,
)

tracer = trace.get_tracer("tests.telemetry")
CANARY = "canary-secret-5be1d0"


def target(
    agent_id: str = "a1", url: str = "https://agents.example:8443/base"
) -> telemetry.AgentTarget:
    return agent_target(agent_id, f"Agent {agent_id}", url, "jamey")


def test_the_api_is_there_in_the_test_environment() -> None:
    assert telemetry.ENABLED


def test_an_attempt_is_a_client_span_with_the_contract_attributes(otel: OtelCapture) -> None:
    with tracer.start_as_current_span("execute_connector agent_orchestration") as parent:
        attempt = start_attempt(target())
        attempt.end(ok=True, status=200)

    span = otel.span("invoke_agent a1")
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": "a1",
        "gen_ai.agent.name": "Agent a1",
        "server.address": "agents.example",
        "server.port": 8443,
        "jamey.agent.protocol": "jamey",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id


def test_the_default_https_port_is_recorded(otel: OtelCapture) -> None:
    start_attempt(target(url="https://agents.example")).end(ok=True, status=200)

    assert otel.span("invoke_agent a1").attributes["server.port"] == 443  # type: ignore[index]


def test_every_retry_is_a_span_of_its_own_with_its_resend_count(otel: OtelCapture) -> None:
    agent = target()
    with tracer.start_as_current_span("execute_connector agent_orchestration") as parent:
        for resend_count, status in enumerate((503, 503, 200)):
            attempt = start_attempt(agent, resend_count=resend_count)
            if status == 200:
                attempt.end(ok=True, status=status)
            else:
                error = f"Agent returned error status: {status}"
                attempt.end(ok=False, status=status, failure=FailureKind.STATUS_5XX, error=error)

    attempts = [span for span in otel.spans() if span.name == "invoke_agent a1"]
    assert len(attempts) == 3
    assert [(span.attributes or {}).get("http.request.resend_count") for span in attempts] == [
        None,  # the conventions set it on resends only
        1,
        2,
    ]
    assert {span.parent.span_id for span in attempts if span.parent} == {
        parent.get_span_context().span_id
    }
    first = attempts[0]
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "Agent returned error status: 503"
    assert first.attributes is not None
    assert first.attributes["error.type"] == "status_5xx"
    assert first.attributes["http.response.status_code"] == 503
    assert attempts[2].status.status_code is StatusCode.UNSET
    assert "error.type" not in (attempts[2].attributes or {})

    points = otel.points("jamey.agent.requests")
    assert {frozenset(attributes.items()) for attributes, _ in points} == {
        frozenset({("gen_ai.agent.id", "a1"), ("jamey.outcome", "failure")}),
        frozenset({("gen_ai.agent.id", "a1"), ("jamey.outcome", "success")}),
    }
    assert otel.total("jamey.agent.requests", **{"jamey.outcome": "failure"}) == 2
    assert otel.total("jamey.agent.requests", **{"jamey.outcome": "success"}) == 1


def test_a_failure_without_a_status_or_kind(otel: OtelCapture) -> None:
    start_attempt(target()).end(
        ok=False, failure=FailureKind.TIMEOUT, error="Failed to send task to agent: timed out"
    )
    start_attempt(target("a2")).end(ok=False)

    timed_out = otel.span("invoke_agent a1")
    assert timed_out.attributes is not None
    assert timed_out.attributes["error.type"] == "timeout"
    assert "http.response.status_code" not in timed_out.attributes
    unnamed = otel.span("invoke_agent a2")
    assert unnamed.attributes is not None
    assert unnamed.attributes["error.type"] == "_OTHER"
    assert unnamed.status.status_code is StatusCode.ERROR


def test_an_a2a_answer_records_its_task_id_and_state(otel: OtelCapture) -> None:
    a2a = agent_target("b1", "Agent b1", "https://a2a.example/rpc", "a2a")
    start_attempt(a2a).end(ok=True, status=200, task_id="task-1", task_state="TASK_STATE_WORKING")
    start_attempt(a2a, resend_count=1).end(
        ok=True, status=200, task_id="x" * 257, task_state=f"echo {CANARY}"
    )

    first, second = (span for span in otel.spans() if span.name == "invoke_agent b1")
    assert first.attributes is not None
    assert first.attributes["jamey.agent.protocol"] == "a2a"
    assert first.attributes["jamey.a2a.task_id"] == "task-1"
    assert first.attributes["jamey.a2a.task_state"] == "TASK_STATE_WORKING"
    assert second.attributes is not None
    assert "jamey.a2a.task_id" not in second.attributes  # an agent stuffing data into an id
    assert second.attributes["jamey.a2a.task_state"] == "other"  # free text never gets in
    assert not any(CANARY in text for text in otel.everything())


async def test_an_attempt_cancelled_inside_its_with_block_is_ended_and_counted(
    otel: OtelCapture,
) -> None:
    async def attempt_that_hangs() -> None:
        with start_attempt(target()) as attempt:
            await asyncio.sleep(10)
            attempt.end(ok=True, status=200)

    task = asyncio.create_task(attempt_that_hangs())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    span = otel.span("invoke_agent a1")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "CancelledError"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "CancelledError"
    assert otel.total("jamey.agent.requests", **{"jamey.outcome": "failure"}) == 1


def test_an_exception_is_recorded_by_its_type_only(otel: OtelCapture) -> None:
    with pytest.raises(OSError, match=CANARY), start_attempt(target()):
        raise OSError(f"Authorization: Bearer {CANARY}")

    span = otel.span("invoke_agent a1")
    assert span.status.description == "OSError"
    assert not span.events  # no exception event: its message could carry a header
    assert not any(CANARY in text for text in otel.everything())


def test_an_attempt_ended_inside_its_with_block_is_ended_once(otel: OtelCapture) -> None:
    with start_attempt(target()) as attempt:
        attempt.end(ok=True, status=200)
    attempt.end(ok=False, status=500)

    assert otel.span_names() == ["invoke_agent a1"]
    assert otel.span("invoke_agent a1").status.status_code is StatusCode.UNSET
    assert otel.total("jamey.agent.requests") == 1


def test_the_attempt_is_current_while_it_is_open(otel: OtelCapture) -> None:
    with start_attempt(target()) as attempt:
        with tracer.start_as_current_span("aiohttp request"):
            pass
        attempt.end(ok=True, status=200)
    assert trace.get_current_span() is trace.INVALID_SPAN

    spans = {span.name: span for span in otel.spans()}
    inner = spans["aiohttp request"]
    assert inner.parent is not None
    assert inner.parent.span_id == spans["invoke_agent a1"].context.span_id


def test_the_trace_headers_are_those_of_the_attempt_span_in_a_copy(otel: OtelCapture) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {CANARY}"}
    with start_attempt(target()) as attempt:
        sent = attempt.with_trace_headers(headers)
        attempt.end(ok=True, status=200)

    span = otel.span("invoke_agent a1")
    context = span.context
    flags = f"{context.trace_flags:02x}"  # sampled, and (SDK 1.4x) the W3C level 2 random flag
    assert sent["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"
    assert context.trace_flags.sampled
    assert sent["Authorization"] == f"Bearer {CANARY}"
    assert "traceparent" not in headers  # the caller's dict is shared by every attempt
    assert not any(CANARY in text for text in otel.everything())


def test_the_caller_trace_state_goes_along(otel: OtelCapture) -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value")]),
    )
    with trace.use_span(NonRecordingSpan(remote)), start_attempt(target()) as attempt:
        sent = attempt.with_trace_headers({})
        attempt.end(ok=True, status=200)

    assert sent["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert sent["tracestate"] == "vendor=value"


def test_a_card_fetch_is_a_client_span_and_not_a_task_request(otel: OtelCapture) -> None:
    a2a = agent_target("b1", "Agent b1", "https://a2a.example:9443", "a2a")
    with start_card_fetch(a2a) as fetch:
        sent = fetch.with_trace_headers({"Accept": "application/json"})
        fetch.end(ok=False, status=302, failure=FailureKind.REDIRECT, error="Failed to fetch")

    span = otel.span("fetch_agent_card b1")
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.agent.id": "b1",
        "gen_ai.agent.name": "Agent b1",
        "server.address": "a2a.example",
        "server.port": 9443,
        "jamey.agent.protocol": "a2a",
        "http.response.status_code": 302,
        "error.type": "redirect",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert sent["traceparent"].split("-")[2] == f"{span.context.span_id:016x}"
    assert otel.total("jamey.agent.requests") == 0


def test_a_card_fetch_before_the_card_named_the_agent_has_no_name(otel: OtelCapture) -> None:
    unnamed = agent_target("b2", None, "https://a2a.example", "a2a")
    start_card_fetch(unnamed, resend_count=1).end(ok=True, status=200)

    span = otel.span("fetch_agent_card b2")
    assert span.attributes is not None
    assert "gen_ai.agent.name" not in span.attributes
    assert span.attributes["http.request.resend_count"] == 1


async def test_a_broadcast_is_one_span_with_a_delivery_child_per_agent(otel: OtelCapture) -> None:
    agents = [target(f"a{number}") for number in range(3)]
    turns = iter(agents)

    async def worker() -> None:  # the plugin's pool: a worker takes agents in turn
        for agent in turns:
            with start_delivery(agent) as delivery:
                with start_attempt(agent) as attempt:
                    await asyncio.sleep(0)
                    attempt.end(ok=agent.agent_id != "a2", status=200)
                delivery.end(ok=agent.agent_id != "a2", attempts=1, error="Agent said no")

    with start_broadcast(agents=3) as broadcast:
        async with asyncio.TaskGroup() as group:  # tasks copy the broadcast's context
            for _ in range(2):
                group.create_task(worker())
        broadcast.end(succeeded=2, failed=1)

    spans = {span.name: span for span in otel.spans()}
    root = spans["broadcast"]
    assert root.attributes is not None
    assert dict(root.attributes) == {
        "jamey.broadcast.agents": 3,
        "jamey.broadcast.succeeded": 2,
        "jamey.broadcast.failed": 1,
    }
    for agent in agents:
        delivery = spans[f"deliver_task {agent.agent_id}"]
        attempt = spans[f"invoke_agent {agent.agent_id}"]
        assert delivery.parent is not None
        assert delivery.parent.span_id == root.context.span_id
        assert attempt.parent is not None
        assert attempt.parent.span_id == delivery.context.span_id
        assert delivery.attributes is not None
        assert delivery.attributes["gen_ai.agent.id"] == agent.agent_id
        assert delivery.attributes["jamey.delivery.attempts"] == 1
    failed = spans["deliver_task a2"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "Agent said no"


def test_circuit_open_counts_open_and_half_open_breakers(otel: OtelCapture) -> None:
    now = [0.0]
    breakers = Breakers(threshold=2, cooldown=10, clock=lambda: now[0], on_change=count_transition)

    def circuit_open() -> float:
        return otel.total("jamey.agent.circuit_open", **{"gen_ai.agent.id": "a1"})

    breakers.record_failure("a1", FailureKind.TIMEOUT)
    assert circuit_open() == 0
    breakers.record_failure("a1", FailureKind.TIMEOUT)  # opens
    assert circuit_open() == 1
    now[0] = 11
    assert breakers.allow("a1")  # half-open: still open
    breakers.record_failure("a1", FailureKind.TIMEOUT)  # the probe failed: open again
    assert circuit_open() == 1
    now[0] = 22
    assert breakers.allow("a1")
    breakers.record_success("a1")  # closed
    assert circuit_open() == 0
    assert {frozenset(attributes) for attributes, _ in otel.points("jamey.agent.circuit_open")} == {
        frozenset({"gen_ai.agent.id"})
    }


def test_forgetting_an_open_breaker_brings_the_count_down(otel: OtelCapture) -> None:
    breakers = Breakers(
        threshold=1, cooldown=10, on_change=count_transition, on_forget=count_forgotten
    )
    for agent_id in ("a1", "a2", "a3"):
        breakers.record_failure(agent_id, FailureKind.TIMEOUT)  # each opens
    breakers.record_failure("a4", FailureKind.STATUS_4XX)  # answered: stays closed
    assert otel.total("jamey.agent.circuit_open") == 3

    breakers.forget("a1")  # unregistered, or replaced
    breakers.forget("a4")  # was closed: nothing to count down
    assert otel.total("jamey.agent.circuit_open") == 2
    breakers.forget_all()  # the plugin shuts down
    assert otel.total("jamey.agent.circuit_open") == 0
    assert len(breakers) == 0


def test_a_change_that_is_no_change_records_nothing(otel: OtelCapture) -> None:
    circuit_changed("a1", was_open=False, is_open=False)
    circuit_changed("a1", was_open=True, is_open=True)

    assert otel.points("jamey.agent.circuit_open") == []


def test_the_url_user_info_path_and_query_never_get_in(otel: OtelCapture) -> None:
    url = f"https://user:{CANARY}@agents.example:8443/{CANARY}/api?key={CANARY}#{CANARY}"
    agent = agent_target("a1", "Agent a1", url, "jamey")
    with start_delivery(agent) as delivery:
        start_attempt(agent, resend_count=1).end(ok=False, status=401, error="Unauthorized")
        delivery.end(ok=False, attempts=1, error="Agent returned error status: 401")
    start_card_fetch(agent).end(ok=True, status=200)
    circuit_changed(agent.agent_id, was_open=False, is_open=True)

    assert CANARY not in repr(agent)
    texts = otel.everything()
    assert len(otel.spans()) == 3
    assert any("agents.example" in text for text in texts)
    assert not any(CANARY in text for text in texts)


def test_telemetry_keeps_nothing_per_agent(otel: OtelCapture) -> None:
    # A registry of 100,000 agents must not cost more with telemetry on: nothing this module
    # holds grows with the agents it saw (the SDK keeps the metric series, when installed).
    def sizes() -> dict[str, int]:
        return {
            name: len(value)
            for name, value in vars(telemetry).items()
            if isinstance(value, dict | list | set)
        }

    before = sizes()
    for number in range(200):
        agent = target(f"agent-{number}")
        with start_delivery(agent) as delivery:
            start_attempt(agent).end(ok=number % 2 == 0, status=200)
            delivery.end(ok=True, attempts=1)
    assert sizes() == before
    assert len(otel.spans()) == 400
    assert sum(point.value for _, point in otel.points("jamey.agent.requests")) == 200


def test_a_sampler_sees_the_attributes_of_an_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    # The conventions ask that the GenAI and server attributes be given at a span's start, where
    # a sampler decides. The global provider is set once per process (otel_setup), so this one
    # test gives the module a tracer of its own provider, with a sampler that writes down what
    # it was shown.
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    seen: list[dict[str, object]] = []

    class Recording(Sampler):
        def should_sample(self, *args: object, **kwargs: object) -> SamplingResult:
            attributes = kwargs.get("attributes")
            if attributes is None and len(args) > 4:
                attributes = args[4]
            seen.append(dict(attributes or {}))  # type: ignore[call-overload]
            return SamplingResult(Decision.RECORD_AND_SAMPLE)

        def get_description(self) -> str:
            return "recording"

    monkeypatch.setattr(telemetry, "_tracer", TracerProvider(sampler=Recording()).get_tracer("t"))
    start_attempt(target("a1"), resend_count=1).end(ok=True, status=200)

    assert seen == [
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": "a1",
            "gen_ai.agent.name": "Agent a1",
            "server.address": "agents.example",
            "server.port": 8443,
            "jamey.agent.protocol": "jamey",
            "http.request.resend_count": 1,
        }
    ]
