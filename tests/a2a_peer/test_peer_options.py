"""The peer's options, each on a peer of its own: one binding, an API-key header, the fixtures."""

from __future__ import annotations

import asyncio

from a2a_peer import MASK, A2APeer
from a2a_peer.fixtures import PeerFactory
from a2a_peer.raw_client import raw_client_for

HELLO = {"message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "hello"}]}}


async def test_default_fixture_peer_is_started(a2a_peer: A2APeer) -> None:
    async with raw_client_for(a2a_peer) as raw:
        answer = await raw.rpc("SendMessage", HELLO)
    assert answer.document["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_a_single_binding_card_still_serves_both(a2a_peer_factory: PeerFactory) -> None:
    peer = await a2a_peer_factory(bindings=("HTTP+JSON",))
    async with raw_client_for(peer) as raw:
        card = (await raw.card(peer.base_url)).document
        assert [i["protocolBinding"] for i in card["supportedInterfaces"]] == ["HTTP+JSON"]
        assert (await raw.rpc("SendMessage", HELLO)).status == 200


async def test_api_key_header_scheme(a2a_peer_factory: PeerFactory) -> None:
    peer = await a2a_peer_factory(key_scheme="api-key-header", key_header="X-Agent-Key")
    card = peer.card_json
    (scheme,) = card["securitySchemes"].values()
    assert scheme == {
        "apiKeySecurityScheme": {
            "description": "X-Agent-Key: <api key>",
            "location": "header",
            "name": "X-Agent-Key",
        }
    }
    async with raw_client_for(peer) as raw:
        ok = await raw.rpc("SendMessage", HELLO)
        assert ok.document["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        bearer = await raw.rpc(
            "SendMessage", HELLO, key=False, headers={"Authorization": f"Bearer {peer.api_key}"}
        )
        assert bearer.status == 401
        assert bearer.document["error"]["message"] == "missing api key"
        assert "WWW-Authenticate" not in bearer.headers
        wrong = await raw.rest("GET", "/tasks/x", key=False, headers={"X-Agent-Key": "nope"})
        assert wrong.document["error"]["message"] == "invalid api key"
    assert [r.headers.get("x-agent-key") for r in peer.calls()] == [MASK, None, MASK]


async def test_a_released_slow_task_completes_and_stop_returns(
    a2a_peer_factory: PeerFactory,
) -> None:
    peer = await a2a_peer_factory()
    body = {**HELLO, "configuration": {"returnImmediately": True}}
    body["message"] = {**HELLO["message"], "parts": [{"text": "slow"}]}
    async with raw_client_for(peer) as raw:
        answer = await raw.rpc("SendMessage", body)
        task_id = answer.document["result"]["task"]["id"]
        assert answer.document["result"]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
        peer.executor.release_all()  # what stop() does first
        for _ in range(200):
            task = (await raw.rpc("GetTask", {"id": task_id})).document["result"]
            if task["status"]["state"] == "TASK_STATE_COMPLETED":
                break
            await asyncio.sleep(0.01)
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["name"] == "slow"
    await peer.stop()
    await peer.stop()  # idempotent: the fixture stops it again
