"""The official SDK's own client (``ClientFactory``, JSON-RPC) against the reference agent in A2A
mode: the card it serves, its answers and its errors are what the SDK expects."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, A2AClientError
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Task,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskState,
)
from a2a_peer import sdk_client, send_text
from google.protobuf.json_format import MessageToDict

from jamey_agent_orchestration.testing import AgentServerFactory, RecordingAgent, TaskError
from jamey_agent_orchestration.testing.server import EXAMPLE_HANDLERS, TaskRequest


def refuse(request: TaskRequest) -> Any:
    raise TaskError("cannot do that")


async def reference(factory: AgentServerFactory) -> RecordingAgent:
    return await factory(
        handlers={**EXAMPLE_HANDLERS, "refuse": refuse}, name="reference", protocol="a2a"
    )


async def test_the_sdk_reads_the_card_and_sends_a_task(
    jamey_agent_server: AgentServerFactory,
) -> None:
    agent = await reference(jamey_agent_server)
    verify = ssl.create_default_context(cafile=str(agent.ca_path))
    async with httpx.AsyncClient(verify=verify, timeout=10) as http:
        card = await A2ACardResolver(http, agent.url).get_agent_card()
    async with sdk_client(agent.url, ca_path=agent.ca_path, api_key=agent.api_key) as client:
        answer = await send_text(client, "uppercase", data={"text": "from the sdk"})
    assert card.name == "reference"
    assert [i.protocol_binding for i in card.supported_interfaces] == ["JSONRPC"]
    assert {"uppercase", "echo", "health_check", "long_task", "needs_input"} <= {
        skill.id for skill in card.skills
    }
    assert isinstance(answer, Task)
    assert answer.status.state == TaskState.TASK_STATE_COMPLETED
    [artifact] = answer.artifacts
    assert MessageToDict(artifact.parts[0].data) == {"text": "FROM THE SDK"}
    _, card_fetch, call = agent.requests  # the resolver's card fetch, then the client's
    assert card_fetch.path == "/.well-known/agent-card.json"
    assert "Authorization" not in card_fetch.headers
    assert call.headers["Authorization"] == f"Bearer {agent.api_key}"  # the card's Bearer scheme
    assert call.headers["A2A-Version"] == "1.0"
    assert call.body["method"] == "SendMessage"


async def test_numbers_from_the_sdk_reach_handlers_as_text(
    jamey_agent_server: AgentServerFactory,
) -> None:
    agent = await reference(jamey_agent_server)
    async with sdk_client(agent.url, ca_path=agent.ca_path, api_key=agent.api_key) as client:
        answer = await send_text(client, "echo", data={"n": 1, "ok": True, "s": "x"})
    assert isinstance(answer, Task)
    assert MessageToDict(answer.artifacts[0].parts[0].data) == {"n": "1.0", "ok": "true", "s": "x"}


async def test_a_task_that_asks_for_input_then_completes(
    jamey_agent_server: AgentServerFactory,
) -> None:
    agent = await reference(jamey_agent_server)
    async with sdk_client(agent.url, ca_path=agent.ca_path, api_key=agent.api_key) as client:
        first = await send_text(client, "needs_input")
        assert isinstance(first, Task)
        assert first.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        done = await send_text(client, "here", task_id=first.id, context_id=first.context_id)
    assert isinstance(done, Task)
    assert (done.id, done.status.state) == (first.id, TaskState.TASK_STATE_COMPLETED)
    assert MessageToDict(done.artifacts[0].parts[0].data) == {"input": "here", "params": {}}


async def test_a_long_task_polled_and_cancelled(jamey_agent_server: AgentServerFactory) -> None:
    agent = await reference(jamey_agent_server)
    async with sdk_client(
        agent.url, ca_path=agent.ca_path, api_key=agent.api_key, polling=True
    ) as client:
        started = await send_text(client, "long_task")
        assert isinstance(started, Task)
        assert started.status.state == TaskState.TASK_STATE_WORKING
        polled = await client.get_task(GetTaskRequest(id=started.id, history_length=1))
        assert polled.status.state == TaskState.TASK_STATE_WORKING
        assert len(polled.history) == 1
        cancelled = await client.cancel_task(CancelTaskRequest(id=started.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=started.id))
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="no-such-task"))


async def test_failed_and_rejected_tasks(jamey_agent_server: AgentServerFactory) -> None:
    agent = await reference(jamey_agent_server)
    async with sdk_client(agent.url, ca_path=agent.ca_path, api_key=agent.api_key) as client:
        failed = await send_text(client, "refuse")
        unknown = await send_text(client, "no such task")
    assert isinstance(failed, Task)
    assert failed.status.state == TaskState.TASK_STATE_FAILED
    assert failed.status.message.parts[0].text == "cannot do that"
    assert isinstance(unknown, Task)
    assert unknown.status.state == TaskState.TASK_STATE_REJECTED
    assert unknown.status.message.parts[0].text == "Unknown task: no such task"


async def test_a_wrong_key_is_refused(jamey_agent_server: AgentServerFactory) -> None:
    agent = await reference(jamey_agent_server)
    async with sdk_client(agent.url, ca_path=agent.ca_path, api_key="wrong") as client:
        with pytest.raises(A2AClientError, match="401"):
            await send_text(client, "echo")


async def test_the_sdk_and_the_connector_see_the_same_agent(
    jamey_agent_server: AgentServerFactory, jamey_runtime: Any
) -> None:
    """A task the SDK started is visible to the connector's get_task, and the reverse."""
    from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin

    agent = await reference(jamey_agent_server)
    runtime = await jamey_runtime(
        AgentOrchestrationPlugin(),
        settings={
            "agent_orchestration": {
                "ca_bundle": str(agent.ca_path),
                "allow_networks": "127.0.0.0/8",
            }
        },
    )

    async def call(**params: str) -> Any:
        return await runtime.execute_connector("agent_orchestration", params)

    registered = await call(
        action="register_agent",
        agent_id="ref",
        url=agent.url,
        api_key=agent.api_key,
        protocol="a2a",
    )
    assert registered.success, registered.errors
    started = await call(action="send_task", agent_id="ref", task="long_task", wait="false")
    assert started.metadata["state"] == "TASK_STATE_WORKING"
    async with sdk_client(agent.url, ca_path=agent.ca_path, api_key=agent.api_key) as client:
        seen = await client.get_task(GetTaskRequest(id=started.metadata["task_id"]))
        assert seen.status.state == TaskState.TASK_STATE_WORKING
        by_sdk = await send_text(client, "needs_input")
    assert isinstance(by_sdk, Task | Message)
    polled = await call(action="get_task", agent_id="ref", task_id=by_sdk.id)  # type: ignore[union-attr]
    assert polled.metadata["state"] == "TASK_STATE_INPUT_REQUIRED"
