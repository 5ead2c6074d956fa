"""What the fakes do beyond the side-by-side scenarios: the rest of their API, its refusals, keys.

These tests use the fixtures as a host application's tests do (the suite has the plugins
installed); ``test_side_by_side.py`` holds each scripted behaviour against a real agent.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
from typing import Any

import aiohttp
import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.testing import FakeAgents, RecordingAgent
from jamey_agent_orchestration.testing.server import TaskError, TaskRequest
from jamey_host import Runtime
from jamey_host.testing import AuditEventList, RuntimeFactory

AGENT = "agent_orchestration"
CANARY = "canary-key-6b1f0c27d4"


async def send(runtime: Runtime, **params: str) -> Any:
    return await runtime.execute_connector(AGENT, {"action": "send_task", **params})


async def test_the_five_line_test_of_the_issue(jamey_fake_agents: FakeAgents) -> None:
    billing = jamey_fake_agents.add("https://billing.example.com", protocol="a2a", skills=["bill"])
    billing.fails(503, times=2)
    billing.answers("summarise", json={"total": 42})
    runtime = await jamey_fake_agents.runtime()
    result = await send(runtime, capability="bill", task="summarise")

    assert result.success, result.errors
    assert result.metadata["attempts"] == "3"
    assert json.loads(result.output)["artifacts"][0]["parts"][0]["data"] == {"total": 42}
    assert len(jamey_fake_agents.pauses) == 2


async def test_a_retry_after_is_honoured_without_waiting(jamey_fake_agents: FakeAgents) -> None:
    fake = jamey_fake_agents.add("https://billing.example.com")
    fake.fails(429, retry_after=7)
    fake.answers("summarise", json={"total": 42})
    runtime = await jamey_fake_agents.runtime()

    result = await send(runtime, agent_id="billing", task="summarise")

    assert result.success
    assert jamey_fake_agents.pauses == [7.0]


async def test_a_retry_after_past_the_budget_ends_the_call(jamey_fake_agents: FakeAgents) -> None:
    fake = jamey_fake_agents.add("https://billing.example.com")
    fake.fails(503, retry_after=600)
    runtime = await jamey_fake_agents.runtime(settings={AGENT: {"timeout": "1"}})

    result = await send(runtime, agent_id="billing", task="summarise")

    (error,) = result.errors
    assert error.startswith("Agent returned error status: 503: Service Unavailable (the agent")
    assert "asked to retry in 600s, past this call's time budget" in error
    assert jamey_fake_agents.pauses == []


async def test_standing_failures_last_until_reset(jamey_fake_agents: FakeAgents) -> None:
    fake = jamey_fake_agents.add("https://billing.example.com")
    fake.answers(json={"ok": True})  # any task
    fake.times_out(times=None)
    runtime = await jamey_fake_agents.runtime(settings={AGENT: {"timeout": "2"}})

    timed_out = await send(runtime, agent_id="billing", task="a")
    fake.reset()
    answered = await send(runtime, agent_id="billing", task="b")

    assert timed_out.errors == ["Failed to send task to agent: timed out after 2s"]
    assert timed_out.metadata["attempts"] == "3"
    assert answered.json() == {"ok": True}


async def test_handlers_as_jamey_agent_server_takes_them(jamey_fake_agents: FakeAgents) -> None:
    def add(request: TaskRequest) -> dict[str, int]:
        return {"sum": int(request.params["a"]) + int(request.params["b"])}

    async def refuse(request: TaskRequest) -> None:
        raise TaskError("no such account", status=404)

    handlers = {"sum": add, "close": refuse}
    jamey_fake_agents.add("https://maths.example.com", handlers=handlers)
    jamey_fake_agents.add("https://a2a.example.com", protocol="a2a", handlers=handlers)
    runtime = await jamey_fake_agents.runtime()

    assert (await send(runtime, agent_id="maths", task="sum", param_a="2", param_b="3")).json() == {
        "sum": 5
    }
    refused = await send(runtime, agent_id="maths", task="close")
    assert refused.errors == ["Agent returned error status: 404: no such account"]
    failed = await send(runtime, agent_id="a2a", task="close")
    assert failed.errors == ["Agent task ended in state TASK_STATE_FAILED: no such account"]


async def test_an_a2a_task_that_asks_for_input_goes_on(jamey_fake_agents: FakeAgents) -> None:
    fake = jamey_fake_agents.add("https://travel.example.com", protocol="a2a")
    fake.task("book", state="TASK_STATE_INPUT_REQUIRED", message="Which date?")
    runtime = await jamey_fake_agents.runtime()

    asked = await send(runtime, agent_id="travel", task="book", param_to="Lisbon")
    fake.answers("book", json={"booked": "2026-12-24"})
    task_id = asked.metadata["task_id"]
    done = await send(runtime, agent_id="travel", task="2026-12-24", task_id=task_id)
    again = await send(runtime, agent_id="travel", task="2026-12-25", task_id=task_id)

    assert asked.warnings == ["Agent task is in state TASK_STATE_INPUT_REQUIRED: Which date?"]
    assert done.metadata["task_id"] == task_id
    assert done.metadata["state"] == "TASK_STATE_COMPLETED"
    task = fake.tasks[task_id]
    said = [(m["role"], m["parts"][0]["text"]) for m in task["history"]]
    assert said == [  # in the order they were said, as the A2A SDK keeps them
        ("ROLE_USER", "book"),
        ("ROLE_AGENT", "working"),
        ("ROLE_AGENT", "Which date?"),
        ("ROLE_USER", "2026-12-24"),
        ("ROLE_AGENT", "working"),
    ]
    assert task["artifacts"][0]["parts"][0]["data"] == {"booked": "2026-12-24"}
    assert again.errors == [
        f"Agent returned error: -32004 Task {task_id} is in terminal state: TASK_STATE_COMPLETED"
    ]


async def test_without_waiting_the_outcome_is_what_get_task_sees(
    jamey_fake_agents: FakeAgents,
) -> None:
    fake = jamey_fake_agents.add("https://reports.example.com", protocol="a2a")
    fake.answers("report", json={"pages": 3})
    runtime = await jamey_fake_agents.runtime()

    started = await send(runtime, agent_id="reports", task="report", wait="false")
    polled = await runtime.execute_connector(
        AGENT,
        {
            "action": "get_task",
            "agent_id": "reports",
            "task_id": started.metadata["task_id"],
            "history_length": "0",
        },
    )
    unknown = await runtime.execute_connector(
        AGENT, {"action": "get_task", "agent_id": "reports", "task_id": "no-such-task"}
    )

    assert started.metadata["state"] == "TASK_STATE_WORKING"
    assert polled.metadata["state"] == "TASK_STATE_COMPLETED"
    assert "history" not in json.loads(polled.output)
    assert unknown.errors == ["Agent returned error: -32001 Task not found"]


async def test_a_raw_answer_a_redirect_is_never_followed(jamey_fake_agents: FakeAgents) -> None:
    fake = jamey_fake_agents.add("https://billing.example.com")
    fake.answers(json={"ok": True})
    fake.responds(status=307, headers={"Location": "https://evil.example.net/"})
    runtime = await jamey_fake_agents.runtime()

    result = await send(runtime, agent_id="billing", task="x")

    assert result.errors == ["Agent returned error status: 307"]
    assert len(fake.requests) == 1


async def test_an_answer_larger_than_the_limit_is_refused(jamey_fake_agents: FakeAgents) -> None:
    fake = jamey_fake_agents.add("https://billing.example.com")
    fake.answers(json={"text": "x" * 2000})
    runtime = await jamey_fake_agents.runtime(settings={AGENT: {"max_response_bytes": "1000"}})

    result = await send(runtime, agent_id="billing", task="x")

    assert result.errors == ["Failed to send task to agent: response larger than 1000 bytes"]


async def test_fakes_route_by_url_and_answer_broadcasts(jamey_fake_agents: FakeAgents) -> None:
    one = jamey_fake_agents.add("https://agents.example.com/one", agent_id="one", skills=["sum"])
    two = jamey_fake_agents.add(
        "https://agents.example.com/one/two/", agent_id="two", protocol="a2a", skills=["sum"]
    )
    one.answers(json={"from": "one"})
    two.answers(json={"from": "two"})
    runtime = await jamey_fake_agents.runtime()

    result = await runtime.execute_connector(
        AGENT, {"action": "broadcast", "capability": "sum", "task": "sum"}
    )

    answers = result.json()
    assert answers["one"] == {"from": "one"}
    assert answers["two"]["artifacts"][0]["parts"][0]["data"] == {"from": "two"}
    assert [r.path for r in one.requests] == ["/one/api/v1/tasks"]
    assert [r.path for r in two.requests] == [
        "/one/two/.well-known/agent-card.json",
        "/one/two/a2a/jsonrpc",
    ]


async def test_a_path_no_fake_serves_is_not_found(jamey_fake_agents: FakeAgents) -> None:
    jamey_fake_agents.add("https://billing.example.com", register=False)  # speaks jamey
    runtime = await jamey_fake_agents.runtime()

    result = await runtime.execute_connector(
        AGENT,
        {
            "action": "register_agent",
            "agent_id": "billing",
            "url": "https://billing.example.com",
            "api_key": "k",
            "protocol": "a2a",
        },
    )

    assert result.errors == [
        "Failed to fetch agent card: Agent returned error status: 404: Not Found"
    ]


async def test_a_fake_added_later_or_a_runtime_made_elsewhere(
    jamey_fake_agents: FakeAgents, jamey_runtime: RuntimeFactory
) -> None:
    runtime = await jamey_runtime(jamey_fake_agents.plugin())
    fake = jamey_fake_agents.add("https://late.example.com", skills=["late"])
    fake.answers(json={"late": True})
    await jamey_fake_agents.register(runtime, fake)

    listed = await runtime.execute_connector(AGENT, {"action": "list_agents"})
    result = await send(runtime, capability="late", task="x")

    assert listed.json() == [
        {
            "id": "late",
            "name": "late",
            "url": "https://late.example.com",
            "capabilities": ["late"],
            "protocol": "jamey",
        }
    ]
    assert result.json() == {"late": True}
    with pytest.raises(RuntimeError, match="fake agent 'late' failed: Agent already registered"):
        await jamey_fake_agents.register(runtime, fake)


async def test_a_fake_and_a_real_agent_in_one_runtime(
    jamey_fake_agents: FakeAgents, jamey_agent_server: Any
) -> None:
    real: RecordingAgent = await jamey_agent_server(handlers={"who": lambda r: {"who": "real"}})
    fake = jamey_fake_agents.add("https://fake.example.com")
    fake.answers("who", json={"who": "fake"})
    trust = {"ca_bundle": str(real.ca_path), "allow_networks": "127.0.0.1/32"}
    runtime = await jamey_fake_agents.runtime(settings={AGENT: trust})
    registered = await runtime.execute_connector(
        AGENT,
        {
            "action": "register_agent",
            "agent_id": "real",
            "name": "real",
            "url": real.url,
            "api_key": real.api_key,
        },
    )
    assert registered.success

    result = await runtime.execute_connector(AGENT, {"action": "broadcast", "task": "who"})

    assert result.json() == {"fake": {"who": "fake"}, "real": {"who": "real"}}
    assert len(real.requests) == 1  # over TLS, on 127.0.0.1: only the fakes' URLs are answered


async def test_other_urls_a_test_mocks_go_on_the_fixtures_aioresponses(
    jamey_fake_agents: FakeAgents,
) -> None:
    fake = jamey_fake_agents.add("https://billing.example.com")
    fake.answers(json={"total": 42})
    jamey_fake_agents.mock.get("https://rates.example.org/eur", payload={"usd": 1.08})
    runtime = await jamey_fake_agents.runtime()

    async with aiohttp.ClientSession() as session:  # the host's own client, for another service
        response = await session.get("https://rates.example.org/eur")
        rate = await response.json()
    result = await send(runtime, agent_id="billing", task="summarise")

    assert rate == {"usd": 1.08}
    assert result.json() == {"total": 42}


async def test_the_key_is_masked_and_kept_out_of_everything(
    jamey_fake_agents: FakeAgents,
    jamey_audit_events: AuditEventList,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = jamey_fake_agents.add("https://billing.example.com", protocol="a2a", api_key=CANARY)
    fake.fails(503)
    fake.answers(json={"echo": CANARY})  # an agent that sends the key back
    runtime = await jamey_fake_agents.runtime()

    result = await send(runtime, agent_id="billing", task="x")

    assert result.success
    assert fake.requests[1].headers["Authorization"] == "Bearer ***"
    everything = [
        repr([(dict(r.headers), r.body) for r in fake.requests]),
        repr(fake),
        repr(jamey_fake_agents),
        repr(result),
        caplog.text,
        *(event.to_json() for event in jamey_audit_events),
    ]
    assert not [text for text in everything if CANARY in text]
    assert jamey_audit_events.named("agent.response_scrubbed")


async def test_a_key_in_a_request_body_is_masked_in_what_the_fake_recorded(
    jamey_fake_agents: FakeAgents,
) -> None:
    fake = jamey_fake_agents.add("https://billing.example.com", api_key=CANARY)
    fake.answers(json={"ok": True})
    runtime = await jamey_fake_agents.runtime()

    await send(runtime, agent_id="billing", task="x", param_note=f"my key is {CANARY}")

    (request,) = fake.requests
    assert request.body == {"task": "x", "params": {"note": "my key is ***"}}
    assert dict(request.headers)["Authorization"] == "Bearer ***"


def test_scripts_that_make_no_sense_are_refused(jamey_fake_agents: FakeAgents) -> None:
    jamey = jamey_fake_agents.add("https://billing.example.com")
    a2a = jamey_fake_agents.add("https://a2a.example.com", protocol="a2a")
    with pytest.raises(ValueError, match="https with a host"):
        jamey_fake_agents.add("http://plain.example.com")
    with pytest.raises(ValueError, match="'billing' exists already"):
        jamey_fake_agents.add("https://billing.example.org")
    with pytest.raises(ValueError, match=re.escape("is at https://billing.example.com already")):
        jamey_fake_agents.add("https://billing.example.com/", agent_id="other")
    with pytest.raises(
        ValueError, match=re.escape("give the fake agent at https://-x.example.com")
    ):
        jamey_fake_agents.add("https://-x.example.com")
    with pytest.raises(ValueError, match="protocol must be 'jamey' or 'a2a'"):
        jamey_fake_agents.add("https://x.example.com", protocol="grpc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task\\(\\) scripts an A2A Task"):
        jamey.task(state="TASK_STATE_FAILED")
    with pytest.raises(ValueError, match="state must be one of"):
        a2a.task(state="FAILED")
    with pytest.raises(ValueError, match="a 4xx or 5xx status, got 302"):
        jamey.fails(302)
    with pytest.raises(ValueError, match="times must be at least 1"):
        jamey.times_out(times=0)


async def test_a_registration_the_connector_refuses_says_why(
    jamey_fake_agents: FakeAgents,
) -> None:
    jamey_fake_agents.add("https://localhost:8443")
    with pytest.raises(RuntimeError) as refused:
        await jamey_fake_agents.runtime()
    assert str(refused.value) == (
        "registering the fake agent 'localhost' failed: Security violation: Agent URL host "
        "localhost is a local name"
    )


def test_a_real_call_never_imports_aioresponses() -> None:
    # The connector's whole path, from the plugin to the socket, in a fresh interpreter.
    code = textwrap.dedent(
        """
        import asyncio, sys
        from jamey_host import Runtime, RuntimeConfig
        from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin

        async def main():
            async with Runtime(RuntimeConfig(), plugins=[AgentOrchestrationPlugin()],
                               load_entrypoints=False) as runtime:
                result = await runtime.execute_connector("agent_orchestration", {
                    "action": "register_agent", "agent_id": "a", "name": "a", "protocol": "a2a",
                    "url": "https://127.0.0.1:9", "api_key": "k"})
                assert result.errors[0].startswith("Security violation"), result.errors
        asyncio.run(main())
        print(sorted(name for name in sys.modules if name.startswith(("aioresponses", "jamey"))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout
    assert "jamey_agent_orchestration.net.a2a" in loaded
    assert "aioresponses" not in loaded
    assert "jamey_agent_orchestration.testing" not in loaded


def test_the_plugin_made_for_the_fakes_is_the_connector_with_a_recording_sleep(
    jamey_fake_agents: FakeAgents,
) -> None:
    assert type(jamey_fake_agents.plugin()) is AgentOrchestrationPlugin
