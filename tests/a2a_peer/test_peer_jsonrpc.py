"""The SDK peer on JSON-RPC, driven with raw aiohttp: the shapes of A2A-WIRE.md sections 2 to 4.

One peer serves the whole module (a peer stops in about 0.1 s); each test starts with its
recordings and injected failures cleared.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from a2a_peer import FAILURE_TEXT, MASK, NEED_INPUT_TEXT, A2APeer, PeerCA
from a2a_peer.raw_client import RawA2A, raw_client_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def peer(a2a_peer_ca: PeerCA) -> AsyncIterator[A2APeer]:
    async with A2APeer(ca=a2a_peer_ca) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def raw(peer: A2APeer) -> AsyncIterator[RawA2A]:
    peer.reset()
    async with raw_client_for(peer) as client:
        yield client


def message(text: str, *, data: dict[str, Any] | None = None, **fields: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text}]
    if data is not None:
        parts.append({"data": data, "mediaType": "application/json"})
    return {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": parts, **fields}


def result(answer: Any) -> Any:
    assert answer.status == 200, answer.body
    assert "error" not in answer.document, answer.document
    return answer.document["result"]


async def test_card_lists_both_interfaces_jsonrpc_first_and_a_bearer_scheme(
    raw: RawA2A, peer: A2APeer
) -> None:
    answer = await raw.card(peer.base_url)
    assert answer.status == 200
    card = answer.document
    assert [(i["protocolBinding"], i["url"]) for i in card["supportedInterfaces"]] == [
        ("JSONRPC", peer.jsonrpc_url),
        ("HTTP+JSON", peer.rest_url),
    ]
    assert {i["protocolVersion"] for i in card["supportedInterfaces"]} == {"1.0"}
    (scheme,) = card["securitySchemes"].values()
    assert scheme["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert card["securityRequirements"] == [{"schemes": {"peerKey": {}}}]
    assert [skill["id"] for skill in card["skills"]] == ["echo", "task-lifecycle"]
    assert card == peer.card_json
    # The card is public: fetched without a key, and recorded as such.
    assert peer.requests[-1].authorized


async def test_echo_comes_back_wrapped_completed_with_the_data_as_doubles(raw: RawA2A) -> None:
    sent = message("hello peer", data={"n": 42, "tags": ["a", "b"]})
    answer = await raw.rpc("SendMessage", {"message": sent})
    assert answer.content_type == "application/json"
    task = result(answer)["task"]  # a wrapper, not a bare Task
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [{"text": "completed"}]
    assert task["status"]["timestamp"].endswith("Z")
    (artifact,) = task["artifacts"]
    assert artifact["name"] == "echo"
    text, data = artifact["parts"]
    assert text["text"].startswith("echo: hello peer\ndata: ")
    assert data == {"data": {"n": 42.0, "tags": ["a", "b"]}, "mediaType": "application/json"}
    assert isinstance(data["data"]["n"], float)  # protobuf Value: every number is a double
    assert task["history"][0]["messageId"] == sent["messageId"]


async def test_slow_task_returns_immediately_stays_working_and_is_cancelled(raw: RawA2A) -> None:
    sent = {"message": message("slow"), "configuration": {"returnImmediately": True}}
    task = result(await raw.rpc("SendMessage", sent))["task"]
    assert task["status"]["state"] == "TASK_STATE_SUBMITTED"

    polled = result(await raw.rpc("GetTask", {"id": task["id"]}))
    assert "task" not in polled  # GetTask answers a bare Task
    assert polled["id"] == task["id"]
    assert polled["status"]["state"] == "TASK_STATE_WORKING"

    canceled = result(await raw.rpc("CancelTask", {"id": task["id"]}))
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    assert canceled["status"]["message"]["parts"] == [{"text": "canceled by request"}]

    again = (await raw.rpc("CancelTask", {"id": task["id"]})).document
    assert again["error"]["code"] == -32002
    assert again["error"]["data"][0]["reason"] == "TASK_NOT_CANCELABLE"


async def test_history_length_keeps_only_the_last_entries(raw: RawA2A) -> None:
    task = result(await raw.rpc("SendMessage", {"message": message("hello")}))["task"]
    assert len(task["history"]) == 2
    polled = result(await raw.rpc("GetTask", {"id": task["id"], "historyLength": 1}))
    assert len(polled["history"]) == 1


async def test_a_failed_task_is_a_success_response_not_an_error(raw: RawA2A) -> None:
    task = result(await raw.rpc("SendMessage", {"message": message("fail")}))["task"]
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["status"]["message"]["parts"] == [{"text": FAILURE_TEXT}]


@pytest.mark.parametrize(
    ("word", "state"),
    [("reject", "TASK_STATE_REJECTED"), ("auth", "TASK_STATE_AUTH_REQUIRED")],
)
async def test_reject_and_auth_states(raw: RawA2A, word: str, state: str) -> None:
    task = result(await raw.rpc("SendMessage", {"message": message(word)}))["task"]
    assert task["status"]["state"] == state


async def test_input_required_then_completed_by_a_follow_up_with_the_same_task_id(
    raw: RawA2A,
) -> None:
    first = result(await raw.rpc("SendMessage", {"message": message("input")}))["task"]
    assert first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert first["status"]["message"]["parts"] == [{"text": NEED_INPUT_TEXT}]

    follow_up = message("here it is", taskId=first["id"], contextId=first["contextId"])
    done = result(await raw.rpc("SendMessage", {"message": follow_up}))["task"]
    assert done["id"] == first["id"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert done["artifacts"][-1]["parts"][0]["text"] == "echo: here it is"

    terminal = await raw.rpc("SendMessage", {"message": message("more", taskId=first["id"])})
    assert terminal.document["error"]["code"] == -32004


async def test_message_answer_is_wrapped_as_message(raw: RawA2A) -> None:
    answer = result(await raw.rpc("SendMessage", {"message": message("message hi")}))
    assert set(answer) == {"message"}
    assert answer["message"]["role"] == "ROLE_AGENT"


async def test_executor_crash_is_minus_32603_with_http_200(raw: RawA2A) -> None:
    answer = await raw.rpc("SendMessage", {"message": message("crash")})
    assert answer.status == 200
    assert answer.document["error"] == {"code": -32603, "message": "simulated executor crash"}


async def test_unknown_task_is_minus_32001_with_typed_details(raw: RawA2A) -> None:
    error = (await raw.rpc("GetTask", {"id": "does-not-exist"})).document["error"]
    assert error["code"] == -32001
    assert error["message"] == "Task not found"
    assert error["data"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert error["data"][0]["reason"] == "TASK_NOT_FOUND"


async def test_without_a2a_version_the_call_is_refused_as_0_3(raw: RawA2A) -> None:
    answer = await raw.rpc("SendMessage", {"message": message("hello")}, version=False)
    assert answer.status == 200
    assert answer.document["error"]["code"] == -32009
    assert "'0.3' is not supported" in answer.document["error"]["message"]


async def test_v0_3_shapes_are_refused(raw: RawA2A) -> None:
    old_method = await raw.rpc("message/send", {"message": message("hello")})
    assert old_method.document["error"]["code"] == -32601
    old_message = {"kind": "message", "messageId": "m", "role": "user", "parts": [{"text": "x"}]}
    invalid = (await raw.rpc("SendMessage", {"message": old_message})).document["error"]
    assert invalid["code"] == -32602
    assert invalid["data"][0]["metadata"]["errors"][0]["field"] == "message.role"


@pytest.mark.parametrize(
    ("headers", "problem"),
    [({}, "missing bearer token"), ({"Authorization": "Bearer wrong"}, "invalid bearer token")],
)
async def test_without_the_right_key_the_gate_answers_401(
    raw: RawA2A, peer: A2APeer, headers: dict[str, str], problem: str
) -> None:
    answer = await raw.rpc("GetTask", {"id": "x"}, key=False, headers=headers)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="a2a-peer"'
    assert answer.document == {
        "error": {"code": 401, "status": "UNAUTHENTICATED", "message": problem}
    }
    assert not peer.requests[-1].authorized


async def test_requests_are_recorded_with_the_key_masked(raw: RawA2A, peer: A2APeer) -> None:
    sent = message("hello")
    await raw.rpc("SendMessage", {"message": sent}, headers={"Idempotency-Key": "idem-1"})
    (recorded,) = peer.calls()
    assert recorded.method == "POST"
    assert recorded.path == "/a2a/jsonrpc"
    assert recorded.status == 200
    assert recorded.headers["a2a-version"] == "1.0"
    assert recorded.headers["authorization"] == f"Bearer {MASK}"
    assert recorded.idempotency_key == "idem-1"
    assert recorded.message_id == sent["messageId"]
    assert recorded.json()["method"] == "SendMessage"
    assert peer.api_key not in repr(peer.requests)


async def test_injected_failures_come_first_and_are_recorded(raw: RawA2A, peer: A2APeer) -> None:
    peer.fail_next(503, times=2, headers={"Retry-After": "0"})
    sent = message("hello")
    statuses = []
    for _ in range(3):
        answer = await raw.rpc("SendMessage", {"message": sent})
        statuses.append(answer.status)
    assert statuses == [503, 503, 200]
    assert answer.document["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [r.status for r in peer.calls()] == [503, 503, 200]
    assert {r.message_id for r in peer.calls()} == {sent["messageId"]}


async def test_card_fetch_is_not_failed_unless_asked(raw: RawA2A, peer: A2APeer) -> None:
    peer.fail_next(503)
    assert (await raw.card(peer.base_url)).status == 200
    assert (await raw.rpc("GetTask", {"id": "x"})).status == 503
    peer.fail_next(502, card_too=True)
    assert (await raw.card(peer.base_url)).status == 502


async def test_the_certificate_is_verified(peer: A2APeer) -> None:
    untrusting = ssl.create_default_context()  # the platform's store only: not our CA
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(peer.card_url, ssl=untrusting)
