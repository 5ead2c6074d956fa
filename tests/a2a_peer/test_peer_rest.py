"""The SDK peer on HTTP+JSON, driven with raw aiohttp: the shapes of A2A-WIRE.md section 5."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from a2a_peer import FAILURE_TEXT, A2APeer, PeerCA
from a2a_peer.raw_client import RawA2A, RawAnswer, raw_client_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def peer(a2a_peer_ca: PeerCA) -> AsyncIterator[A2APeer]:
    async with A2APeer(ca=a2a_peer_ca, bindings=("HTTP+JSON", "JSONRPC")) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def raw(peer: A2APeer) -> AsyncIterator[RawA2A]:
    peer.reset()
    async with raw_client_for(peer) as client:
        yield client


def send_body(text: str, **configuration: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}]}
    }
    if configuration:
        body["configuration"] = configuration
    return body


def error_of(answer: RawAnswer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.content_type == "application/json"
    error: dict[str, Any] = answer.document["error"]
    assert error["code"] == status  # REST errors repeat the HTTP status
    return error


async def test_card_lists_rest_first(raw: RawA2A, peer: A2APeer) -> None:
    card = (await raw.card(peer.base_url)).document
    assert [i["protocolBinding"] for i in card["supportedInterfaces"]] == ["HTTP+JSON", "JSONRPC"]
    assert card["supportedInterfaces"][0]["url"] == peer.rest_url


async def test_send_is_wrapped_and_served_as_a2a_json(raw: RawA2A) -> None:
    answer = await raw.rest("POST", "/message:send", send_body("hello rest"))
    assert answer.status == 200
    assert answer.content_type == "application/a2a+json"
    task = answer.document["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"][0]["text"] == "echo: hello rest"


async def test_slow_task_get_and_cancel(raw: RawA2A) -> None:
    sent = await raw.rest("POST", "/message:send", send_body("slow", returnImmediately=True))
    task_id = sent.document["task"]["id"]
    assert sent.document["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"

    polled = await raw.rest("GET", f"/tasks/{task_id}")
    assert polled.status == 200
    assert polled.document["id"] == task_id  # bare Task
    assert polled.document["status"]["state"] == "TASK_STATE_WORKING"

    canceled = await raw.rest("POST", f"/tasks/{task_id}:cancel", {})
    assert canceled.status == 200
    assert canceled.document["status"]["state"] == "TASK_STATE_CANCELED"

    error = error_of(await raw.rest("POST", f"/tasks/{task_id}:cancel", {}), 400)
    assert error["status"] == "FAILED_PRECONDITION"
    assert error["details"][0]["reason"] == "TASK_NOT_CANCELABLE"


async def test_failed_task_is_200(raw: RawA2A) -> None:
    answer = await raw.rest("POST", "/message:send", send_body("fail"))
    assert answer.status == 200
    assert answer.document["task"]["status"]["state"] == "TASK_STATE_FAILED"
    assert answer.document["task"]["status"]["message"]["parts"] == [{"text": FAILURE_TEXT}]


async def test_unknown_task_is_404_with_google_rpc_status(raw: RawA2A) -> None:
    error = error_of(await raw.rest("GET", "/tasks/does-not-exist"), 404)
    assert error["status"] == "NOT_FOUND"
    assert error["message"] == "Task not found"
    assert error["details"][0]["reason"] == "TASK_NOT_FOUND"
    assert error["details"][0]["domain"] == "a2a-protocol.org"


async def test_without_a2a_version_400_version_not_supported(raw: RawA2A) -> None:
    answer = await raw.rest("POST", "/message:send", send_body("hello"), version=False)
    error = error_of(answer, 400)
    assert error["status"] == "FAILED_PRECONDITION"
    assert error["details"][0]["reason"] == "VERSION_NOT_SUPPORTED"


async def test_executor_crash_is_500_unknown_exception(raw: RawA2A) -> None:
    error = error_of(await raw.rest("POST", "/message:send", send_body("crash")), 500)
    assert error == {"code": 500, "status": "INTERNAL", "message": "unknown exception"}


async def test_bad_json_is_400_invalid_argument(raw: RawA2A) -> None:
    answer = await raw.request("POST", f"{raw.rest_url}/message:send", data=b"{not json")
    assert error_of(answer, 400)["status"] == "INVALID_ARGUMENT"


async def test_unknown_path_is_plain_404(raw: RawA2A) -> None:
    answer = await raw.rest("GET", "/no/such/route")
    assert answer.status == 404
    assert answer.content_type == "text/plain"


async def test_without_key_401_on_rest_too(raw: RawA2A) -> None:
    answer = await raw.rest("GET", "/tasks/x", key=False)
    assert answer.status == 401
    assert answer.document["error"]["message"] == "missing bearer token"
