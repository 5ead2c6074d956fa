"""The connector against the official SDK's server, every action of contract section 7, on both
bindings: each test runs once against a peer whose card offers JSON-RPC, once HTTP+JSON."""

from __future__ import annotations

import pytest
from a2a_peer import FAILURE_TEXT, MASK, NEED_INPUT_TEXT, A2APeer, PeerCA

from jamey_agent_orchestration.testing import RecordingAgent

from .helpers import Interop, ok, output

pytestmark = pytest.mark.asyncio(loop_scope="module")

JSONRPC_PATH = "/a2a/jsonrpc"
REST_PATH = "/a2a/rest"


def binding(peer: A2APeer) -> str:
    return peer.card_json["supportedInterfaces"][0]["protocolBinding"]


def rpc(peer: A2APeer) -> bool:
    return binding(peer) == "JSONRPC"


# -- register_agent, list_agents ----------------------------------------------------------------


async def test_registration_takes_name_and_capabilities_from_the_card(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("peer", fresh_peer)
    [card_fetch] = fresh_peer.requests
    assert (card_fetch.method, card_fetch.path) == ("GET", "/.well-known/agent-card.json")
    assert card_fetch.headers["a2a-version"] == "1.0"
    assert "authorization" not in card_fetch.headers

    listed = [
        entry for entry in output(ok(await interop.call("list_agents"))) if entry["id"] == agent_id
    ]
    assert listed == [
        {
            "id": agent_id,
            "name": "A2A Test Peer",
            "url": fresh_peer.base_url,
            # each skill's id then its tags, in card order, the first of any duplicate
            "capabilities": [
                "echo",
                "test",
                "text",
                "task-lifecycle",
                "lifecycle",
                "polling",
                "cancel",
            ],
            "protocol": "a2a",
        }
    ]
    [registered] = interop.named("agent.registered")
    assert registered.details["protocol"] == "a2a"
    assert registered.details["binding"] == binding(fresh_peer)
    assert registered.details["endpoint_origin"] == fresh_peer.base_url
    assert fresh_peer.api_key not in registered.to_json()


async def test_given_name_and_capabilities_win_over_the_card(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("named", fresh_peer, name="Mine", capabilities="x,y")
    [entry] = [e for e in output(await interop.call("list_agents")) if e["id"] == agent_id]
    assert (entry["name"], entry["capabilities"]) == ("Mine", ["x", "y"])


# -- send_task --------------------------------------------------------------------------------


async def test_send_task_is_a_message_with_a_text_and_a_data_part(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("echo", fresh_peer)
    result = ok(await interop.call("send_task", agent_id=agent_id, task="hello peer", param_n="42"))
    task = output(result)
    assert "task" not in task  # no {"task": ...} wrapper
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"][1]["data"] == {"n": "42"}
    assert result.metadata == {
        "agent_id": agent_id,
        "attempts": "1",
        "status": "200",
        "protocol": "a2a",
        "task_id": task["id"],
        "context_id": task["contextId"],
        "state": "TASK_STATE_COMPLETED",
    }
    assert result.agents_contacted == [agent_id]

    [call] = fresh_peer.calls()
    assert call.method == "POST"
    assert call.path == (JSONRPC_PATH if rpc(fresh_peer) else f"{REST_PATH}/message:send")
    assert call.headers["a2a-version"] == "1.0"
    assert call.headers["authorization"] == f"Bearer {MASK}"
    assert call.headers["content-type"] == "application/json"
    assert call.idempotency_key
    assert call.message_id == call.idempotency_key  # one value per task and agent
    body = call.json()
    params = body["params"] if rpc(fresh_peer) else body
    if rpc(fresh_peer):
        assert body["method"] == "SendMessage"
    assert params["message"]["role"] == "ROLE_USER"
    assert params["message"]["parts"] == [
        {"text": "hello peer"},
        {"data": {"n": "42"}, "mediaType": "application/json"},
    ]
    assert "configuration" not in params  # wait=true is the default: blocking


async def test_no_params_no_data_part(interop: Interop, fresh_peer: A2APeer) -> None:
    agent_id = await interop.register("bare", fresh_peer)
    ok(await interop.call("send_task", agent_id=agent_id, task="just text"))
    [call] = fresh_peer.calls()
    body = call.json()
    params = body["params"] if rpc(fresh_peer) else body
    assert params["message"]["parts"] == [{"text": "just text"}]


async def test_a_message_answer(interop: Interop, fresh_peer: A2APeer) -> None:
    agent_id = await interop.register("msg", fresh_peer)
    result = ok(await interop.call("send_task", agent_id=agent_id, task="message please"))
    message = output(result)
    assert message["role"] == "ROLE_AGENT"
    assert message["parts"][0]["text"] == "echo: message please"
    assert result.metadata["protocol"] == "a2a"
    assert "task_id" not in result.metadata


@pytest.mark.parametrize(
    ("word", "state", "text"),
    [
        ("fail", "TASK_STATE_FAILED", FAILURE_TEXT),
        ("reject", "TASK_STATE_REJECTED", "rejected by peer"),
    ],
)
async def test_a_task_that_ended_badly_fails_with_its_task_in_the_output(
    interop: Interop, fresh_peer: A2APeer, word: str, state: str, text: str
) -> None:
    agent_id = await interop.register(word, fresh_peer)
    result = await interop.call("send_task", agent_id=agent_id, task=f"{word} please")
    assert not result.success
    assert result.errors == [f"Agent task ended in state {state}: {text}"]
    assert output(result)["status"]["state"] == state
    assert result.metadata["state"] == state
    assert result.agents_contacted == [agent_id]
    assert len(fresh_peer.calls()) == 1  # an agent's answer: never retried


@pytest.mark.parametrize(
    ("word", "state", "text"),
    [
        ("input", "TASK_STATE_INPUT_REQUIRED", NEED_INPUT_TEXT),
        ("auth", "TASK_STATE_AUTH_REQUIRED", "authorization required"),
    ],
)
async def test_an_interrupted_task_succeeds_with_a_warning(
    interop: Interop, fresh_peer: A2APeer, word: str, state: str, text: str
) -> None:
    agent_id = await interop.register(word, fresh_peer)
    result = ok(await interop.call("send_task", agent_id=agent_id, task=f"{word} needed"))
    assert result.warnings == [f"Agent task is in state {state}: {text}"]
    assert result.metadata["state"] == state


async def test_a_task_that_asked_for_input_is_continued_with_task_id(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("cont", fresh_peer)
    first = ok(await interop.call("send_task", agent_id=agent_id, task="input please"))
    task_id, context_id = first.metadata["task_id"], first.metadata["context_id"]
    follow_up = ok(
        await interop.call(
            "send_task",
            agent_id=agent_id,
            task="here it is",
            task_id=task_id,
            context_id=context_id,
        )
    )
    assert follow_up.metadata["task_id"] == task_id
    assert follow_up.metadata["state"] == "TASK_STATE_COMPLETED"
    assert follow_up.warnings == []
    sent = fresh_peer.calls()[-1].json()
    message = (sent["params"] if rpc(fresh_peer) else sent)["message"]
    assert (message["taskId"], message["contextId"]) == (task_id, context_id)


async def test_a_crash_is_the_agents_error(interop: Interop, fresh_peer: A2APeer) -> None:
    agent_id = await interop.register("crash", fresh_peer)
    result = await interop.call("send_task", agent_id=agent_id, task="crash now")
    expected = (
        "Agent returned error: -32603 simulated executor crash"
        if rpc(fresh_peer)
        else "Agent returned error: 500 unknown exception"
    )
    assert result.errors == [expected]
    assert result.output == ""


# -- wait=false, get_task, cancel_task ------------------------------------------------------


async def test_a_long_task_is_started_polled_and_cancelled(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("slow", fresh_peer)
    started = ok(await interop.call("send_task", agent_id=agent_id, task="slow work", wait="false"))
    assert started.metadata["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")
    task_id = started.metadata["task_id"]
    body = fresh_peer.calls()[0].json()
    params = body["params"] if rpc(fresh_peer) else body
    assert params["configuration"] == {"returnImmediately": True}

    polled = ok(await interop.call("get_task", agent_id=agent_id, task_id=task_id))
    assert polled.metadata["state"] == "TASK_STATE_WORKING"
    assert polled.metadata["task_id"] == task_id
    assert output(polled)["history"]
    trimmed = ok(
        await interop.call("get_task", agent_id=agent_id, task_id=task_id, history_length="0")
    )
    assert "history" not in output(trimmed)

    cancelled = ok(await interop.call("cancel_task", agent_id=agent_id, task_id=task_id))
    assert cancelled.metadata["state"] == "TASK_STATE_CANCELED"
    assert output(cancelled)["status"]["state"] == "TASK_STATE_CANCELED"
    assert cancelled.warnings == []

    again = await interop.call("cancel_task", agent_id=agent_id, task_id=task_id)
    code = "-32002" if rpc(fresh_peer) else "400"
    assert again.errors == [f"Agent returned error: {code} Task cannot be canceled"]
    after = ok(await interop.call("get_task", agent_id=agent_id, task_id=task_id))
    assert after.metadata["state"] == "TASK_STATE_CANCELED"  # a success whatever the state

    calls = fresh_peer.calls()
    if rpc(fresh_peer):
        assert [c.json()["method"] for c in calls] == [
            "SendMessage",
            "GetTask",
            "GetTask",
            "CancelTask",
            "CancelTask",
            "GetTask",
        ]
        assert calls[2].json()["params"] == {"id": task_id, "historyLength": 0}
    else:
        assert [(c.method, c.path) for c in calls[1:5]] == [
            ("GET", f"{REST_PATH}/tasks/{task_id}"),
            ("GET", f"{REST_PATH}/tasks/{task_id}"),
            ("POST", f"{REST_PATH}/tasks/{task_id}:cancel"),
            ("POST", f"{REST_PATH}/tasks/{task_id}:cancel"),
        ]
        assert calls[2].query == "historyLength=0"
        assert "content-type" not in calls[1].headers  # a GET has no body
    for call in calls:
        assert call.headers["a2a-version"] == "1.0"
        assert call.headers["authorization"] == f"Bearer {MASK}"
        assert call.idempotency_key
    assert len({call.idempotency_key for call in calls}) == len(calls)  # one per request


async def test_an_unknown_task(interop: Interop, fresh_peer: A2APeer) -> None:
    agent_id = await interop.register("unknown", fresh_peer)
    result = await interop.call("get_task", agent_id=agent_id, task_id="no-such-task")
    code = "-32001" if rpc(fresh_peer) else "404"
    assert result.errors == [f"Agent returned error: {code} Task not found"]
    cancel = await interop.call("cancel_task", agent_id=agent_id, task_id="no-such-task")
    assert cancel.errors == [f"Agent returned error: {code} Task not found"]


# -- retries, keys, routing -----------------------------------------------------------------


async def test_retries_keep_the_idempotency_key_and_the_message_id(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("retry", fresh_peer)
    fresh_peer.fail_next(503, times=2, headers={"Retry-After": "0"})
    result = ok(await interop.call("send_task", agent_id=agent_id, task="again", param_a="1"))
    assert result.metadata["attempts"] == "3"
    calls = fresh_peer.calls()
    assert [call.status for call in calls] == [503, 503, 200]
    assert len({call.idempotency_key for call in calls}) == 1
    assert len({call.message_id for call in calls}) == 1
    assert calls[0].body == calls[2].body  # the very same request


async def test_task_queries_are_retried_on_transient_failures(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("query-retry", fresh_peer)
    started = ok(await interop.call("send_task", agent_id=agent_id, task="slow one", wait="false"))
    task_id = started.metadata["task_id"]
    fresh_peer.fail_next(502, times=1, headers={"Retry-After": "0"})
    polled = ok(await interop.call("get_task", agent_id=agent_id, task_id=task_id))
    assert polled.metadata["attempts"] == "2"
    fresh_peer.fail_next(503, times=1, headers={"Retry-After": "0"})
    cancelled = ok(await interop.call("cancel_task", agent_id=agent_id, task_id=task_id))
    assert cancelled.metadata["attempts"] == "2"
    get_calls, cancel_calls = fresh_peer.calls()[1:3], fresh_peer.calls()[3:5]
    assert get_calls[0].idempotency_key == get_calls[1].idempotency_key
    assert cancel_calls[0].idempotency_key == cancel_calls[1].idempotency_key


async def test_a_wrong_key_is_refused_and_not_retried(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    agent_id = await interop.register("wrong-key", fresh_peer, api_key="not-the-key")
    result = await interop.call("send_task", agent_id=agent_id, task="hello")
    expected = (
        "Agent returned error status: 401: invalid bearer token"  # the gate is no JSON-RPC
        if rpc(fresh_peer)
        else "Agent returned error: 401 invalid bearer token"
    )
    assert result.errors == [expected]
    assert len(fresh_peer.calls()) == 1


@pytest.mark.parametrize("capability", ["echo", "lifecycle", "task-lifecycle"])
async def test_send_task_by_capability_matches_skill_ids_and_tags(
    interop: Interop, fresh_peer: A2APeer, capability: str
) -> None:
    agent_id = await interop.register("routed", fresh_peer)
    result = ok(await interop.call("send_task", capability=capability, task="routed here"))
    assert result.agents_contacted == [agent_id]  # the only agent registered now


async def test_an_api_key_header_scheme_sends_the_key_in_that_header(
    interop: Interop, a2a_peer_ca: PeerCA, peer: A2APeer
) -> None:
    async with A2APeer(
        ca=a2a_peer_ca,
        bindings=(binding(peer),),
        key_scheme="api-key-header",
        key_header="X-Agent-Key",
    ) as keyed:
        agent_id = await interop.register("keyed", keyed)
        ok(await interop.call("send_task", agent_id=agent_id, task="hello"))
        [call] = keyed.calls()
        assert call.headers["x-agent-key"] == MASK
        assert "authorization" not in call.headers


# -- broadcast ------------------------------------------------------------------------------


async def test_a_broadcast_reaches_a2a_and_jamey_agents_alike(
    interop: Interop, fresh_peer: A2APeer, jamey_agent: RecordingAgent
) -> None:
    capability = interop.id("mixed")
    a2a_id = await interop.register("a2a", fresh_peer, capabilities=capability)
    refused_id = await interop.register(
        "a2a-wrong", fresh_peer, capabilities=capability, api_key="wrong"
    )
    jamey_id = interop.id("jamey")
    ok(
        await interop.call(
            "register_agent",
            agent_id=jamey_id,
            name="Jamey",
            url=jamey_agent.url,
            api_key=jamey_agent.api_key,
            capabilities=capability,
        )
    )
    result = ok(await interop.call("broadcast", task="hello", capability=capability, param_x="1"))
    answers = output(result)
    assert list(answers) == [a2a_id, refused_id, jamey_id]
    assert answers[a2a_id]["status"]["state"] == "TASK_STATE_COMPLETED"  # the Task itself
    assert answers[jamey_id] == {"hello": {"x": "1"}}
    assert set(answers[refused_id]) == {"error"}
    assert answers[refused_id]["error"].startswith("Agent returned")
    assert result.metadata == {"succeeded": "2", "failed": "1", "total": "3"}
    assert sorted(result.agents_contacted) == sorted([a2a_id, refused_id, jamey_id])


async def test_a_failed_task_counts_as_failed_in_a_broadcast_and_is_shown(
    interop: Interop, fresh_peer: A2APeer
) -> None:
    capability = interop.id("fails")
    agent_id = await interop.register("fails", fresh_peer, capabilities=capability)
    result = ok(await interop.call("broadcast", task="fail all", capability=capability))
    assert output(result)[agent_id]["status"]["state"] == "TASK_STATE_FAILED"
    assert result.metadata["failed"] == "1"
