"""Address policy, TLS and the audit trail of the connector, through the runtime."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jamey_agent_orchestration.testing import ThrowawayCA
from jamey_agent_orchestration.testing.server import TaskRequest

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory
    from jamey_agent_orchestration.testing.agents import RecordingAgent
    from jamey_host.testing import AuditEventList

    from ..connector import Connector, MakeConnector

REBOUND_HOST = "agent.example.test"


def echo(request: TaskRequest) -> dict[str, Any]:
    return {"task": request.task, "params": dict(request.params)}


async def start(factory: AgentServerFactory, name: str = "agent", **kwargs: Any) -> RecordingAgent:
    return await factory(handlers={"echo": echo}, name=name, **kwargs)


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, host: str) -> list[str]:
    """Make ``host`` resolve to 127.0.0.1 on the running loop (aiohttp's ThreadedResolver)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    lookups: list[str] = []

    async def getaddrinfo(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            lookups.append(name)
            infos = await real("127.0.0.1", port, *args, **kwargs)
            return [info for info in infos if info[0] == socket.AF_INET]
        return await real(name, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return lookups


# -- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.2",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "[64:ff9b::808:808]",
        "[2002:7f00:1::]",
        "[fe80::1]",
        "[fd00::1]",
        "localhost",
        "api.localhost",
        "2130706433",
        "127.1",
        "0x7f000001",
    ],
)
async def test_private_and_loopback_urls_are_refused_at_registration(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory, host: str
) -> None:
    connector = await make_connector(allow_networks="")
    agent = await start(jamey_agent_server)
    result = await connector.register("a1", f"https://{host}:{agent.port}", api_key="k-123")
    assert not result.success
    assert result.errors[0].startswith("Security violation:"), result.errors
    assert await connector.listed() == []
    [refused] = connector.named("agent.register_refused")
    assert refused.outcome == "denied"
    assert refused.error == result.errors[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@agent.example.com",
        "https://agent.example.com/?x=1",
        "ftp://agent.example.com",
        "https://",
    ],
)
async def test_malformed_urls_are_refused(connector: Connector, url: str) -> None:
    result = await connector.register("a1", url, api_key="k-123")
    assert not result.success
    assert result.errors[0].startswith("Security violation:"), result.errors
    assert "pw" not in result.errors[0]


@pytest.mark.parametrize("url", ["https://8.8.8.8:0/", "https://agent.example.com:65536"])
async def test_a_port_outside_1_to_65535_is_refused_at_registration(
    connector: Connector, url: str
) -> None:
    result = await connector.register("a1", url, api_key="k-123")
    assert result.errors == ["Security violation: Agent URL port must be a number from 1 to 65535"]
    [refused] = connector.named("agent.register_refused")
    assert (refused.outcome, refused.error) == ("denied", result.errors[0])
    assert await connector.listed() == []


async def test_allow_networks_exempts_only_the_listed_networks(connector: Connector) -> None:
    assert (await connector.register("lo", "https://127.0.0.5:8443", api_key="k")).success
    refused = await connector.register("private", "https://10.0.0.1:8443", api_key="k")
    assert refused.errors[0].startswith("Security violation:")
    assert [entry["id"] for entry in await connector.listed()] == ["lo"]


async def test_localhost_is_dialled_and_checked_when_loopback_is_allowed(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await start(jamey_agent_server)
    url = f"https://localhost:{agent.port}"
    assert (await connector.register("a1", url, api_key=agent.api_key)).success
    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert result.success, result.errors
    assert len(agent.requests) == 1


# -- connect time: DNS rebinding and TLS host names ------------------------------------------


async def test_name_resolving_to_loopback_is_refused_at_connect_time(
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connector = await make_connector(allow_networks="")
    agent = await start(jamey_agent_server)
    lookups = resolve_to_loopback(monkeypatch, REBOUND_HOST)
    url = f"https://{REBOUND_HOST}:{agent.port}"
    registered = await connector.register("rebind", url, api_key=agent.api_key)
    assert registered.success, registered.errors  # a name is judged when it is dialled

    result = await connector.call("send_task", agent_id="rebind", task="echo")
    assert not result.success
    assert result.errors[0].startswith("Security violation:"), result.errors
    assert "127.0.0.1" in result.errors[0]
    assert lookups, "the name was never resolved through the loop"
    assert agent.requests == []
    assert result.agents_contacted == []
    failed = connector.last_execute()
    assert failed.outcome == "failure"
    assert failed.details["attempts"] == 0
    assert failed.error == result.errors[0]


async def test_rebinding_is_refused_in_a_broadcast_too(
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connector = await make_connector(allow_networks="")
    agent = await start(jamey_agent_server)
    resolve_to_loopback(monkeypatch, REBOUND_HOST)
    url = f"https://{REBOUND_HOST}:{agent.port}"
    assert (await connector.register("rebind", url, api_key=agent.api_key)).success
    result = await connector.call("broadcast", task="echo")
    assert result.success
    assert result.json()["rebind"]["error"].startswith("Security violation:")
    assert result.metadata["failed"] == "1"
    assert result.agents_contacted == []
    assert agent.requests == []


async def test_tls_host_name_is_verified_when_the_address_is_allowed(
    connector: Connector, jamey_agent_server: AgentServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await start(jamey_agent_server)  # certificate: 127.0.0.1, localhost, ::1 only
    lookups = resolve_to_loopback(monkeypatch, REBOUND_HOST)
    url = f"https://{REBOUND_HOST}:{agent.port}"
    assert (await connector.register("other-name", url, api_key=agent.api_key)).success

    result = await connector.call("send_task", agent_id="other-name", task="echo")
    assert not result.success
    assert result.errors[0].startswith("Certificate validation failed"), result.errors
    assert lookups
    assert agent.requests == []
    assert connector.last_execute().details["attempts"] == 1  # certificate errors are not retried


async def test_a_ca_outside_ca_bundle_is_not_trusted(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory, tmp_path: Path
) -> None:
    other_ca = ThrowawayCA(tmp_path)  # its files are removed with tmp_path
    connector = await make_connector(ca_bundle=str(other_ca.ca_path))
    agent = await start(jamey_agent_server)
    assert (await connector.register("a1", agent)).success
    result = await connector.call("send_task", agent_id="a1", task="echo")
    assert not result.success
    assert result.errors[0].startswith("Certificate validation failed"), result.errors
    assert agent.requests == []


# -- audit -----------------------------------------------------------------------------------


async def test_allow_networks_warning_is_audited_at_startup(make_connector: MakeConnector) -> None:
    connector = await make_connector(allow_networks="127.0.0.0/8, 10.9.0.0/16")
    warnings = [
        event
        for event in connector.events
        if event.outcome == "warning" and event.connector == "agent_orchestration"
    ]
    assert len(warnings) == 1
    assert "127.0.0.0/8" in warnings[0].to_json()
    assert "10.9.0.0/16" in warnings[0].to_json()


async def test_no_allow_networks_warning_without_allow_networks(
    make_connector: MakeConnector,
) -> None:
    connector = await make_connector(allow_networks="")
    assert not [event for event in connector.events if event.outcome == "warning"]


async def test_every_operation_is_audited(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await start(jamey_agent_server)
    connector.events.clear()
    origin = agent.url  # https://127.0.0.1:PORT

    assert (await connector.register("a1", agent, capabilities="c")).success
    [registered] = connector.named("agent.registered")
    assert registered.outcome == "success"
    assert registered.details["agent_id"] == "a1"
    assert registered.details["origin"] == origin
    assert registered.user_id == "tester"
    assert registered.action == "register_agent"

    assert not (await connector.register("a1", agent)).success
    [duplicate] = connector.named("agent.register_refused")
    assert duplicate.error == "Agent already registered: a1"
    assert duplicate.details["agent_id"] == "a1"
    assert duplicate.outcome in ("failure", "denied")

    assert not (await connector.register("bad", "https://10.0.0.1", api_key="k")).success
    security = connector.named("agent.register_refused")[-1]
    assert security.outcome == "denied"
    assert security.error is not None
    assert security.error.startswith("Security violation:")

    # send_task: one event, the call's own, describes the delivery
    assert (await connector.call("send_task", agent_id="a1", task="echo", param_x="1")).success
    sent = connector.last_execute()
    assert sent.outcome == "success"
    assert sent.action == "send_task"
    assert sent.details["agent_id"] == "a1"
    assert sent.details["params"]["task"] == "echo"
    assert sent.details["status"] == 200
    assert sent.details["attempts"] == 1
    assert sent.details["origin"] == origin
    assert connector.named("agent.task_sent") == []

    # a URL with a path: the audit names the origin only
    assert (await connector.register("pathy", agent.url + "/deep/path", api_key="k")).success
    assert connector.named("agent.registered")[-1].details["origin"] == origin
    assert not (await connector.call("send_task", agent_id="pathy", task="echo")).success
    failed = connector.last_execute()
    assert failed.outcome == "failure"
    assert failed.details["agent_id"] == "pathy"
    assert failed.details["status"] == 404
    assert failed.details["attempts"] == 1
    assert failed.details["origin"] == origin
    assert failed.error == "Agent returned error status: 404: Not Found"
    assert "/deep/path" not in failed.to_json()

    result = await connector.call("broadcast", task="echo")
    assert result.success
    [summary] = connector.named("agent.broadcast")
    assert summary.details["task"] == "echo"
    assert summary.details["agents"] == 2
    assert summary.details["succeeded"] == 1
    assert summary.details["failed"] == 1
    # a broadcast audits each delivery on its own
    [sent] = connector.named("agent.task_sent")
    assert (sent.details["agent_id"], sent.details["task"]) == ("a1", "echo")
    assert sent.details["origin"] == origin
    [failed] = connector.named("agent.task_failed")
    assert (failed.details["agent_id"], failed.details["status"]) == ("pathy", 404)
    assert failed.error == "Agent returned error status: 404: Not Found"

    assert (await connector.call("unregister_agent", agent_id="a1")).success
    [unregistered] = connector.named("agent.unregistered")
    assert unregistered.details["agent_id"] == "a1"
    assert unregistered.outcome == "success"

    executes = connector.named("connector.execute")
    assert len(executes) == 8  # one per call of the connector
    assert all(event.connector == "agent_orchestration" for event in executes)
    for event in connector.events:
        assert agent.api_key not in event.to_json()


@pytest.mark.parametrize(
    ("url", "api_key", "reason"),
    [
        ("https://10.0.0.1:8443", "k-1", "Security violation:"),
        ("http://agent.example.com", "k-1", "Security violation: Agent URLs must use HTTPS"),
        ("https://agent.example.com", "   ", "Security violation: API key cannot be empty"),
    ],
)
async def test_every_refused_registration_is_audited_as_register_refused(
    connector: Connector, url: str, api_key: str, reason: str
) -> None:
    connector.events.clear()
    result = await connector.register("a1", url, api_key=api_key)
    assert result.errors[0].startswith(reason)
    refusals = connector.named("agent.register_refused")
    assert [event.error for event in refusals] == result.errors, [
        (event.event, event.outcome, event.error) for event in connector.events
    ]


async def test_a_password_in_a_refused_url_appears_in_no_result_or_event(
    connector: Connector, jamey_audit_events: AuditEventList
) -> None:
    password = "hunter2-CANARY"
    result = await connector.call(
        "register_agent",
        agent_id="a1",
        name="A",
        url=f"https://bob:{password}@agent.example.com",
        api_key="k",
    )
    assert not result.success
    assert result.errors[0].startswith("Security violation:")
    assert password not in json.dumps(result.to_dict())
    assert jamey_audit_events
    assert all(password not in event.to_json() for event in jamey_audit_events)
    [execute] = [e for e in jamey_audit_events if e.event == "connector.execute"]
    assert execute.details["params"]["url"] == "https://***@agent.example.com"
