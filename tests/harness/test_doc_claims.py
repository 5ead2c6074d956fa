"""What docs/agent-orchestration.md says the audit trail holds, and never holds, is what it holds
(issue 13 item 12): the trail records what was asked, redacted by name and by spec."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.testing.server import EXAMPLE_HANDLERS
from jamey_host import AUDIT_LOGGER_NAME
from jamey_host.testing import AuditEventList, RuntimeFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent-orchestration.md"
RECORD = "patient-record-123"  # a task param's value: kept in connector.execute
TOKEN = "tok-4711-canary"  # given under a secret-looking name: kept nowhere


def doc_text() -> str:
    return " ".join(DOC.read_text(encoding="utf-8").split())


def test_the_guide_says_what_the_test_below_holds_it_to() -> None:
    text = doc_text()
    assert "the trail records what was asked, the task and its `param_*` values included" in text
    assert (
        "What the trail never holds: an API key, or any value given under a secret-looking param "
        "name (`api_key`, `token`, `password`, ...) or a param declared `secret` (`api_key` is), "
        "wherever in the call's events it appears; a header; the user-info of a URL."
    ) in text
    assert "task params (`param_*`) with their values" in text
    assert "(`param_names`), never their values" in text
    assert "never audited" not in text


async def test_the_audit_trail_holds_what_the_guide_says(
    jamey_runtime: RuntimeFactory,
    jamey_agent_server: Any,
    jamey_audit_events: AuditEventList,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    agent = await jamey_agent_server(handlers=EXAMPLE_HANDLERS)
    runtime = await jamey_runtime(
        AgentOrchestrationPlugin,
        settings={
            "agent_orchestration": {
                "ca_bundle": str(agent.ca_path),
                "allow_networks": "127.0.0.1/32",
            }
        },
    )
    call = runtime.execute_connector
    registered = await call(
        "agent_orchestration",
        {
            "action": "register_agent",
            "agent_id": "a1",
            "name": "A",
            "url": agent.url,
            "api_key": agent.api_key,
        },
    )
    assert registered.success, registered.errors
    task = {"task": "echo", "param_text": RECORD, "param_token": TOKEN}
    sent = await call("agent_orchestration", {"action": "send_task", "agent_id": "a1", **task})
    assert sent.success, sent.errors
    assert (await call("agent_orchestration", {"action": "broadcast", **task})).success

    executes = jamey_audit_events.named("connector.execute")
    by_action = {event.action: event for event in executes}
    # what was asked, task param values included...
    assert by_action["send_task"].details["params"]["param_text"] == RECORD
    assert by_action["broadcast"].details["params"]["param_text"] == RECORD
    # ...redacted by name, and api_key by its spec too
    assert by_action["send_task"].details["params"]["param_token"] == "***"
    assert by_action["register_agent"].details["params"]["api_key"] == "***"
    # the connector's own per-delivery events name the task params, never their values
    (delivered,) = jamey_audit_events.named("agent.task_sent")
    assert sorted(delivered.details["param_names"]) == ["text", "token"]
    assert RECORD not in delivered.to_json()
    # never a key, a secret-looking value, a header, anywhere in the trail or its log lines
    trail = [event.to_json() for event in jamey_audit_events]
    trail += [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    for line in trail:
        assert agent.api_key not in line
        assert TOKEN not in line
        assert "Bearer" not in line
