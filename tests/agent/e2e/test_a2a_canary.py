"""A canary key driven through every A2A path, at DEBUG for every logger (issue 11 item 7).

The A2A agents here are the reference agent in A2A mode and hostile agents of the tests' own,
registered with the canary as their key; the canary must reach them on the wire, and appear in no
log record, audit event, result, exception, ``repr``, span or metric.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from jamey_agent_orchestration.testing.server import TaskError, TaskRequest
from jamey_host.testing import AuditEventList

from .canary import (
    CANARY,
    LOGGERS,
    Calls,
    assert_not_in_telemetry,
    assert_nothing_leaked,
    loop_errors_kept,
    reprs_of,
    resolve_to_loopback,
    watch_at_debug,
)

if TYPE_CHECKING:
    from otel_setup import OtelCapture

    from jamey_agent_orchestration.testing import AgentServerFactory, RecordingAgent

    from ..connector import Connector, MakeConnector

CARD_PATH = "/.well-known/agent-card.json"
REBOUND = "a2a-canary.example.test"


def refuse(request: TaskRequest) -> Any:
    raise TaskError(f"refused {request.params.get('why', '')}")


def echo(request: TaskRequest) -> Any:
    return dict(request.params)


HANDLERS = {"echo": echo, "refuse": refuse}


async def test_a_canary_key_never_leaks_through_the_a2a_paths(
    otel: OtelCapture,
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    jamey_audit_events: AuditEventList,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watch_at_debug(
        caplog, (*LOGGERS, "jamey_agent_orchestration.net", "jamey_agent_orchestration.testing")
    )
    calls = Calls()
    with loop_errors_kept() as loop_errors:
        connector, ref = await drive_every_a2a_path(
            make_connector, jamey_agent_server, calls, monkeypatch
        )
        reprs = await reprs_of(connector)

    # The canary was really used: it reached the agent on the wire, never on a card fetch.
    rpc = [r for r in ref.requests if r.path == "/a2a/jsonrpc"]
    assert rpc[0].headers["Authorization"] == f"Bearer {CANARY}"
    assert all("Authorization" not in r.headers for r in ref.requests if r.path == CARD_PATH)
    names = {event.event for event in jamey_audit_events}
    assert {"agent.registered", "agent.register_refused", "agent.response_scrubbed"} <= names
    assert {"agent.task_sent", "agent.task_failed", "agent.broadcast"} <= names
    assert [r for r in caplog.records if r.name == "jamey_host.audit"], "no JSON audit line"
    assert_nothing_leaked(caplog, jamey_audit_events, calls, reprs, loop_errors)
    spans = ["fetch_agent_card ref", "invoke_agent ref", "invoke_agent echoer", "deliver_task ref"]
    assert_not_in_telemetry(otel, CANARY, spans=[*spans, "POST /a2a/jsonrpc"])


async def drive_every_a2a_path(
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Connector, RecordingAgent]:
    connector = await make_connector(timeout="0.5", retries="2", max_response_bytes="4000")

    async def a2a(name: str, **kwargs: Any) -> RecordingAgent:
        return await jamey_agent_server(
            handlers=HANDLERS, name=name, api_key=CANARY, protocol="a2a", **kwargs
        )

    async def register(agent_id: str, url: str, **extra: str) -> Any:
        return await calls.run(
            connector,
            "register_agent",
            agent_id=agent_id,
            url=url,
            api_key=CANARY,
            protocol="a2a",
            **extra,
        )

    ref = await a2a("ref")
    other_key = await jamey_agent_server(handlers=HANDLERS, name="other", protocol="a2a")
    flaky = await a2a("flaky")
    slow = await a2a("slow")
    html = await a2a("html")
    huge = await a2a("huge")
    echoer = await a2a("echoer")
    echoer.serve_with(key_echoing(echoer))
    bad_card = await a2a("bad-card")
    bad_card.respond_with(200, b'{"name": "no interfaces"}', times=1)
    private_card = await a2a("private-card")
    private_card.respond_with(200, json.dumps(card("https://10.0.0.9/a2a")), times=1)
    redirecting = await a2a("redirecting")
    redirecting.redirect_to(ref.url + CARD_PATH, status=307, times=1)
    gone = await a2a("gone")
    await gone.close()
    jamey = await jamey_agent_server(handlers=HANDLERS, name="jamey", api_key=CANARY)
    resolve_to_loopback(monkeypatch, REBOUND)

    # register_agent: from the card, refused, invalid, unreachable
    assert (await register("ref", ref.url, capabilities="cap")).success
    assert not (await register("ref", ref.url)).success  # a duplicate
    assert (await register("ref", ref.url, capabilities="cap", replace="true")).success
    for agent_id, server in [
        ("wrong-key", other_key),
        ("flaky", flaky),
        ("slow", slow),
        ("html", html),
        ("huge", huge),
        ("echoer", echoer),
    ]:
        assert (await register(agent_id, server.url)).success, agent_id
    for agent_id, url, error in [
        ("bad-card", bad_card.url, "Invalid agent card:"),
        ("private-card", private_card.url, "Security violation:"),
        ("redirecting", redirecting.url, "Failed to fetch agent card:"),
        ("gone", gone.url, "Failed to fetch agent card:"),
        ("plain", ref.url.replace("https:", "http:"), "Security violation:"),
    ]:
        result = await register(agent_id, url)
        assert result.errors[0].startswith(error), (agent_id, result.errors)
    strict = await make_connector(allow_networks="")
    rebound = await calls.run(
        strict,
        "register_agent",
        agent_id="rebound",
        url=f"https://{REBOUND}:{ref.port}",
        api_key=CANARY,
        protocol="a2a",
    )
    assert rebound.errors[0].startswith("Security violation:")
    assert (
        await calls.run(
            connector,
            "register_agent",
            agent_id="jamey",
            name="Jamey",
            url=jamey.url,
            api_key=CANARY,
            capabilities="cap",
        )
    ).success

    # send_task down every path
    flaky.fail_next(503, times=1, headers={"Retry-After": "0"})
    slow.delay = 2.0
    html.respond_with(200, b"<html>" + CANARY.encode() + b"</html>", content_type="text/html")
    huge.respond_with(200, json.dumps({"blob": "x" * 10_000}))
    expected = {
        "ref": None,
        "wrong-key": "Agent returned error status: 401",
        "flaky": None,
        "slow": "Failed to send task to agent",
        "html": "Failed to send task to agent",
        "huge": "Failed to send task to agent",
        "echoer": None,
    }
    for agent_id, error in expected.items():
        result = await calls.run(
            connector, "send_task", agent_id=agent_id, task="echo", param_why=CANARY[:6]
        )
        if error is None:
            assert result.success, (agent_id, result.errors)
        else:
            assert result.errors[0].startswith(error), (agent_id, result.errors)
    failed = await calls.run(connector, "send_task", agent_id="ref", task="refuse")
    assert failed.errors[0].startswith("Agent task ended in state TASK_STATE_FAILED")
    asked = await calls.run(connector, "send_task", agent_id="ref", task="needs_input")
    assert asked.warnings
    continued = await calls.run(
        connector,
        "send_task",
        agent_id="ref",
        task="more",
        task_id=asked.metadata["task_id"],
        context_id=asked.metadata["context_id"],
    )
    assert continued.success, continued.errors
    assert (await calls.run(connector, "send_task", capability="cap", task="echo")).success

    # long tasks: started, polled, cancelled
    started = await calls.run(
        connector, "send_task", agent_id="ref", task="long_task", wait="false"
    )
    task_id = started.metadata["task_id"]
    assert (await calls.run(connector, "get_task", agent_id="ref", task_id=task_id)).success
    assert (await calls.run(connector, "cancel_task", agent_id="ref", task_id=task_id)).success
    again = await calls.run(connector, "cancel_task", agent_id="ref", task_id=task_id)
    assert again.errors[0].startswith("Agent returned error: -32002")
    unknown = await calls.run(connector, "get_task", agent_id="ref", task_id="no-such")
    assert unknown.errors[0].startswith("Agent returned error: -32001")
    queried = await calls.run(connector, "get_task", agent_id="echoer", task_id="t")
    assert queried.errors == ["Agent returned error: -32001 no task for Bearer ***"]
    refused = await calls.run(connector, "get_task", agent_id="jamey", task_id="t")
    assert refused.errors == ["Action not supported by protocol jamey: get_task"]

    # broadcast over both protocols, list, unregister
    slow.delay = 0.0
    broadcast = await calls.run(connector, "broadcast", task="echo")
    assert broadcast.success
    assert json.loads(broadcast.output)["echoer"]["artifacts"][0]["parts"][0]["data"] == {
        "seen": "Bearer ***"
    }
    listing = await calls.run(connector, "list_agents")
    assert len(json.loads(listing.output)) == 8
    for agent_id in ("ref", "echoer", "jamey"):
        assert (await calls.run(connector, "unregister_agent", agent_id=agent_id)).success
    return connector, ref


def card(url: str) -> dict[str, Any]:
    interface = {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    return {"name": "Card", "supportedInterfaces": [interface]}


def key_echoing(agent: RecordingAgent) -> Any:
    """An A2A agent that puts what it was sent everywhere it can: task, ids, errors."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == CARD_PATH:
            return web.json_response(card(f"{agent.url}/a2a/jsonrpc"))
        call = await request.json()
        seen = request.headers.get("Authorization", "")
        if call["method"] != "SendMessage":
            error = {"code": -32001, "message": f"no task for {seen}"}
            return web.json_response({"jsonrpc": "2.0", "id": call["id"], "error": error})
        task = {
            "id": f"t-{seen}",
            "contextId": "c",
            "status": {"state": "TASK_STATE_COMPLETED"},
            "artifacts": [{"artifactId": "a", "parts": [{"data": {"seen": seen}}]}],
        }
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "result": {"task": task}})

    return handle
