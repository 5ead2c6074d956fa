"""The SDK's own client (``sdk_client``) against the SDK peer: the helper works on both bindings,
streaming or not, with either key scheme; it is what later drives the reference agent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from a2a.types import CancelTaskRequest, GetTaskRequest, Task, TaskNotFoundError, TaskState
from google.protobuf.json_format import MessageToDict

from a2a_peer import MASK, A2APeer, PeerCA, sdk_client, send_text
from a2a_peer.fixtures import PeerFactory

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def peer(a2a_peer_ca: PeerCA) -> AsyncIterator[A2APeer]:
    async with A2APeer(ca=a2a_peer_ca) as started:
        yield started


@pytest.fixture
def fresh(peer: A2APeer) -> A2APeer:
    peer.reset()
    return peer


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "streaming"])
@pytest.mark.parametrize(
    ("binding", "path"), [("JSONRPC", "/a2a/jsonrpc"), ("HTTP+JSON", "/a2a/rest/message:")]
)
async def test_echo_on_each_binding(
    fresh: A2APeer, binding: str, path: str, streaming: bool
) -> None:
    async with sdk_client(
        fresh.base_url,
        ca_path=fresh.ca_path,
        api_key=fresh.api_key,
        bindings=(binding,),
        streaming=streaming,
    ) as client:
        answer = await send_text(client, "sdk says hi", data={"n": 1, "ok": True})
    assert isinstance(answer, Task)
    assert answer.status.state == TaskState.TASK_STATE_COMPLETED
    echoed = MessageToDict(answer.artifacts[0].parts[1].data)
    assert echoed == {"n": 1.0, "ok": True}

    card_fetch, first_call, *_ = fresh.requests
    assert card_fetch.path == "/.well-known/agent-card.json"
    assert "authorization" not in card_fetch.headers
    assert first_call.path.startswith(path)
    assert first_call.headers["a2a-version"] == "1.0"
    assert first_call.headers["authorization"] == f"Bearer {MASK}"
    if streaming:
        assert first_call.headers["accept"] == "text/event-stream"


async def test_poll_and_cancel_a_slow_task(fresh: A2APeer) -> None:
    async with sdk_client(
        fresh.base_url, ca_path=fresh.ca_path, api_key=fresh.api_key, polling=True
    ) as client:
        started = await send_text(client, "slow")
        assert isinstance(started, Task)
        assert started.status.state == TaskState.TASK_STATE_SUBMITTED
        polled = await client.get_task(GetTaskRequest(id=started.id))
        assert polled.status.state == TaskState.TASK_STATE_WORKING
        canceled = await client.cancel_task(CancelTaskRequest(id=started.id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="does-not-exist"))


async def test_input_required_follow_up(fresh: A2APeer) -> None:
    async with sdk_client(fresh.base_url, ca_path=fresh.ca_path, api_key=fresh.api_key) as client:
        asked = await send_text(client, "input")
        assert isinstance(asked, Task)
        assert asked.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        done = await send_text(client, "there", task_id=asked.id, context_id=asked.context_id)
    assert isinstance(done, Task)
    assert done.id == asked.id
    assert done.status.state == TaskState.TASK_STATE_COMPLETED


@pytest.mark.asyncio(loop_scope="function")
async def test_api_key_header_from_the_card(a2a_peer_factory: PeerFactory) -> None:
    peer = await a2a_peer_factory(key_scheme="api-key-header", key_header="X-Agent-Key")
    async with sdk_client(peer.base_url, ca_path=peer.ca_path, api_key=peer.api_key) as client:
        answer = await send_text(client, "hello")
    assert isinstance(answer, Task)
    assert answer.status.state == TaskState.TASK_STATE_COMPLETED
    call = peer.calls()[0]
    assert call.headers["x-agent-key"] == MASK
    assert "authorization" not in call.headers
