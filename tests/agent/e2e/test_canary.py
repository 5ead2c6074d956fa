"""A canary API key driven through every path of the connector must never leak anywhere.

Every logger is at DEBUG, the runtime's JSON-lines audit sink is on, and a sink plugin keeps every
audit event; the canary must appear in no log record, no audit event, no result, no exception, no
``repr`` of the plugin's objects, and no span or metric (the suite's in-memory OpenTelemetry
SDK). The agents do receive it (the test checks that too), so a missing leak is not a missing key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from jamey_agent_orchestration.model import ApiKey
from jamey_host.testing import AuditEventList

from .canary import (
    CANARY,
    REBOUND_HOST,
    Calls,
    assert_not_in_telemetry,
    assert_nothing_leaked,
    echo,
    loop_errors_kept,
    reprs_of,
    resolve_to_loopback,
    watch_at_debug,
)

if TYPE_CHECKING:
    from otel_setup import OtelCapture

    from jamey_agent_orchestration.testing import AgentServerFactory
    from jamey_agent_orchestration.testing.agents import RecordingAgent

    from ..connector import Connector, MakeConnector


async def test_canary_key_never_leaks_through_the_runtime(
    otel: OtelCapture,
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    jamey_audit_events: AuditEventList,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watch_at_debug(caplog)
    calls = Calls()
    with loop_errors_kept() as loop_errors:
        connectors, ok = await drive_every_path(
            make_connector, jamey_agent_server, calls, monkeypatch
        )
        reprs = [text for connector in connectors for text in await reprs_of(connector)]

    # The canary was really used: it reached the agents on the wire.
    assert ok.requests[0].headers["Authorization"] == f"Bearer {CANARY}"

    # The built-in JSON audit sink wrote lines, and sink plugins got events.
    audit_lines = [r for r in caplog.records if r.name == "jamey_host.audit"]
    assert audit_lines, "the JSON-lines audit sink wrote nothing"
    assert jamey_audit_events
    assert {"agent.task_sent", "agent.task_failed", "agent.broadcast"} <= {
        event.event for event in jamey_audit_events
    }

    assert_nothing_leaked(caplog, jamey_audit_events, calls, reprs, loop_errors)
    attempts = ["invoke_agent ok", "invoke_agent flaky", "invoke_agent tls-mismatch"]
    assert_not_in_telemetry(otel, CANARY, spans=[*attempts, "broadcast", "POST /api/v1/tasks"])


async def drive_every_path(
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[tuple[Connector, Connector], RecordingAgent]:
    """Every success and failure path, each with the canary as the registered key."""
    connector = await make_connector(timeout="0.5", retries="2", max_response_bytes="2000")
    strict = await make_connector(allow_networks="", timeout="0.5", retries="2")
    handlers = {"echo": echo}

    async def agent(name: str, **kwargs: Any) -> RecordingAgent:
        return await jamey_agent_server(handlers=handlers, name=name, api_key=CANARY, **kwargs)

    ok = await agent("ok")
    other_key = await jamey_agent_server(handlers=handlers, name="other", api_key="other-key")
    flaky = await agent("flaky")
    flaky.fail_next(503, times=1)
    slow = await agent("slow", delay=5.0)
    redirecting = await agent("redirecting")
    redirect_target = await agent("target")
    redirecting.redirect_to(redirect_target.url + "/api/v1/tasks", status=307)
    html = await agent("html")
    html.respond_with(200, b"<html>" + CANARY.encode() + b"</html>", content_type="text/html")
    huge = await agent("huge")
    huge.respond_with(200, json.dumps({"blob": "x" * 10_000}))
    gone = await agent("gone")
    await gone.close()
    resolve_to_loopback(monkeypatch, REBOUND_HOST)
    rebound = f"https://{REBOUND_HOST}:{ok.port}"

    # register: ok, duplicate, replace, refusals
    assert (await calls.register(connector, "ok", ok.url, capabilities="cap")).success
    duplicate = await calls.register(connector, "ok", ok.url)
    assert duplicate.errors == ["Agent already registered: ok"]
    assert (
        await calls.register(connector, "ok", ok.url, capabilities="cap", replace="true")
    ).success
    refused = await calls.register(connector, "private", "https://10.0.0.1:8443")
    assert refused.errors[0].startswith("Security violation:")
    refused = await calls.register(connector, "plain", f"http://127.0.0.1:{ok.port}")
    assert refused.errors[0].startswith("Security violation: Agent URLs must use HTTPS")
    refused = await calls.register(strict, "loop", ok.url)
    assert refused.errors[0].startswith("Security violation:")
    invalid = await calls.register(connector, "bad id!", ok.url)
    assert not invalid.success
    for agent_id, server in [
        ("wrong-key", other_key),
        ("flaky", flaky),
        ("slow", slow),
        ("redirecting", redirecting),
        ("html", html),
        ("huge", huge),
        ("gone", gone),
    ]:
        assert (await calls.register(connector, agent_id, server.url)).success
    assert (await calls.register(connector, "tls-mismatch", rebound)).success
    assert (await calls.register(strict, "rebound", rebound)).success

    # send_task down every path
    expected = {
        "ok": None,
        "wrong-key": "Agent returned error status: 401",
        "flaky": None,
        "slow": "Failed to send task to agent",
        "redirecting": "Agent returned error status: 307",
        "html": "Failed to send task to agent",
        "huge": "Failed to send task to agent",
        "gone": "Failed to send task to agent",
        "tls-mismatch": "Certificate validation failed",
    }
    for agent_id, error in expected.items():
        result = await calls.run(
            connector, "send_task", agent_id=agent_id, task="echo", param_a="1"
        )
        if error is None:
            assert result.success, (agent_id, result.errors)
        else:
            assert result.errors[0].startswith(error), (agent_id, result.errors)
    assert len(flaky.requests) == 2
    assert redirect_target.requests == []
    refused_send = await calls.run(strict, "send_task", agent_id="rebound", task="echo")
    assert refused_send.errors[0].startswith("Security violation:")
    assert (await calls.run(connector, "send_task", capability="cap", task="echo")).success

    # broadcast, list, unregister
    broadcast = await calls.run(connector, "broadcast", task="echo")
    assert broadcast.success
    assert broadcast.metadata["succeeded"] == "2"  # ok and flaky
    assert (await calls.run(strict, "broadcast", task="echo")).success
    listing = await calls.run(connector, "list_agents")
    assert len(listing.json()) == 9
    for agent_id in ("ok", "wrong-key", "gone"):
        assert (await calls.run(connector, "unregister_agent", agent_id=agent_id)).success
    missing = await calls.run(connector, "unregister_agent", agent_id="ok")
    assert missing.errors == ["Agent not found: ok"]
    assert (await calls.run(strict, "list_agents")).success
    return (connector, strict), ok


async def test_agent_repr_shows_no_key(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    server = await jamey_agent_server(name="a1", api_key=CANARY)
    assert (await connector.register("a1", server)).success
    [agent] = await connector.plugin.store.list()
    assert CANARY not in repr(agent)
    assert "api_key" not in repr(agent)
    assert agent.api_key.reveal() == CANARY
    assert repr(agent.api_key) == "ApiKey('***')"
    assert CANARY not in json.dumps(agent.public())
    with pytest.raises(TypeError):
        json.dumps(attrs.asdict(agent))


def test_api_key_cannot_be_serialised_or_pickled() -> None:
    import copy
    import pickle

    key = ApiKey(CANARY)
    assert CANARY not in f"{key!r} {key!s} {key}"
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.deepcopy(key)
