"""Audit events: one connector.execute per call, sinks isolated, the JSON-lines log sink."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping

import pytest

import jamey_host.audit
from jamey_host import (
    AUDIT_LOGGER_NAME,
    AuditEvent,
    CapabilityLevel,
    ConnectorResult,
    ExecutionContext,
    Runtime,
)
from jamey_host.testing import AuditEventList, JameyTestingAuditRecorder, RuntimeFactory

from .plugins import AsyncConnectorPlugin, ConnectorPlugin, RaisingSink, own_class


def _boom(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
    raise RuntimeError("plugin bug")


CASES = {
    "success": ("thing", {"action": "go", "token": "t-1"}, "success"),
    "failure": ("failing", {"action": "go"}, "failure"),
    "denied": ("admin", {"action": "go"}, "denied"),
    "not_found": ("missing", {"action": "go"}, "failure"),
    "bad_params": ("thing", {"n": 1}, "failure"),
    "exception": ("exploding", {"action": "go", "password": "pw"}, "failure"),
    "approval": ("guarded", {}, "denied"),
}


def _plugins() -> list[object]:
    return [
        ConnectorPlugin("thing"),
        own_class(
            ConnectorPlugin, "Failing", "failing", lambda n, p, c: ConnectorResult.fail("no")
        ),
        own_class(ConnectorPlugin, "Admin", "admin", capability=CapabilityLevel.SYSTEM_ADMIN),
        own_class(AsyncConnectorPlugin, "Exploding", "exploding", _boom),
        own_class(ConnectorPlugin, "Guarded", "guarded", requires_approval=True),
    ]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_exactly_one_execute_event_per_call(
    case: str, jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    name, params, outcome = CASES[case]
    runtime = await jamey_runtime(*_plugins())
    before = len(jamey_audit_events)
    result = await runtime.execute_connector(name, params, user_id="u", session_id="s")
    events = jamey_audit_events[before:]
    execute_events = [e for e in events if e.event == "connector.execute"]
    assert len(execute_events) == 1
    event = execute_events[0]
    assert event.outcome == outcome
    assert event.connector == name
    assert event.user_id == "u"
    assert event.session_id == "s"
    assert isinstance(event.details["duration_ms"], float | int)
    assert event.details["duration_ms"] >= 0
    assert "params" in event.details
    assert result.success is (outcome == "success")
    if not result.success:
        assert event.error is not None
        assert result.errors[0] in event.error


async def test_execute_event_params_are_redacted_and_action_recorded(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    params = {"action": "go", "api_key": "k-1", "nested_token": "t", "user": "bob"}
    runtime = await jamey_runtime(ConnectorPlugin())
    await runtime.execute_connector("thing", params)
    (event,) = jamey_audit_events.named("connector.execute")
    assert event.action == "go"
    assert dict(event.details["params"]) == {
        "action": "go",
        "api_key": "***",
        "nested_token": "***",
        "user": "bob",
    }
    assert "k-1" not in event.to_json()
    assert params["api_key"] == "k-1"


async def test_context_audit_events_are_stamped(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    def audited(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        ctx.audit("thing.step", outcome="warning", size=3, secret="hidden", error="went wrong")
        return ConnectorResult.ok()

    runtime = await jamey_runtime(ConnectorPlugin("thing", audited))
    await runtime.execute_connector("thing", {"action": "go"}, user_id="u1", session_id="s1")
    (event,) = jamey_audit_events.named("thing.step")
    assert event.outcome == "warning"
    assert (event.connector, event.action, event.user_id, event.session_id) == (
        "thing",
        "go",
        "u1",
        "s1",
    )
    assert dict(event.details) == {"size": 3, "secret": "***"}
    assert event.error == "went wrong"
    # the plugin's event comes before the call's own event
    assert [e.event for e in jamey_audit_events] == ["thing.step", "connector.execute"]


async def test_annotate_adds_details_to_the_calls_own_event(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    def annotated(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        ctx.annotate(agent="a1", attempts=2, api_key="k-canary")
        # the runtime's own entries are never replaced
        ctx.annotate(duration_ms=-1, params={"forged": "x"}, agents_contacted=["z"])
        ctx.annotate(error="not the call's error")
        return ConnectorResult.fail("real error", agents_contacted=["a1"])

    runtime = await jamey_runtime(ConnectorPlugin("thing", annotated))
    await runtime.execute_connector("thing", {"action": "go"})
    (event,) = jamey_audit_events  # no event of its own: one line per call
    assert event.event == "connector.execute"
    assert event.details["agent"] == "a1"
    assert event.details["attempts"] == 2
    assert event.details["api_key"] == "***"
    assert event.details["duration_ms"] >= 0
    assert event.details["params"] == {"action": "go"}
    assert event.details["agents_contacted"] == ["a1"]
    assert event.error == "real error"
    assert list(event.details)[:3] == ["duration_ms", "params", "agents_contacted"]


async def test_annotate_and_audit_are_no_ops_when_nobody_listens() -> None:
    contexts: list[ExecutionContext] = []

    def annotated(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        contexts.append(ctx)
        ctx.annotate(agent="a1")
        ctx.audit("thing.step", outcome="info")
        return ConnectorResult.ok()

    plugin = ConnectorPlugin("thing", annotated)
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        assert (await runtime.execute_connector("thing", {"action": "go"})).success
    assert not contexts[0].auditing


async def test_context_is_auditing_when_a_sink_listens(jamey_runtime: RuntimeFactory) -> None:
    plugin = ConnectorPlugin()
    runtime = await jamey_runtime(plugin)
    await runtime.execute_connector("thing", {})
    assert plugin.calls[0][2].auditing


def test_duration_ms_is_milliseconds_to_the_microsecond() -> None:
    started = 100.0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("time.perf_counter", lambda: 100.0123456)
        assert jamey_host.elapsed_ms(started) == 12.346


async def test_runtime_audit_outside_calls(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    runtime = await jamey_runtime()
    runtime.audit("host.note", outcome="info", connector="thing", token="t", n=1, error="e")
    (event,) = jamey_audit_events.named("host.note")
    assert event.outcome == "info"
    assert event.connector == "thing"
    assert event.action is None
    assert event.user_id is None
    assert dict(event.details) == {"token": "***", "n": 1}
    assert event.error == "e"


async def test_an_error_detail_is_redacted_like_any_other(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    runtime = await jamey_runtime()
    runtime.audit("x.happened", outcome="info", error={"api_key": "SEKRET", "code": 7})
    [event] = jamey_audit_events.named("x.happened")
    assert event.error is not None
    assert "SEKRET" not in event.error
    assert "'code': 7" in event.error


async def test_raising_sinks_break_neither_the_call_nor_other_sinks(
    caplog: pytest.LogCaptureFixture, jamey_audit_events: AuditEventList
) -> None:
    first, last = RaisingSink(), own_class(RaisingSink, "OtherRaisingSink")
    good = JameyTestingAuditRecorder(jamey_audit_events)
    plugins = [first, good, last, ConnectorPlugin()]
    with caplog.at_level(logging.ERROR, logger="jamey_host"):
        async with Runtime(plugins=plugins, load_entrypoints=False) as runtime:
            result = await runtime.execute_connector("thing", {})
    assert result.success
    assert len(jamey_audit_events.named("connector.execute")) == 1
    assert first.calls >= 1
    assert last.calls >= 1
    raised = [r for r in caplog.records if r.name == "jamey_host" and r.exc_info]
    assert len(raised) >= 2


async def test_builtin_sink_writes_one_json_line_per_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def audited(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        ctx.audit("thing.step", outcome="success")
        return ConnectorResult.ok()

    plugin = ConnectorPlugin("thing", audited)
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER_NAME):
        async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
            await runtime.execute_connector(
                "thing", {"action": "go", "password": "pw"}, user_id="u"
            )
            await runtime.execute_connector("missing", {})
    records = [r for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert all(r.levelno == logging.INFO for r in records)
    assert all("\n" not in r.getMessage() for r in records)
    lines = [json.loads(r.getMessage()) for r in records]
    assert [(line["event"], line["outcome"]) for line in lines] == [
        ("thing.step", "success"),
        ("connector.execute", "success"),
        ("connector.execute", "failure"),
    ]
    assert lines[1]["details"]["params"] == {"action": "go", "password": "***"}
    assert lines[1]["user_id"] == "u"
    assert lines[2]["error"] == "Connector not found: missing"
    assert set(lines[0]) == {
        "id",
        "timestamp",
        "event",
        "outcome",
        "connector",
        "action",
        "user_id",
        "session_id",
        "details",
        "error",
    }
    assert datetime.datetime.fromisoformat(lines[0]["timestamp"]).tzinfo is not None
    assert "pw" not in caplog.text


async def test_builtin_sink_writes_a_line_even_for_unencodable_bad_params(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER_NAME):
        async with Runtime(plugins=[ConnectorPlugin()], load_entrypoints=False) as runtime:
            result = await runtime.execute_connector("thing", {("a", "b"): "x"})  # type: ignore[dict-item]
    assert result.success is False
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert [line["event"] for line in lines] == ["connector.execute"]


async def test_no_event_is_built_when_nobody_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not logging.getLogger(AUDIT_LOGGER_NAME).isEnabledFor(logging.INFO)
    created: list[str] = []
    original = AuditEvent.create.__func__  # type: ignore[attr-defined]

    def counting(cls: type[AuditEvent], event: str, **kwargs: object) -> AuditEvent:
        created.append(event)
        return original(cls, event, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(AuditEvent, "create", classmethod(counting))

    def audited(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        ctx.audit("thing.step", outcome="success")
        return ConnectorResult.ok()

    async with Runtime(plugins=[ConnectorPlugin("thing", audited)], load_entrypoints=False) as rt:
        assert (await rt.execute_connector("thing", {})).success
        await rt.execute_connector("missing", {})
        rt.audit("host.note", outcome="info")
    assert created == []

    # and the counter does count when a sink listens
    async with Runtime(plugins=[JameyTestingAuditRecorder([])], load_entrypoints=False) as rt:
        rt.audit("host.note", outcome="info")
    assert created == ["host.note"]


def test_event_ids_unique_and_timestamps_utc() -> None:
    events = [AuditEvent.create("x.y", outcome="info") for _ in range(500)]
    assert len({e.id for e in events}) == 500
    assert all(isinstance(e.id, str) for e in events)
    for event in events[:5]:
        assert event.timestamp.tzinfo is not None
        assert event.timestamp.utcoffset() == datetime.timedelta(0)


def test_create_stamps_each_field_where_it_belongs() -> None:
    event = AuditEvent.create(
        "x.y",
        outcome="info",
        connector="c",
        action="a",
        user_id="the-user",
        session_id="the-session",
        error="e",
    )
    assert (event.connector, event.action, event.user_id, event.session_id, event.error) == (
        "c",
        "a",
        "the-user",
        "the-session",
        "e",
    )


@pytest.mark.parametrize("outcome", ["success", "failure", "denied", "warning", "info"])
def test_valid_outcomes(outcome: str) -> None:
    assert AuditEvent.create("x.y", outcome=outcome).outcome == outcome  # type: ignore[arg-type]


@pytest.mark.parametrize("outcome", ["ok", "SUCCESS", "", "error"])
def test_invalid_outcome_raises(outcome: str) -> None:
    with pytest.raises(ValueError, match="outcome"):
        AuditEvent.create("x.y", outcome=outcome)  # type: ignore[arg-type]


def test_create_redacts_details_and_to_json() -> None:
    event = AuditEvent.create(
        "x.y", outcome="info", details={"headers": {"Authorization": "Bearer k"}, "n": 1}
    )
    assert dict(event.details) == {"headers": {"Authorization": "***"}, "n": 1}
    data = json.loads(event.to_json())
    assert data["details"] == {"headers": {"Authorization": "***"}, "n": 1}
    assert data["id"] == event.id


def test_module_audit_logger_name() -> None:
    assert AUDIT_LOGGER_NAME == "jamey_host.audit"
    assert jamey_host.audit.AUDIT_LOGGER_NAME == AUDIT_LOGGER_NAME
