"""The W3C trace context the official SDK's server receives from the connector, on both bindings:
the card fetch of a registration and every task request carry the ``traceparent`` of their own
attempt span, and each attempt records the task id and state the SDK answered with."""

from __future__ import annotations

import pytest
from a2a_peer import A2APeer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from otel_setup import OtelCapture

from .helpers import Interop, ok

pytestmark = pytest.mark.asyncio(loop_scope="module")

tracer = trace.get_tracer("tests.a2a_interop")
CALL = "execute_connector agent_orchestration"


def traceparent_of(span: ReadableSpan) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


async def test_the_card_fetch_carries_the_traceparent_of_its_span(
    otel: OtelCapture, interop: Interop, fresh_peer: A2APeer
) -> None:
    with tracer.start_as_current_span("host request") as host:
        agent_id = await interop.register("traced", fresh_peer)

    fetch = otel.span(f"fetch_agent_card {agent_id}")
    call = otel.span(CALL)
    assert fetch.parent is not None
    assert fetch.parent.span_id == call.context.span_id
    assert call.parent is not None
    assert call.parent.span_id == host.get_span_context().span_id
    [card_request] = fresh_peer.requests
    assert card_request.headers["traceparent"] == traceparent_of(fetch)
    assert fetch.context.trace_id == host.get_span_context().trace_id


async def test_each_task_request_carries_the_traceparent_of_its_attempt(
    otel: OtelCapture, interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("tasks", fresh_peer)
    otel.reset()

    started = ok(await interop.call("send_task", agent_id=agent_id, task="slow work", wait="false"))
    task_id = started.metadata["task_id"]
    polled = ok(await interop.call("get_task", agent_id=agent_id, task_id=task_id))
    cancelled = ok(await interop.call("cancel_task", agent_id=agent_id, task_id=task_id))

    attempts = [span for span in otel.spans() if span.name == f"invoke_agent {agent_id}"]
    assert [request.headers["traceparent"] for request in fresh_peer.calls()] == [
        traceparent_of(attempt) for attempt in attempts
    ]
    # Each attempt records the state of the Task in its own answer, as the caller saw it.
    states = [(attempt.attributes or {}).get("jamey.a2a.task_state") for attempt in attempts]
    assert states == [result.metadata["state"] for result in (started, polled, cancelled)]
    assert states[-1] == "TASK_STATE_CANCELED"
    assert {(attempt.attributes or {}).get("jamey.a2a.task_id") for attempt in attempts} == {
        task_id
    }
    calls = [span for span in otel.spans() if span.name == CALL]
    for attempt, call in zip(attempts, calls, strict=True):
        assert attempt.parent is not None
        assert attempt.parent.span_id == call.context.span_id


async def test_a_retried_request_sends_a_new_traceparent_each_time(
    otel: OtelCapture, interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("retried", fresh_peer)
    fresh_peer.reset()
    fresh_peer.fail_next(503, times=1, headers={"Retry-After": "0"})
    otel.reset()

    ok(await interop.call("send_task", agent_id=agent_id, task="hello"))

    attempts = [span for span in otel.spans() if span.name == f"invoke_agent {agent_id}"]
    sent = [request.headers["traceparent"] for request in fresh_peer.calls()]
    assert sent == [traceparent_of(attempt) for attempt in attempts]
    assert len(set(sent)) == 2
    assert [
        (attempt.attributes or {}).get("http.response.status_code") for attempt in attempts
    ] == [
        503,
        200,
    ]
    assert (attempts[1].attributes or {})["jamey.a2a.task_state"] == "TASK_STATE_COMPLETED"
