"""A host application's tests, each run twice: against a fake agent and against a real one.

Not collected by the suite: ``test_side_by_side.py`` writes this file into a fresh directory and
runs it with pytester, with nothing but the installed plugins (``jamey_fake_agents``,
``jamey_agent_server``, ``jamey_runtime``), as a host application's own test run would.

Each test scripts a behaviour on a fake agent (``jamey_fake_agents``, no socket) and the same
behaviour on a real HTTPS agent (``jamey_agent_server``, TLS on 127.0.0.1), makes the same calls
through a runtime holding each, and asserts that the results, the audit trails and what each agent
received are the same once ids, timestamps and URLs are set aside.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.testing.a2a_server import INPUT_TASK, INPUT_TEXT, LONG_TASK
from jamey_agent_orchestration.testing.server import TaskError

pytestmark = pytest.mark.asyncio
PROTOCOLS = pytest.mark.parametrize("protocol", ["jamey", "a2a"])
AGENT = "agent_orchestration"
SUMMARY = {"total": 42, "currency": "EUR", "lines": [{"item": "tea", "price": 4.5}]}
# What differs between two agents, or two runs, by design: ids, times, where the agent is.
VARIABLE = frozenset(
    {"id", "contextId", "taskId", "messageId", "artifactId", "timestamp"}
    | {"task_id", "context_id", "url", "origin", "endpoint_origin", "duration_ms"}
)


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: f"<{k}>" if k in VARIABLE else normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str):
        return re.sub(r"next probe in [0-9.]+s", "next probe in <n>s", value)
    return value


def seen(result: Any) -> dict[str, Any]:
    """A result as a host application sees it, what varies by design set aside."""
    try:
        output = json.loads(result.output)
    except ValueError:
        output = result.output
    return normalised(
        {
            "success": result.success,
            "output": output,
            "errors": result.errors,
            "warnings": result.warnings,
            "metadata": result.metadata,
            "agents_contacted": result.agents_contacted,
        }
    )


def trail(events: list[Any]) -> list[Any]:
    return [normalised([e.event, e.outcome, e.action, e.details]) for e in events]


# Added by aiohttp as it writes a request: a fake, answered before that, never sees them.
AIOHTTP_HEADERS = frozenset({"accept", "accept-encoding", "content-length", "host", "user-agent"})


def received(agent: Any) -> list[Any]:
    """What an agent received: method, path, body and headers (ids and the key set aside)."""
    return [
        (
            r.method,
            r.path,
            normalised(r.body),
            {
                name.lower(): value if name.lower() in ("content-type", "a2a-version") else "<set>"
                for name, value in r.headers.items()
                if name.lower() not in AIOHTTP_HEADERS
            },
        )
        for r in agent.requests
    ]


@dataclasses.dataclass
class Pair:
    """A fake agent and a real one, each registered as ``billing`` in a runtime of its own."""

    fake: Any
    real: Any
    fake_runtime: Any
    real_runtime: Any
    events: Any

    async def agree(self, fake: dict[str, str], real: dict[str, str] | None = None) -> Any:
        """The same call through both runtimes (``real`` for params that differ): the results
        and the audit events must be the same. Returns the fake's and the real agent's result."""
        outcomes = []
        for runtime, params in ((self.fake_runtime, fake), (self.real_runtime, real or fake)):
            start = len(self.events)
            result = await runtime.execute_connector(AGENT, params)
            outcomes.append((result, trail(self.events[start:])))
        (fake_result, fake_trail), (real_result, real_trail) = outcomes
        assert seen(fake_result) == seen(real_result)
        assert fake_trail == real_trail
        return fake_result, real_result

    async def send(self, task: str, **params: str) -> Any:
        fake, _ = await self.agree(
            {"action": "send_task", "agent_id": "billing", "task": task, **params}
        )
        return fake

    def same_requests(self) -> None:
        assert received(self.fake) == received(self.real)


@pytest_asyncio.fixture
async def pair(jamey_fake_agents, jamey_agent_server, jamey_runtime, jamey_audit_events):
    async def make(protocol: str, *, handlers: Any = None, **settings: str) -> Pair:
        # The reference agent's card has a skill per task it serves: the fake's says the same.
        skills = ["health_check", *(handlers or {}), LONG_TASK, INPUT_TASK]
        fake = jamey_fake_agents.add(
            "https://billing.example.com",
            protocol=protocol,
            skills=skills if protocol == "a2a" else (),
        )
        fake_runtime = await jamey_fake_agents.runtime(settings={AGENT: settings})
        real = await jamey_agent_server(handlers=handlers, name="billing", protocol=protocol)
        trust = {"ca_bundle": str(real.ca_path), "allow_networks": "127.0.0.1/32"}
        real_runtime = await jamey_runtime(
            AgentOrchestrationPlugin, settings={AGENT: {**trust, **settings}}
        )
        params = {"action": "register_agent", "agent_id": "billing", "url": real.url}
        params.update({"protocol": "a2a"} if protocol == "a2a" else {"name": "billing"})
        registered = await real_runtime.execute_connector(
            AGENT, {**params, "api_key": real.api_key}
        )
        assert registered.success, registered.errors
        return Pair(fake, real, fake_runtime, real_runtime, jamey_audit_events)

    return make


def summarise(request):
    return SUMMARY


def decline(request):
    raise TaskError("card declined", status=402)


@PROTOCOLS
async def test_an_answer(pair, protocol):
    both = await pair(protocol, handlers={"summarise": summarise})
    both.fake.answers("summarise", json=SUMMARY)

    result = await both.send("summarise", param_month="2026-11", param_client="acme")

    assert result.success
    assert result.metadata["attempts"] == "1"
    both.same_requests()
    (task,) = [r for r in both.fake.requests if r.method == "POST"]
    assert task.headers["Authorization"] == "Bearer ***"
    assert task.idempotency_key == task.headers["Idempotency-Key"]


@PROTOCOLS
async def test_503_twice_then_the_answer(pair, protocol, jamey_fake_agents):
    both = await pair(protocol, handlers={"summarise": summarise})
    both.fake.fails(503, times=2)
    both.fake.answers("summarise", json=SUMMARY)
    both.real.fail_next(503, times=2, body={"error": "Service Unavailable"})

    result = await both.send("summarise")

    assert result.success
    assert result.metadata["attempts"] == "3"
    both.same_requests()
    assert len(jamey_fake_agents.pauses) == 2  # the backoff, asked for and not slept


@PROTOCOLS
async def test_a_wrong_key_is_401(pair, protocol):
    both = await pair(protocol, handlers={"summarise": summarise})
    both.fake.answers("summarise", json=SUMMARY)
    register = {"action": "register_agent", "agent_id": "billing", "replace": "true"}
    register.update({"protocol": "a2a"} if protocol == "a2a" else {"name": "billing"})
    await both.agree(
        {**register, "url": str(both.fake.url), "api_key": "not-the-key"},
        {**register, "url": both.real.url, "api_key": "not-the-key"},
    )

    result = await both.send("summarise")

    assert result.errors == ["Agent returned error status: 401: Unauthorized"]
    both.same_requests()


@PROTOCOLS
async def test_a_scripted_401_is_what_a_wrong_key_gets(pair, protocol):
    both = await pair(protocol, handlers={"summarise": summarise})
    both.fake.fails(401)
    register = {"action": "register_agent", "agent_id": "billing", "replace": "true"}
    register.update({"protocol": "a2a"} if protocol == "a2a" else {"name": "billing"})
    wrong = {**register, "url": both.real.url, "api_key": "not-the-key"}
    assert (await both.real_runtime.execute_connector(AGENT, wrong)).success

    result = await both.send("summarise")

    assert result.errors == ["Agent returned error status: 401: Unauthorized"]


@PROTOCOLS
async def test_a_body_that_is_not_json(pair, protocol):
    both = await pair(protocol, handlers={"summarise": summarise})
    page = "<html><body>Service busy</body></html>"
    both.fake.responds(status=200, body=page, content_type="text/html")
    both.real.respond_with(200, body=page, content_type="text/html", times=1)

    result = await both.send("summarise")

    assert result.errors == ["Failed to send task to agent: response is not JSON"]


async def test_a_failed_a2a_task(pair):
    both = await pair("a2a", handlers={"charge": decline})
    both.fake.task("charge", state="TASK_STATE_FAILED", message="card declined")

    result = await both.send("charge", param_amount="12.50")

    assert result.errors == ["Agent task ended in state TASK_STATE_FAILED: card declined"]
    assert result.metadata["state"] == "TASK_STATE_FAILED"
    both.same_requests()


async def test_a_jamey_task_error(pair):
    both = await pair("jamey", handlers={"charge": decline})
    both.fake.fails(402, message="card declined")

    result = await both.send("charge")

    assert result.errors == ["Agent returned error status: 402: card declined"]


@PROTOCOLS
async def test_an_unknown_task(pair, protocol):
    both = await pair(protocol)

    result = await both.send("no_such_task")

    assert not result.success


@PROTOCOLS
async def test_a_timeout(pair, protocol):
    both = await pair(protocol, handlers={"summarise": summarise}, timeout="0.25", retries="1")
    both.fake.times_out()
    both.real.delay = 1.0  # longer than the timeout

    result = await both.send("summarise")

    assert result.errors == ["Failed to send task to agent: timed out after 0.25s"]


@PROTOCOLS
async def test_a_dropped_connection(pair, protocol):
    both = await pair(protocol, handlers={"summarise": summarise}, retries="2")
    both.fake.disconnects(times=None)

    async def hang_up(request):
        request.transport.close()  # no answer at all
        return web.Response()

    both.real.serve_with(hang_up)

    result = await both.send("summarise")

    assert result.errors == ["Failed to send task to agent: server disconnected"]
    assert result.metadata["attempts"] == "2"


@PROTOCOLS
async def test_the_breaker_opens(pair, protocol):
    both = await pair(
        protocol, handlers={"summarise": summarise}, retries="1", breaker_threshold="2"
    )
    both.fake.fails(503, times=None)
    body = (
        {"error": "Service Unavailable"}
        if protocol == "jamey"
        else {"error": {"code": 503, "message": "Service Unavailable"}}
    )
    both.real.respond_with(503, body=json.dumps(body))

    first = await both.send("summarise")
    second = await both.send("summarise")
    third = await both.send("summarise")

    assert (
        first.errors == second.errors == ["Agent returned error status: 503: Service Unavailable"]
    )
    assert third.errors[0].startswith("circuit open for agent billing: 2 consecutive failures")
    assert third.agents_contacted == []
    both.same_requests()  # the third call reached neither agent


async def test_a_long_a2a_task_polled_and_cancelled(pair):
    both = await pair("a2a")
    both.fake.task(LONG_TASK, state="TASK_STATE_WORKING")

    fake_start, real_start = await both.agree(
        {"action": "send_task", "agent_id": "billing", "task": LONG_TASK, "wait": "false"}
    )
    assert fake_start.metadata["state"] == "TASK_STATE_WORKING"

    def on_each(action: str) -> tuple[dict[str, str], dict[str, str]]:
        fake = {"action": action, "agent_id": "billing", "task_id": fake_start.metadata["task_id"]}
        return fake, {**fake, "task_id": real_start.metadata["task_id"]}

    polled, _ = await both.agree(*on_each("get_task"))
    cancelled, _ = await both.agree(*on_each("cancel_task"))
    again, _ = await both.agree(*on_each("cancel_task"))

    assert polled.metadata["state"] == "TASK_STATE_WORKING"
    assert cancelled.metadata["state"] == "TASK_STATE_CANCELED"
    assert again.errors == ["Agent returned error: -32002 Task cannot be canceled"]
    assert both.fake.tasks[fake_start.metadata["task_id"]]["status"]["state"] == (
        "TASK_STATE_CANCELED"
    )


async def test_an_a2a_task_that_needs_input(pair):
    both = await pair("a2a")
    both.fake.task(INPUT_TASK, state="TASK_STATE_INPUT_REQUIRED", message=INPUT_TEXT)

    result = await both.send(INPUT_TASK)

    assert result.success
    assert result.warnings == [f"Agent task is in state TASK_STATE_INPUT_REQUIRED: {INPUT_TEXT}"]
