"""The reference agent in A2A mode, on the wire: its card, its JSON-RPC answers and errors (the
shapes and codes the SDK server gives, A2A-WIRE.md), its idempotency and its task lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from typing import Any

import pytest
from a2a_peer.raw_client import RawA2A

from jamey_agent_orchestration.testing import (
    AgentServer,
    AgentServerFactory,
    RecordingAgent,
    TaskRequest,
    ThrowawayCA,
    create_a2a_app,
)
from jamey_agent_orchestration.testing.a2a_server import A2A_PATH, CARD_PATH


def double(request: TaskRequest) -> Any:
    return {"n": int(request.params["n"]) * 2}


async def slow(request: TaskRequest) -> Any:
    await asyncio.sleep(0.2)
    return {"slept": True}


async def start(factory: AgentServerFactory) -> RecordingAgent:
    return await factory(handlers={"double": double, "slow": slow}, name="ref", protocol="a2a")


def raw(agent: RecordingAgent) -> RawA2A:
    return RawA2A(
        jsonrpc_url=f"{agent.url}{A2A_PATH}",
        rest_url="",
        ca_path=agent.ca_path,
        api_key=agent.api_key,
    )


def message(text: str, data: dict[str, Any] | None = None, **ids: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text}]
    if data is not None:
        parts.append({"data": data, "mediaType": "application/json"})
    return {"message": {"messageId": f"m-{text}", "role": "ROLE_USER", "parts": parts, **ids}}


async def test_the_card(jamey_agent_server: AgentServerFactory) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        answer = await client.card(agent.url)
    card = answer.document
    assert answer.status == 200
    assert card["name"] == "ref"
    assert card["supportedInterfaces"] == [
        {"url": f"{agent.url}{A2A_PATH}", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    assert [skill["id"] for skill in card["skills"]] == [
        "health_check",
        "double",
        "slow",
        "long_task",
        "needs_input",
    ]
    assert agent.requests[0].path == CARD_PATH


async def test_a_task_and_its_queries(jamey_agent_server: AgentServerFactory) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        sent = await client.rpc("SendMessage", message("double", {"n": 21}))
        task = sent.document["result"]["task"]
        assert sent.document["jsonrpc"] == "2.0"
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        assert task["artifacts"][0]["parts"] == [
            {"data": {"n": 42}, "mediaType": "application/json"}
        ]
        [user, working] = task["history"]
        assert (user["role"], user["taskId"], user["contextId"]) == (
            "ROLE_USER",
            task["id"],
            task["contextId"],
        )
        assert working["parts"] == [{"text": "working"}]
        got = (await client.rpc("GetTask", {"id": task["id"], "historyLength": 0})).document
        assert "history" not in got["result"]
        cancel = (await client.rpc("CancelTask", {"id": task["id"]})).document
        assert cancel["error"] == {"code": -32002, "message": "Task cannot be canceled"}
        unknown = (await client.rpc("GetTask", {"id": "nope"})).document
        assert unknown["error"] == {"code": -32001, "message": "Task not found"}


async def test_without_waiting_a_handler_runs_in_the_background(
    jamey_agent_server: AgentServerFactory,
) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        body = {**message("slow"), "configuration": {"returnImmediately": True}}
        task = (await client.rpc("SendMessage", body)).document["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_WORKING"
        for _ in range(100):
            got = (await client.rpc("GetTask", {"id": task["id"]})).document["result"]
            if got["status"]["state"] != "TASK_STATE_WORKING":
                break
            await asyncio.sleep(0.02)
        assert got["status"]["state"] == "TASK_STATE_COMPLETED"
        assert got["artifacts"][0]["parts"][0]["data"] == {"slept": True}


async def test_a_blocking_long_task_waits_and_closing_the_agent_releases_it(
    jamey_agent_server: AgentServerFactory,
) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        waiting = asyncio.ensure_future(client.rpc("SendMessage", message("long_task")))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # blocking: WORKING is not an answer yet
        started = asyncio.get_running_loop().time()
        await agent.close()
        assert asyncio.get_running_loop().time() - started < 2
        with contextlib.suppress(Exception):  # the answer, or the connection closed
            await asyncio.wait_for(waiting, 2)
        assert waiting.done()


async def test_input_then_a_follow_up_and_follow_ups_to_finished_tasks(
    jamey_agent_server: AgentServerFactory,
) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        task = (await client.rpc("SendMessage", message("needs_input"))).document["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        ids = {"taskId": task["id"], "contextId": task["contextId"]}
        done = (await client.rpc("SendMessage", message("yes", {"a": "b"}, **ids))).document
        assert done["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        # In the order things were said, as the SDK keeps it (A2A-WIRE 4.8): the question
        # comes before the reply that answers it.
        said = [
            (entry["role"], entry["parts"][0].get("text"))
            for entry in done["result"]["task"]["history"]
        ]
        question = task["status"]["message"]["parts"][0]["text"]
        assert said[0] == ("ROLE_USER", "needs_input")
        assert said.index(("ROLE_AGENT", question)) + 1 == said.index(("ROLE_USER", "yes"))
        late = (await client.rpc("SendMessage", message("again", **ids))).document
        assert late["error"]["code"] == -32004
        assert "terminal state: TASK_STATE_COMPLETED" in late["error"]["message"]
        lost = (await client.rpc("SendMessage", message("x", taskId="nope"))).document
        assert lost["error"]["code"] == -32001


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"message": {"role": "ROLE_USER", "parts": [{"text": "x"}]}}, -32602),  # no messageId
        ({"message": {"messageId": "m", "role": "user", "parts": [{"text": "x"}]}}, -32602),
        ({"message": {"messageId": "m", "role": "ROLE_USER", "parts": []}}, -32602),
        ({"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"data": {}}]}}, -32602),
        ([], -32602),
    ],
)
async def test_invalid_messages(
    jamey_agent_server: AgentServerFactory, params: Any, code: int
) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        answer = await client.rpc("SendMessage", params)
    assert answer.status == 200  # JSON-RPC errors come with HTTP 200
    assert answer.document["error"]["code"] == code


async def test_protocol_errors(jamey_agent_server: AgentServerFactory) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        no_version = await client.rpc("SendMessage", message("double", {"n": 1}), version=False)
        assert no_version.document["error"]["code"] == -32009
        old_method = await client.rpc("message/send", message("double"))
        assert old_method.document["error"] == {"code": -32601, "message": "Method not found"}
        bad_json = await client.request("POST", client.jsonrpc_url, data=b"{nope")
        assert bad_json.document["error"]["code"] == -32700
        assert bad_json.document["id"] is None
        no_key = await client.rpc("GetTask", {"id": "x"}, key=False)
        assert no_key.status == 401
        assert no_key.document == {
            "error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Unauthorized"}
        }
        assert no_key.headers["WWW-Authenticate"] == "Bearer"


async def test_a_repeated_idempotency_key_gets_the_first_answer(
    jamey_agent_server: AgentServerFactory,
) -> None:
    agent = await start(jamey_agent_server)
    async with raw(agent) as client:
        headers = {"Idempotency-Key": "same"}
        first = await client.rpc("SendMessage", message("double", {"n": 2}), headers=headers)
        again = await client.rpc("SendMessage", message("double", {"n": 2}), headers=headers)
        other = await client.rpc("SendMessage", message("double", {"n": 2}))
    task = first.document["result"]["task"]
    assert again.document["result"]["task"]["id"] == task["id"]
    assert other.document["result"]["task"]["id"] != task["id"]


def test_jamey_agent_help_offers_the_a2a_protocol() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "jamey_agent_orchestration.testing.server", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--protocol {jamey,a2a}" in shown


async def test_past_cache_size_the_oldest_finished_tasks_are_forgotten_never_a_live_one(
    jamey_agent_ca: ThrowawayCA,
) -> None:
    app = create_a2a_app(api_key="k", handlers={"double": double}, cache_size=2)
    async with AgentServer(app, ssl_context=jamey_agent_ca.server_context()) as server:
        client = RawA2A(
            jsonrpc_url=f"{server.url}{A2A_PATH}",
            rest_url="",
            ca_path=jamey_agent_ca.ca_path,
            api_key="k",
        )
        async with client:
            body = {**message("long_task"), "configuration": {"returnImmediately": True}}
            live = (await client.rpc("SendMessage", body)).document["result"]["task"]["id"]
            done = []
            for n in range(3):
                answer = await client.rpc("SendMessage", message("double", {"n": n}))
                done.append(answer.document["result"]["task"]["id"])
            found = {
                task_id: "result" in (await client.rpc("GetTask", {"id": task_id})).document
                for task_id in (live, *done)
            }
    assert found == {live: True, done[0]: False, done[1]: False, done[2]: True}
