"""The ASGI layer in front of the SDK app: records requests, plays injected failures, checks keys.

The SDK server enforces no security scheme its card declares (TRAPS.md), so without this gate
every "wrong key" test would pass for the wrong reason. The card path is public, as A2A wants.
"""

from __future__ import annotations

import hmac
import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final, final

import attrs

__all__ = ["MASK", "CannedResponse", "PeerGate", "RecordedRequest"]

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MASK: Final = "***"
CARD_PATH: Final = "/.well-known/agent-card.json"
REALM: Final = 'Bearer realm="a2a-peer"'


@attrs.frozen
class RecordedRequest:
    """One request as the peer received it.

    ``headers`` has lower-case names; the credential in ``authorization`` (after the scheme word)
    and the whole value of the key header are shown as ``***``, whatever was sent. ``status`` is
    what the peer answered (``None`` if the answer never started).
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    authorized: bool
    status: int | None = None

    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body)."""
        return json.loads(self.body) if self.body else None

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def message_id(self) -> str | None:
        """``messageId`` of a SendMessage, on either binding (JSON-RPC ``params`` or REST body)."""
        try:
            document = self.json()
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        params = document.get("params", document)
        message = params.get("message") if isinstance(params, dict) else None
        value = message.get("messageId") if isinstance(message, dict) else None
        return value if isinstance(value, str) else None


@attrs.frozen
class CannedResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    card_too: bool  # also answers a card fetch (else card fetches pass it by)


@final
class PeerGate:
    """Wraps ``app``; the peer object owns its ``requests`` list and ``failures`` queue."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str,
        key_header: str | None,
        requests: list[RecordedRequest],
        failures: deque[CannedResponse],
    ) -> None:
        self._app = app
        self._api_key = api_key
        # ``None``: the key comes as ``Authorization: Bearer KEY``; else in this header, bare.
        self._key_header = key_header.lower() if key_header else None
        self._requests = requests
        self._failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        body = await _read_body(receive)
        headers = _headers(scope)
        path = scope["path"]
        is_card = path == CARD_PATH
        problem = None if is_card else self._key_problem(headers)
        index = len(self._requests)
        self._requests.append(
            RecordedRequest(
                method=scope["method"],
                path=path,
                query=scope.get("query_string", b"").decode("latin-1"),
                headers=self._masked(headers),
                body=body,
                authorized=problem is None,
            )
        )

        async def recording_send(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                self._requests[index] = attrs.evolve(
                    self._requests[index], status=message["status"]
                )
            await send(message)

        if self._failures and (not is_card or self._failures[0].card_too):
            canned = self._failures.popleft()
            await _respond(recording_send, canned.status, canned.headers, canned.body)
            return
        if problem is not None:
            extra = {"www-authenticate": REALM} if self._key_header is None else {}
            error = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": problem}}
            await _respond(recording_send, 401, extra, json.dumps(error).encode())
            return
        await self._app(scope, _replay(body, receive), recording_send)

    def _key_problem(self, headers: Mapping[str, str]) -> str | None:
        if self._key_header is None:
            value = headers.get("authorization")
            kind = "bearer token"
            scheme, _, presented = (value or "").partition(" ")
            if value is None or scheme.lower() != "bearer":
                return f"missing {kind}"
        else:
            presented_or_none = headers.get(self._key_header)
            kind = "api key"
            if presented_or_none is None:
                return f"missing {kind}"
            presented = presented_or_none
        if not hmac.compare_digest(presented.encode(), self._api_key.encode()):
            return f"invalid {kind}"
        return None

    def _masked(self, headers: Mapping[str, str]) -> dict[str, str]:
        masked = dict(headers)
        if "authorization" in masked:
            scheme, _, _ = masked["authorization"].partition(" ")
            masked["authorization"] = f"{scheme} {MASK}"
        if self._key_header is not None and self._key_header in masked:
            masked[self._key_header] = MASK
        return masked


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> ASGIMessage:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _respond(send: Send, status: int, headers: Mapping[str, str], body: bytes) -> None:
    names = {name.lower() for name in headers}
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if "content-type" not in names:
        raw_headers.append((b"content-type", b"application/json"))
    raw_headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
