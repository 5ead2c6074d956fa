"""An official-SDK A2A server over HTTPS on 127.0.0.1, started and stopped inside the test's loop.

Usage (the fixtures in :mod:`a2a_peer.fixtures` do this)::

    async with A2APeer(ca=ca, bindings=("JSONRPC", "HTTP+JSON")) as peer:
        peer.base_url, peer.jsonrpc_url, peer.rest_url, peer.api_key, peer.ca_path
        peer.fail_next(503, times=2, headers={"Retry-After": "0"})
        peer.requests  # RecordedRequest, in arrival order
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self, final

import uvicorn
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import (
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.server.tasks import InMemoryTaskStore
from starlette.applications import Starlette

from .card import JSONRPC, JSONRPC_PATH, REST, REST_PATH, Binding, KeyScheme, build_card
from .executor import ScriptedExecutor
from .gate import CARD_PATH, CannedResponse, PeerGate, RecordedRequest
from .tls import PeerCA

__all__ = ["A2APeer"]

STARTUP_TIMEOUT: Final = 5.0
SHUTDOWN_TIMEOUT: Final = 5.0


class _InProcessServer(uvicorn.Server):
    """A uvicorn server that leaves the test process's signal handlers alone.

    ``Server.serve`` swaps in its own SIGINT/SIGTERM handlers and restores them on exit; peers
    stopped out of order would leave a stopped server's handler behind, and Ctrl+C would then
    no longer stop pytest.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listening_socket() -> socket.socket:
    """A socket on 127.0.0.1 and a free port, made with ``IPPROTO_TCP``.

    asyncio turns Nagle off (TCP_NODELAY) only on sockets whose ``proto`` is ``IPPROTO_TCP``;
    ``socket.create_server`` makes them with ``proto=0``, and uvicorn, which writes headers and body
    separately, then waits out the client's delayed ACK: 40 ms on every kept-alive request.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


@final
class A2APeer:
    """One SDK server: agent card, JSON-RPC at ``/a2a/jsonrpc``, HTTP+JSON at ``/a2a/rest``.

    ``bindings`` lists the card's interfaces in order (both are always served, so a test can also
    call the one the card leaves out). ``key_scheme`` is ``"bearer"`` (``Authorization: Bearer``)
    or ``"api-key-header"`` (an ``apiKeySecurityScheme`` with location header ``key_header``).
    """

    def __init__(
        self,
        *,
        ca: PeerCA,
        bindings: Sequence[Binding] = (JSONRPC, REST),
        key_scheme: KeyScheme = "bearer",
        key_header: str = "X-API-Key",
        api_key: str | None = None,
        streaming: bool = True,
        name: str = "A2A Test Peer",
        slow_seconds: float = 30.0,
    ) -> None:
        self.ca_path = ca.ca_path
        self.api_key = api_key if api_key is not None else f"peer-key-{secrets.token_hex(8)}"
        self.key_scheme: KeyScheme = key_scheme
        self.key_header = key_header
        self.requests: list[RecordedRequest] = []
        self.executor = ScriptedExecutor(slow_seconds=slow_seconds)
        self._failures: deque[CannedResponse] = deque()
        self._socket = _listening_socket()
        self.port: int = self._socket.getsockname()[1]
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.jsonrpc_url = f"{self.base_url}{JSONRPC_PATH}"
        self.rest_url = f"{self.base_url}{REST_PATH}"
        self.card_url = f"{self.base_url}{CARD_PATH}"
        self.card = build_card(
            base_url=self.base_url,
            bindings=bindings,
            key_scheme=key_scheme,
            key_header=key_header,
            streaming=streaming,
            name=name,
        )
        self._handler = handler = DefaultRequestHandler(
            agent_executor=self.executor, task_store=InMemoryTaskStore(), agent_card=self.card
        )
        app = Starlette(
            routes=[
                *create_agent_card_routes(self.card),
                *create_jsonrpc_routes(handler, rpc_url=JSONRPC_PATH),
                *create_rest_routes(handler, path_prefix=REST_PATH),
            ]
        )
        gate = PeerGate(
            app,
            api_key=self.api_key,
            key_header=key_header if key_scheme == "api-key-header" else None,
            requests=self.requests,
            failures=self._failures,
        )
        server_context = ca.server_context()
        config = uvicorn.Config(
            gate,
            lifespan="off",
            log_config=None,  # leave pytest's logging configuration alone
            access_log=False,
            ssl_context_factory=lambda _config, _default: server_context,
            timeout_graceful_shutdown=1,
        )
        self._server = _InProcessServer(config)
        self._serving: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<A2APeer at {self.base_url}>"

    @property
    def card_json(self) -> dict[str, Any]:
        """The card as served (ProtoJSON, camelCase)."""
        served: dict[str, Any] = agent_card_to_dict(self.card)
        return json.loads(json.dumps(served))

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        card_too: bool = False,
    ) -> None:
        """Answer the next ``times`` A2A calls with ``status`` (card fetches too with ``card_too``).

        The body is ``{"error": {"code": status, "status": "UNAVAILABLE", ...}}`` unless ``body``
        (any JSON value, or ``bytes`` sent as is) is given. Failed calls are recorded like others.
        """
        if body is None:
            body = {"error": {"code": status, "status": "UNAVAILABLE", "message": "injected"}}
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        canned = CannedResponse(status, dict(headers or {}), raw, card_too)
        self._failures.extend([canned] * times)

    def reset(self) -> None:
        """Forget recorded requests and pending injected failures (tasks stay in the store)."""
        self.requests.clear()
        self._failures.clear()

    def calls(self) -> list[RecordedRequest]:
        """The recorded requests other than card fetches."""
        return [r for r in self.requests if r.path != CARD_PATH]

    async def start(self) -> None:
        self._serving = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        while not self._server.started:
            if self._serving.done():
                self._serving.result()  # raises what stopped the server
                raise RuntimeError("the A2A peer stopped during startup")
            if loop.time() > deadline:
                await self.stop()
                raise TimeoutError(f"the A2A peer did not start within {STARTUP_TIMEOUT} s")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop within about ``2 * SHUTDOWN_TIMEOUT`` seconds; slow tasks are released first.

        The SDK's tasks (one producer and one consumer per live A2A task, e.g. one waiting for
        input) are closed too: left behind in a loop that outlives the peer (a module-scoped
        one), they would be garbage-collected while pending, a warning pytest makes an error.
        """
        self.executor.release_all()
        serving, self._serving = self._serving, None
        if serving is None:
            self._socket.close()
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(serving), timeout=SHUTDOWN_TIMEOUT)
        except TimeoutError:
            self._server.force_exit = True
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        finally:
            self._socket.close()
            await asyncio.wait_for(self._handler.aclose(), timeout=SHUTDOWN_TIMEOUT)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
