"""The runtime wired to jamey_host.telemetry: every ``execute_connector`` call is one span, however
it ends (success, failure, denial, a plugin that raises, a cancelled caller), under the host's
current span, with the connector's own spans under it, and counted in the two call metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from otel_setup import OtelCapture

from jamey_host import (
    ActionSpec,
    ApprovalRequest,
    AuditEvent,
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    ParamSpec,
    hookimpl,
)
from jamey_host.testing import RuntimeFactory

tracer = trace.get_tracer("tests.telemetry")
CANARY = "canary-param-9d2b71"


class Tools:
    """One connector, ``tools``, whose actions behave as their names say."""

    def __init__(
        self,
        capability: CapabilityLevel = CapabilityLevel.READ_ONLY,
        *,
        requires_approval: bool = False,
    ) -> None:
        self.capability = capability
        self.requires_approval = requires_approval
        self.release = asyncio.Event()

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [
            ConnectorSpec(
                id="tools",
                name="Tools",
                version="1.0.0",
                description="test connector",
                capability_level=self.capability,
                requires_approval=self.requires_approval,
                actions=("ok", "fail", "raise", "traced", "hang"),
            )
        ]

    @hookimpl
    async def execute_connector(
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        action = params.get("action")
        if action == "fail":
            return ConnectorResult.fail("Tool said no", "a second error")
        if action == "raise":
            raise ValueError(f"boom {params.get('secret')}")
        if action == "traced":  # what a connector that traces its own work does
            with tracer.start_as_current_span("tool work"):
                await asyncio.sleep(0)
        if action == "hang":
            await self.release.wait()
        return ConnectorResult.ok("done")


class Approver:
    def __init__(self, answer: bool) -> None:
        self.answer = answer

    @hookimpl
    def approve_execution(self, request: ApprovalRequest) -> bool:
        return self.answer


class CurrentSpanAtAudit:
    """An audit sink noting which span is current when each event reaches it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, trace.SpanContext]] = []

    @hookimpl
    def audit_event(self, event: AuditEvent) -> None:
        self.seen.append((event.event, trace.get_current_span().get_span_context()))


def attributes(otel: OtelCapture, name: str) -> dict[str, Any]:
    return dict(otel.span(name).attributes or {})


async def test_a_call_is_a_span_under_the_host_span_with_the_connector_spans_under_it(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Tools())
    with tracer.start_as_current_span("host request") as host:
        result = await runtime.execute_connector("tools", {"action": "traced", "x": CANARY})
        assert trace.get_current_span() is host  # the call's span is current only during it
    assert result.success

    call = otel.span("execute_connector tools")
    assert call.parent is not None
    assert call.parent.span_id == host.get_span_context().span_id
    work = otel.span("tool work")
    assert work.parent is not None
    assert work.parent.span_id == call.context.span_id
    assert attributes(otel, "execute_connector tools") == {
        "jamey.connector": "tools",
        "jamey.action": "traced",
        "jamey.outcome": "success",
    }
    assert call.status.status_code is StatusCode.UNSET
    assert otel.total("jamey.connector.calls", **{"jamey.outcome": "success"}) == 1
    ((duration_attributes, duration),) = otel.points("jamey.connector.duration")
    assert duration_attributes == {
        "jamey.connector": "tools",
        "jamey.action": "traced",
        "jamey.outcome": "success",
    }
    assert duration.count == 1
    assert not any(CANARY in text for text in otel.everything())


async def test_a_failed_call_is_an_error_described_by_its_first_error(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Tools())
    await runtime.execute_connector("tools", {"action": "fail"})

    span = otel.span("execute_connector tools")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Tool said no"
    assert otel.total("jamey.connector.calls", **{"jamey.outcome": "failure"}) == 1


async def test_a_plugin_that_raises_is_recorded_without_its_message(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Tools())
    result = await runtime.execute_connector("tools", {"action": "raise", "secret": CANARY})

    span = otel.span("execute_connector tools")
    assert span.status.description == result.errors[0]
    assert span.status.description.startswith("Connector tools failed: ValueError")
    assert not span.events  # no exception event: its message holds the param
    assert not any(CANARY in text for text in otel.everything())


async def test_a_capability_refusal_is_a_denied_call(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(
        Tools(CapabilityLevel.SYSTEM_ADMIN), capabilities=[CapabilityLevel.READ_ONLY]
    )
    result = await runtime.execute_connector("tools", {"action": "ok"})

    span = otel.span("execute_connector tools")
    assert (span.attributes or {})["jamey.outcome"] == "denied"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == result.errors[0]
    assert otel.total("jamey.connector.calls", **{"jamey.outcome": "denied"}) == 1


async def test_an_approval_refusal_is_a_denied_call(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Tools(requires_approval=True), Approver(False))
    result = await runtime.execute_connector("tools", {"action": "ok"})

    assert not result.success
    span = otel.span("execute_connector tools")
    assert (span.attributes or {})["jamey.outcome"] == "denied"
    assert span.status.description == result.errors[0]


async def test_unknown_connectors_and_actions_are_named_by_spans_and_other_in_metrics(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Tools())
    for name in ("typo-1", "typo-2"):
        await runtime.execute_connector(name, {"action": "ok"})
    for action in ("made-up-1", "made-up-2"):
        await runtime.execute_connector("tools", {"action": action})

    names = otel.span_names()
    assert names == [
        "execute_connector typo-1",
        "execute_connector typo-2",
        *["execute_connector tools"] * 2,
    ]
    assert [(span.attributes or {})["jamey.action"] for span in otel.spans()] == [
        "ok",
        "ok",
        "made-up-1",
        "made-up-2",
    ]
    series = {
        (point_attributes["jamey.connector"], point_attributes["jamey.action"]): point.value
        for point_attributes, point in otel.points("jamey.connector.calls")
    }
    assert series == {("_OTHER", "_OTHER"): 2, ("tools", "_OTHER"): 2}
    descriptions = [span.status.description for span in otel.spans()]
    assert descriptions[:2] == ["Connector not found: typo-1", "Connector not found: typo-2"]


async def test_invalid_params_are_a_failure_without_an_action(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Tools())
    await runtime.execute_connector("tools", {"action": "ok", "n": 1})  # type: ignore[dict-item]

    assert attributes(otel, "execute_connector tools") == {
        "jamey.connector": "tools",
        "jamey.outcome": "failure",
    }


async def test_a_cancelled_caller_ends_the_span_and_restores_the_context(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Tools())

    async def caller() -> None:
        with tracer.start_as_current_span("host request") as host:
            try:
                await runtime.execute_connector("tools", {"action": "hang"})
            finally:
                assert trace.get_current_span() is host

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    span = otel.span("execute_connector tools")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Cancelled before it finished"
    assert otel.span("host request").end_time is not None


async def test_the_audit_event_of_a_call_is_emitted_inside_its_span(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    sink = CurrentSpanAtAudit()
    runtime = await jamey_runtime(Tools(), sink)
    await runtime.execute_connector("tools", {"action": "ok"})

    [(event, context)] = [seen for seen in sink.seen if seen[0] == "connector.execute"]
    assert event == "connector.execute"
    span = otel.span("execute_connector tools")
    # So a log handler that adds the current trace to records ties the audit line to the trace.
    assert context.span_id == span.context.span_id
    assert context.trace_id == span.context.trace_id


class Locker:
    """A connector that, wrongly, names the secret it was given in its error."""

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        unlock = ActionSpec("unlock", params=(ParamSpec("pin", required=True, secret=True),))
        return [
            ConnectorSpec(
                id="locker",
                name="Locker",
                version="1.0.0",
                description="test connector",
                capability_level=CapabilityLevel.READ_ONLY,
                actions=(unlock,),
            )
        ]

    @hookimpl
    def execute_connector(self, params: Mapping[str, str]) -> ConnectorResult:
        return ConnectorResult.fail(f"wrong pin {params['pin']}; token {params['token']}")


async def test_a_failed_calls_status_never_shows_its_secret_params(
    otel: OtelCapture, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(Locker())
    pin, token = f"{CANARY}-pin", f"{CANARY}-token"  # secret by its spec, and by its name
    result = await runtime.execute_connector(
        "locker", {"action": "unlock", "pin": pin, "token": token}
    )

    assert not result.success
    span = otel.span("execute_connector locker")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "wrong pin ***; token ***"
    assert not any(CANARY in text for text in otel.everything())
