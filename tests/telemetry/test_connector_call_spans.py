"""jamey_host.telemetry with the SDK installed: the span and metrics of one execute_connector call.

These drive the facade as the runtime's ``Dispatcher.execute`` does: ``call = start_call(name,
actions)`` when the call begins (``actions``: what the connector's spec lists, ``None`` for a
connector the runtime does not have), ``call.end(outcome, result, action)`` in its ``finally``.
The runtime wired to it is tested in test_runtime_calls.py.
"""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from otel_setup import OtelCapture

from jamey_host import ConnectorResult
from jamey_host import telemetry as host_telemetry
from jamey_host.telemetry import start_call

tracer = trace.get_tracer("tests.telemetry")
ACTIONS = ("say",)


def test_the_api_is_there_in_the_test_environment() -> None:
    assert host_telemetry.ENABLED


def test_a_successful_call_is_one_span_with_exactly_the_contract_attributes(
    otel: OtelCapture,
) -> None:
    call = start_call("echo", ACTIONS)
    call.end("success", ConnectorResult.ok("{}"), "say")

    span = otel.span("execute_connector echo")
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes or {}) == {
        "jamey.connector": "echo",
        "jamey.action": "say",
        "jamey.outcome": "success",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.end_time is not None


@pytest.mark.parametrize("outcome", ["failure", "denied"])
def test_failures_and_denials_are_errors_described_by_the_first_error(
    otel: OtelCapture, outcome: str
) -> None:
    call = start_call("echo", ACTIONS)
    call.end(outcome, ConnectorResult.fail("Missing task", "second error"), "say")  # type: ignore[arg-type]

    span = otel.span("execute_connector echo")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Missing task"
    assert span.attributes is not None
    assert span.attributes["jamey.outcome"] == outcome


def test_a_failure_without_errors_is_still_an_error(otel: OtelCapture) -> None:
    start_call("echo", ACTIONS).end("failure", ConnectorResult(False), "say")

    span = otel.span("execute_connector echo")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None


def test_a_call_without_an_action_has_no_action_attribute(otel: OtelCapture) -> None:
    start_call("echo", ACTIONS).end("failure", ConnectorResult.fail("Invalid params"), None)

    assert dict(otel.span("execute_connector echo").attributes or {}) == {
        "jamey.connector": "echo",
        "jamey.outcome": "failure",
    }
    ((attributes, _),) = otel.points("jamey.connector.calls")
    assert attributes == {"jamey.connector": "echo", "jamey.outcome": "failure"}


def test_a_name_that_is_not_a_str_never_shows_its_repr(otel: OtelCapture) -> None:
    class Secretive:
        def __repr__(self) -> str:
            return "canary-repr-7f3a"

        __str__ = __repr__

    start_call(Secretive(), ACTIONS).end("failure", ConnectorResult.fail("not found"), None)

    assert otel.span_names() == ["execute_connector _OTHER"]
    assert not any("canary-repr-7f3a" in text for text in otel.everything())


def test_a_connector_the_runtime_does_not_have_is_named_by_its_span_only(
    otel: OtelCapture,
) -> None:
    # Its name is whatever the caller typed: the span says what was asked for, the metrics
    # keep one series for every such name.
    missing = ConnectorResult.fail("Connector not found: typo-4e1f")
    start_call("typo-4e1f", None).end("failure", missing, "say")

    span = otel.span("execute_connector typo-4e1f")
    assert dict(span.attributes or {}) == {
        "jamey.connector": "typo-4e1f",
        "jamey.action": "say",
        "jamey.outcome": "failure",
    }
    assert span.status.description == "Connector not found: typo-4e1f"  # the result's own error
    ((attributes, _),) = otel.points("jamey.connector.calls")
    assert attributes == {
        "jamey.connector": "_OTHER",
        "jamey.action": "_OTHER",
        "jamey.outcome": "failure",
    }


@pytest.mark.parametrize(
    "name", ["two words", "quote'd", "x" * 65, "", "-leading-dash", "tab\there", "é"]
)
def test_a_name_without_the_shape_of_an_id_is_other_everywhere(
    otel: OtelCapture, name: str
) -> None:
    start_call(name, None).end("failure", ConnectorResult.fail("Connector not found"), name)

    span = otel.span("execute_connector _OTHER")
    assert (span.attributes or {})["jamey.connector"] == "_OTHER"
    assert (span.attributes or {})["jamey.action"] == "_OTHER"


def test_an_action_the_spec_does_not_list_is_other_in_the_metrics(otel: OtelCapture) -> None:
    for action in ("say", "no-such-action-1", "no-such-action-2"):
        start_call("echo", ACTIONS).end("failure", ConnectorResult.fail("Unknown action"), action)

    actions = {
        attributes["jamey.action"]: point.value
        for attributes, point in otel.points("jamey.connector.calls")
    }
    assert actions == {"say": 1, "_OTHER": 2}  # two series, however many names callers invent
    assert [(span.attributes or {})["jamey.action"] for span in otel.spans()] == [
        "say",
        "no-such-action-1",
        "no-such-action-2",
    ]
    assert all(span.name == "execute_connector echo" for span in otel.spans())


def test_the_metrics_carry_exactly_the_three_attributes_and_seconds(otel: OtelCapture) -> None:
    for outcome in ("success", "success", "failure"):
        start_call("echo", ACTIONS).end(outcome, ConnectorResult(outcome == "success"), "say")  # type: ignore[arg-type]

    assert otel.total("jamey.connector.calls", **{"jamey.outcome": "success"}) == 2
    assert otel.total("jamey.connector.calls", **{"jamey.outcome": "failure"}) == 1
    durations = otel.points("jamey.connector.duration")
    assert {frozenset(attributes) for attributes, _ in durations} == {
        frozenset({"jamey.connector", "jamey.action", "jamey.outcome"})
    }
    assert sum(point.count for _, point in durations) == 3
    for _, point in durations:
        assert 0 <= point.sum < 1  # seconds: a call that does nothing takes far less than one
        assert point.explicit_bounds[0] == 0.005  # the seconds buckets, not the SDK's default


def test_the_current_span_is_the_parent_and_the_call_is_current_while_it_runs(
    otel: OtelCapture,
) -> None:
    with tracer.start_as_current_span("host request") as host:
        call = start_call("agents", ("send_task",))
        with tracer.start_as_current_span("agent request"):
            pass
        call.end("success", ConnectorResult.ok(), "send_task")
        assert trace.get_current_span() is host  # restored when the call ended

    spans = {span.name: span for span in otel.spans()}
    call_span = spans["execute_connector agents"]
    assert call_span.parent is not None
    assert call_span.parent.span_id == spans["host request"].context.span_id
    child = spans["agent request"]
    assert child.parent is not None
    assert child.parent.span_id == call_span.context.span_id
    assert child.context.trace_id == spans["host request"].context.trace_id


def test_a_second_end_records_nothing_more(otel: OtelCapture) -> None:
    call = start_call("echo", ACTIONS)
    call.end("success", ConnectorResult.ok(), "say")
    call.end("failure", ConnectorResult.fail("again"), "say")

    assert otel.span_names() == ["execute_connector echo"]
    assert otel.span("execute_connector echo").status.status_code is StatusCode.UNSET
    assert otel.total("jamey.connector.calls") == 1


async def test_concurrent_calls_each_parent_their_own_children(otel: OtelCapture) -> None:
    async def one_call(name: str) -> None:
        call = start_call(name, ACTIONS)
        try:
            await asyncio.sleep(0.01)  # both calls are open at once
            with tracer.start_as_current_span(f"work of {name}"):
                await asyncio.sleep(0)
        finally:
            call.end("success", ConnectorResult.ok(), "say")

    async with asyncio.TaskGroup() as group:
        group.create_task(one_call("a"))
        group.create_task(one_call("b"))

    spans = {span.name: span for span in otel.spans()}
    for name in ("a", "b"):
        work = spans[f"work of {name}"]
        assert work.parent is not None
        assert work.parent.span_id == spans[f"execute_connector {name}"].context.span_id
        assert spans[f"execute_connector {name}"].parent is None  # no host span: a root


async def test_a_cancelled_call_ends_its_span_in_the_finally(otel: OtelCapture) -> None:
    cancelled = ConnectorResult(False, errors=["Cancelled before it finished"])

    async def call_that_hangs() -> None:
        call = start_call("slow", ("wait",))
        try:
            await asyncio.sleep(10)
        finally:
            call.end("failure", cancelled, "wait")

    task = asyncio.create_task(call_that_hangs())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    span = otel.span("execute_connector slow")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Cancelled before it finished"
