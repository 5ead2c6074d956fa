"""A registry file edited without the master key never sends a stored key anywhere new."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.store.keys import generate_master_key
from jamey_agent_orchestration.testing import AgentServerFactory, ThrowawayCA
from jamey_host.testing import AuditEventList, RuntimeFactory

CONNECTOR = "agent_orchestration"
CANARY = "sk-canary-tamper-3c7e90a1b2"


def _redirect(registry: Path, agent_id: str, url: str) -> None:
    conn = sqlite3.connect(registry)
    with conn:
        conn.execute("UPDATE agents SET url = ? WHERE id = ?", (url, agent_id))
    conn.close()


async def test_a_redirected_agent_is_a_registry_error_audited_and_never_a_send(
    tmp_path: Path,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    jamey_runtime: RuntimeFactory,
    jamey_audit_events: AuditEventList,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JAMEY_SECRET_KEY", generate_master_key())
    honest = await jamey_agent_server(name="honest", api_key=CANARY)
    attacker = await jamey_agent_server(name="attacker")
    registry = tmp_path / "agents.db"
    settings = {
        CONNECTOR: {
            "registry": str(registry),
            "ca_bundle": str(jamey_agent_ca.ca_path),
            "allow_networks": "127.0.0.0/8",
            "timeout": "2",
        }
    }
    first = await jamey_runtime(AgentOrchestrationPlugin(), settings=settings)
    for agent_id in ("victim", "bystander"):
        registered = await first.execute_connector(
            CONNECTOR,
            {
                "action": "register_agent",
                "agent_id": agent_id,
                "name": agent_id,
                "url": honest.url,
                "api_key": CANARY,
                "capabilities": "echo",
            },
        )
        assert registered.success, registered.errors
    await first.close()
    _redirect(registry, "victim", attacker.url)  # no master key needed for this

    second = await jamey_runtime(AgentOrchestrationPlugin(), settings=settings)
    startup = jamey_audit_events.named("agent.registry_error")
    assert [e.details["agent_id"] for e in startup] == ["victim"]  # audited when loaded
    sent = await second.execute_connector(
        CONNECTOR, {"action": "send_task", "agent_id": "victim", "task": "echo"}
    )
    assert not sent.success
    assert sent.errors[0].startswith("The stored API key of agent victim does not match")
    assert sent.agents_contacted == []
    assert jamey_audit_events.named("agent.registry_error")[-1].outcome == "failure"
    broadcast = await second.execute_connector(CONNECTOR, {"action": "broadcast", "task": "echo"})
    assert broadcast.agents_contacted == ["bystander"]
    listed = await second.execute_connector(CONNECTOR, {"action": "list_agents"})
    assert [entry["id"] for entry in listed.json()] == ["bystander"]
    assert attacker.requests == []  # the key never went to the new URL
    assert len(honest.requests) == 1
    for event in jamey_audit_events:
        assert CANARY not in repr(event)
    assert CANARY not in repr(sent) + repr(broadcast)
