"""a2a_wire against the official SDK server: its builders make the requests, its parsers read the
real answers, on both bindings. If the SDK and A2A-WIRE.md ever part ways, this is where it shows.

The client below is deliberately tiny (aiohttp, verified TLS, the card decides the binding and the
key header): the connector's own transport is not under test here.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from a2a_peer import FAILURE_TEXT, NEED_INPUT_TEXT, A2APeer, PeerCA
from a2a_peer.fixtures import PeerFactory

from jamey_agent_orchestration.net.a2a_wire import (
    A2A_VERSION,
    CARD_PATH,
    HTTP_JSON,
    JSONRPC,
    AgentError,
    Call,
    CancelTaskCall,
    ErrorStatus,
    GetTaskCall,
    KeyPlacement,
    MessageAnswer,
    Outcome,
    SendMessageCall,
    TaskAnswer,
    TaskState,
    build_request,
    choose_interface,
    default_capabilities,
    encode_json,
    key_placement,
    parse_agent_card,
    parse_response,
    send_verdict,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


class WireClient:
    """Card first, then calls built and read by a2a_wire."""

    def __init__(self, session: aiohttp.ClientSession, peer: A2APeer) -> None:
        self.session = session
        self.peer = peer
        self.ssl = ssl.create_default_context(cafile=str(peer.ca_path))
        self.binding: Any = None
        self.url = ""
        self.placement = KeyPlacement()

    async def load_card(self) -> None:
        async with self.session.get(
            self.peer.base_url + CARD_PATH, headers={"A2A-Version": A2A_VERSION}, ssl=self.ssl
        ) as response:
            card = parse_agent_card(await response.json())
        interface = choose_interface(card)
        self.binding, self.url = interface.protocol_binding, interface.url
        self.placement = key_placement(card)
        self.card = card

    async def call(
        self, call: Call, *, version: bool = True, api_key: str | None = None
    ) -> Outcome:
        request = build_request(self.binding, self.url, call, request_id=str(uuid.uuid4()))
        name, value = self.placement.header_for(api_key or self.peer.api_key)
        headers = {name: value, "Idempotency-Key": str(uuid.uuid4())}
        if version:
            headers["A2A-Version"] = A2A_VERSION
        body = None
        if request.body is not None:
            body = encode_json(request.body)
            headers["Content-Type"] = "application/json"
        async with self.session.request(
            request.method, request.url, data=body, headers=headers, ssl=self.ssl
        ) as response:
            raw = await response.read()
            try:
                document = json.loads(raw)
            except ValueError:
                document = None
            return parse_response(self.binding, call, status=response.status, document=document)


def send(text: str, **fields: Any) -> SendMessageCall:
    return SendMessageCall(text=text, message_id=str(uuid.uuid4()), **fields)


def task_of(outcome: Outcome) -> TaskAnswer:
    assert isinstance(outcome, TaskAnswer), outcome
    return outcome


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=[JSONRPC, HTTP_JSON])
async def peer(request: pytest.FixtureRequest, a2a_peer_ca: PeerCA) -> AsyncIterator[A2APeer]:
    first = request.param
    bindings = (first, HTTP_JSON if first == JSONRPC else JSONRPC)
    async with A2APeer(ca=a2a_peer_ca, bindings=bindings) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def client(peer: A2APeer) -> AsyncIterator[WireClient]:
    async with aiohttp.ClientSession() as session:
        wire = WireClient(session, peer)
        await wire.load_card()
        yield wire


async def test_the_card_picks_the_first_interface_and_bearer(client: WireClient) -> None:
    assert client.url == client.peer.card.supported_interfaces[0].url
    assert client.placement == KeyPlacement()
    assert default_capabilities(client.card) == (
        "echo",
        "test",
        "text",
        "task-lifecycle",
        "lifecycle",
        "polling",
        "cancel",
    )


async def test_echo_completes_with_the_params_as_data(client: WireClient) -> None:
    answer = task_of(await client.call(send("echo", data={"a": "1", "b": "two"})))
    assert answer.task.status.state is TaskState.COMPLETED
    assert send_verdict(answer, wait=True).success
    (artifact,) = answer.task.artifacts
    assert artifact.parts[1].data == {"a": "1", "b": "two"}  # strings stay strings
    assert answer.json["id"] == answer.task.id
    assert answer.metadata()["state"] == "TASK_STATE_COMPLETED"


async def test_a_slow_task_polled_and_cancelled(client: WireClient) -> None:
    started = task_of(await client.call(send("slow", wait=False)))
    assert started.task.status.state is TaskState.SUBMITTED
    assert send_verdict(started, wait=False).success
    task_id = started.task.id

    polled = task_of(await client.call(GetTaskCall(task_id=task_id, history_length=1)))
    assert polled.task.status.state is TaskState.WORKING
    assert len(polled.task.history) == 1

    canceled = task_of(await client.call(CancelTaskCall(task_id=task_id)))
    assert canceled.task.status.state is TaskState.CANCELED

    again = await client.call(CancelTaskCall(task_id=task_id))
    assert isinstance(again, AgentError)
    assert again.reason == "TASK_NOT_CANCELABLE"
    assert again.code == (-32002 if client.binding == JSONRPC else 400)


async def test_failed_rejected_and_interrupted_verdicts(client: WireClient) -> None:
    failed = await client.call(send("fail"))
    assert send_verdict(failed, wait=True).error == (
        f"Agent task ended in state TASK_STATE_FAILED: {FAILURE_TEXT}"
    )
    rejected = await client.call(send("reject"))
    assert send_verdict(rejected, wait=True).error == (
        "Agent task ended in state TASK_STATE_REJECTED: rejected by peer"
    )
    auth = send_verdict(await client.call(send("auth")), wait=True)
    assert auth.success
    assert auth.warning == "Agent task is in state TASK_STATE_AUTH_REQUIRED: authorization required"


async def test_input_required_then_continued(client: WireClient) -> None:
    asked = task_of(await client.call(send("input")))
    verdict = send_verdict(asked, wait=True)
    assert verdict.warning == f"Agent task is in state TASK_STATE_INPUT_REQUIRED: {NEED_INPUT_TEXT}"
    follow_up = send("here", task_id=asked.task.id, context_id=asked.task.context_id)
    done = task_of(await client.call(follow_up))
    assert done.task.id == asked.task.id
    assert done.task.status.state is TaskState.COMPLETED


async def test_a_message_answer(client: WireClient) -> None:
    answer = await client.call(send("message hi"))
    assert isinstance(answer, MessageAnswer)
    assert answer.message.text().startswith("echo: message hi")
    assert send_verdict(answer, wait=True).success


async def test_error_answers(client: WireClient) -> None:
    rpc = client.binding == JSONRPC
    crash = await client.call(send("crash"))
    assert crash == (
        AgentError(code=-32603, message="simulated executor crash")
        if rpc
        else AgentError(code=500, message="unknown exception")
    )
    missing = await client.call(GetTaskCall(task_id="does-not-exist"))
    assert isinstance(missing, AgentError)
    assert (missing.code, missing.reason) == ((-32001 if rpc else 404), "TASK_NOT_FOUND")
    no_version = await client.call(send("echo"), version=False)
    assert isinstance(no_version, AgentError)
    assert (no_version.code, no_version.reason) == (
        (-32009 if rpc else 400),
        "VERSION_NOT_SUPPORTED",
    )


async def test_a_wrong_key(client: WireClient) -> None:
    outcome = await client.call(send("echo"), api_key="wrong-key")
    if client.binding == JSONRPC:
        # The gate's body is no JSON-RPC envelope; its message is the agent's own.
        assert outcome == ErrorStatus(status=401, message="invalid bearer token")
    else:
        assert outcome == AgentError(code=401, message="invalid bearer token")


async def test_tricky_ids_are_encoded_and_simply_not_found(client: WireClient) -> None:
    for task_id in ("../../.well-known/agent-card.json", "a:cancel", "a b?c#d", "tâche"):
        outcome = await client.call(GetTaskCall(task_id=task_id))
        assert isinstance(outcome, AgentError | ErrorStatus), (task_id, outcome)
        assert not isinstance(outcome, TaskAnswer)


@pytest.mark.asyncio(loop_scope="function")
async def test_an_api_key_header_card(a2a_peer_factory: PeerFactory) -> None:
    peer = await a2a_peer_factory(key_scheme="api-key-header", key_header="X-Agent-Key")
    async with aiohttp.ClientSession() as session:
        wire = WireClient(session, peer)
        await wire.load_card()
        assert wire.placement == KeyPlacement(header="X-Agent-Key")
        answer = task_of(await wire.call(send("echo")))
    assert answer.task.status.state is TaskState.COMPLETED
    assert peer.calls()[0].headers["x-agent-key"] == "***"
