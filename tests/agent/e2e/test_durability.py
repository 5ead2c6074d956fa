"""Durability end to end: real ``jamey`` processes, real HTTPS agents, a registry on disk.

- The registry written by one ``jamey run`` is used by the next one (the state directory).
- API keys are encrypted at rest; the registry and the key file are mode 0600.
- An embedded runtime with the ``registry`` setting survives a restart.
- Circuit breakers open, fail fast, and close again after a successful probe.
- ``jamey agents-rotate-key`` is a ``jamey`` subcommand.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.store.keys import generate_master_key
from jamey_agent_orchestration.testing import AgentServerFactory
from jamey_agent_orchestration.testing.agents import RecordingAgent, ThrowawayCA
from jamey_agent_orchestration.testing.server import TaskRequest
from jamey_host import AuditEvent, ConnectorResult
from jamey_host.testing import AuditEventList, RuntimeFactory

from .cli import audit_lines, jamey_env, jamey_script, run_jamey

if TYPE_CHECKING:
    from ..connector import MakeConnector

CONNECTOR = "agent_orchestration"
POSIX = sys.platform != "win32"


def _echo(request: TaskRequest) -> dict[str, Any]:
    return {"task": request.task, "params": dict(request.params)}


HANDLERS = {"echo": _echo, "health_check": lambda _request: {"status": "healthy"}}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_holding(directory: Path, secret: str) -> list[str]:
    """Names of the files in ``directory`` whose bytes contain ``secret``."""
    raw = secret.encode()
    return [p.name for p in directory.iterdir() if p.is_file() and raw in p.read_bytes()]


# -- (a) two jamey processes share the registry in the state directory ----------------------


async def test_registry_persists_across_jamey_processes(
    tmp_path: Path, jamey_agent_server: AgentServerFactory, jamey_agent_ca: ThrowawayCA
) -> None:
    agent = await jamey_agent_server(handlers=HANDLERS, name="echo")
    env = jamey_env(tmp_path, jamey_agent_ca)
    code, out, err = await run_jamey(
        env,
        "run",
        CONNECTOR,
        "action=register_agent",
        "agent_id=echo-1",
        "name=Echo",
        f"url={agent.url}",
        f"api_key={agent.api_key}",
        "capabilities=echo",
        "--audit",
    )
    assert code == 0, err
    assert out.strip() == "Agent registered successfully"
    created = [e for e in audit_lines(err) if e["event"] == "agent_orchestration.key_file_created"]
    assert len(created) == 1
    assert created[0]["outcome"] == "warning"
    assert created[0]["details"]["path"] == str(tmp_path / "secret.key")
    assert agent.requests == []  # registering dials nothing

    # A second process: it knows the agent only from the registry file.
    send = ("action=send_task", "agent_id=echo-1", "task=echo", "param_x=1")
    code, out, err = await run_jamey(env, "run", CONNECTOR, *send, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["success"] is True, result
    assert json.loads(result["output"]) == {"task": "echo", "params": {"x": "1"}}
    assert result["agents_contacted"] == ["echo-1"]
    assert len(agent.requests) == 1
    assert agent.requests[0].headers["Authorization"] == f"Bearer {agent.api_key}"
    assert "key_file_created" not in err  # announced once, when created

    # A third, routing by capability, also finds it.
    code, out, err = await run_jamey(
        env, "run", CONNECTOR, "action=send_task", "capability=echo", "task=echo", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["agents_contacted"] == ["echo-1"]
    assert len(agent.requests) == 2

    registry = tmp_path / "agents.db"
    key_file = tmp_path / "secret.key"
    assert registry.is_file()
    assert key_file.is_file()
    assert files_holding(tmp_path, agent.api_key) == []
    if POSIX:
        assert mode(registry) == 0o600
        assert mode(key_file) == 0o600


# -- (b) an embedded runtime with the registry setting survives a restart --------------------


async def test_embedded_registry_survives_restart(
    tmp_path: Path,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    jamey_runtime: RuntimeFactory,
    jamey_audit_events: AuditEventList,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JAMEY_SECRET_KEY", generate_master_key())
    agent = await jamey_agent_server(handlers=HANDLERS, name="echo")
    registry = tmp_path / "agents.db"
    settings = {
        CONNECTOR: {
            "registry": str(registry),
            "ca_bundle": str(jamey_agent_ca.ca_path),
            "allow_networks": "127.0.0.0/8",
            "timeout": "5",
        }
    }

    first = await jamey_runtime(AgentOrchestrationPlugin, settings=settings)
    registered = await first.execute_connector(
        CONNECTOR,
        {
            "action": "register_agent",
            "agent_id": "echo-1",
            "name": "Echo",
            "url": agent.url,
            "api_key": agent.api_key,
        },
    )
    assert registered.success, registered.errors
    await first.close()  # the restart: the first runtime is gone before the second starts

    second = await jamey_runtime(AgentOrchestrationPlugin, settings=settings)
    listed = await second.execute_connector(CONNECTOR, {"action": "list_agents"})
    assert [entry["id"] for entry in listed.json()] == ["echo-1"]
    sent = await second.execute_connector(
        CONNECTOR, {"action": "send_task", "agent_id": "echo-1", "task": "echo", "param_n": "7"}
    )
    assert sent.success, sent.errors
    assert sent.json() == {"task": "echo", "params": {"n": "7"}}

    assert len(agent.requests) == 1
    assert agent.requests[0].headers["Authorization"] == f"Bearer {agent.api_key}"
    # The master key came from JAMEY_SECRET_KEY: no key file was made, none announced.
    assert not (tmp_path / "secret.key").exists()
    assert not jamey_audit_events.named("agent_orchestration.key_file_created")
    assert files_holding(tmp_path, agent.api_key) == []
    if POSIX:
        assert mode(registry) == 0o600


# -- (c) circuit breaker, end to end ---------------------------------------------------------


def circuit_events(events: list[AuditEvent], agent_id: str) -> list[str]:
    return [
        e.event
        for e in events
        if e.event.startswith("agent.circuit_") and e.details.get("agent_id") == agent_id
    ]


async def test_circuit_breaker_opens_fails_fast_and_closes_after_probe(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(breaker_threshold="2", breaker_cooldown="0.5", retries="1")
    flaky: RecordingAgent = await jamey_agent_server(handlers=HANDLERS, name="flaky")
    steady: RecordingAgent = await jamey_agent_server(handlers=HANDLERS, name="steady")
    assert (await connector.register("flaky", flaky, capabilities="echo")).success
    assert (await connector.register("steady", steady, capabilities="echo")).success

    async def send(agent_id: str) -> ConnectorResult:
        return await connector.call("send_task", agent_id=agent_id, task="echo")

    # Two health failures (503, one attempt each) open the circuit.
    flaky.fail_next(503, times=2)
    for _ in range(2):
        failed = await send("flaky")
        assert not failed.success
        assert failed.errors == ["Agent returned error status: 503: Injected failure 503"]
    assert len(flaky.requests) == 2
    assert circuit_events(connector.events, "flaky") == ["agent.circuit_open"]
    opened = connector.named("agent.circuit_open")[0]
    assert opened.outcome == "warning"
    assert opened.details["consecutive_failures"] == 2
    assert opened.details["failure"] == "status_5xx"

    # While open: fail fast, nothing dialled.
    refused = await send("flaky")
    assert not refused.success
    assert refused.errors[0].startswith("circuit open for agent flaky")
    assert refused.agents_contacted == []
    assert len(flaky.requests) == 2
    refused_event = connector.last_execute()
    assert refused_event.details["agent_id"] == "flaky"
    assert refused_event.error == refused.errors[0]

    broadcast = await connector.call("broadcast", task="echo")
    assert broadcast.success
    answers = broadcast.json()
    assert answers["flaky"]["error"].startswith("circuit open")
    assert answers["steady"] == {"task": "echo", "params": {}}
    assert broadcast.agents_contacted == ["steady"]
    assert broadcast.metadata["failed"] == "1"
    assert len(flaky.requests) == 2

    # Capability routing skips the open agent.
    for _ in range(2):
        routed = await connector.call("send_task", capability="echo", task="echo")
        assert routed.success, routed.errors
        assert routed.agents_contacted == ["steady"]
    assert len(flaky.requests) == 2

    listed = {entry["id"]: entry for entry in await connector.listed()}
    assert "health" not in listed["steady"]
    health = listed["flaky"]["health"]
    assert health["state"] == "open"
    assert health["consecutive_failures"] == 2
    assert 0 <= health["retry_in"] <= 0.5

    # After the cooldown, with the agent healthy again, one probe goes through and closes it.
    await asyncio.sleep(0.6)
    probe = await send("flaky")
    assert probe.success, probe.errors
    assert len(flaky.requests) == 3
    assert circuit_events(connector.events, "flaky") == [
        "agent.circuit_open",
        "agent.circuit_half_open",
        "agent.circuit_closed",
    ]
    assert "health" not in {entry["id"]: entry for entry in await connector.listed()}["flaky"]
    assert (await send("flaky")).success
    assert len(flaky.requests) == 4


async def test_a_stopped_agent_opens_its_circuit(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(breaker_threshold="2", breaker_cooldown="0.5", retries="1")
    agent = await jamey_agent_server(handlers=HANDLERS, name="gone")
    assert (await connector.register("gone", agent)).success
    await agent.close()  # connection refused from now on
    for _ in range(2):
        failed = await connector.call("send_task", agent_id="gone", task="echo")
        assert failed.errors[0].startswith("Failed to send task to agent")
    assert circuit_events(connector.events, "gone") == ["agent.circuit_open"]
    assert connector.named("agent.circuit_open")[0].details["failure"] == "connection"
    refused = await connector.call("send_task", agent_id="gone", task="echo")
    assert refused.errors[0].startswith("circuit open for agent gone")


# -- (d) the rotate-key subcommand is installed ---------------------------------------------


def test_rotate_key_command_is_listed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAMEY_")}
    env["JAMEY_HOME"] = str(tmp_path)
    top = subprocess.run(
        [jamey_script(), "--help"], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    assert top.returncode == 0, top.stderr
    assert "agents-rotate-key" in top.stdout
    own = subprocess.run(
        [jamey_script(), "agents-rotate-key", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert own.returncode == 0, own.stderr
    assert "--new-key-env" in own.stdout
    assert "--registry" in own.stdout
    assert "skipped command" not in top.stderr + own.stderr
    assert list(tmp_path.iterdir()) == []  # --help creates nothing
