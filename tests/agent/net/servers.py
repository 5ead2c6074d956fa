"""Small helpers for the network tests: answers for misbehaving agents, and what no agent does.

Agents themselves come from the ``jamey_agent_server`` fixture (its ``serve_with`` makes one
misbehave); what is here is what that fixture should not carry: a port with nothing listening,
and a bare TLS server that offers only an old protocol version.
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import yarl
from aiohttp import web

from jamey_agent_orchestration.testing.agents import RawHandler


def json_answer(payload: object = None, status: int = 200) -> RawHandler:
    """An agent answering ``payload`` (default ``{"ok": true}``) as JSON with ``status``."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True} if payload is None else payload, status=status)

    return answer


def statuses(*codes: int, headers: dict[str, str] | None = None) -> RawHandler:
    """An agent answering each status in turn (an empty JSON body), then 200 ``{"done": true}``."""
    remaining = list(codes)

    async def answer(request: web.Request) -> web.StreamResponse:
        if remaining:
            return web.json_response({}, status=remaining.pop(0), headers=headers)
        return web.json_response({"done": True})

    return answer


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def only_tls(version: ssl.TLSVersion, context: ssl.SSLContext) -> ssl.SSLContext:
    """``context`` offering only ``version``, even one OpenSSL 3 refuses by default (< 1.2)."""
    if version < ssl.TLSVersion.TLSv1_2:
        # Lower the security level so that the old protocol is really offered and the refusal
        # comes from the client.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 is deprecated
        context.minimum_version = version
        context.maximum_version = version
    return context


@dataclass
class HandshakeServer:
    """A TLS-only server (no HTTP): ``handshakes`` counts attempts, ``completed`` the successes."""

    port: int
    handshakes: int = 0
    completed: int = 0

    def url(self, host: str = "127.0.0.1") -> yarl.URL:
        return yarl.URL(f"https://{host}:{self.port}")


@contextmanager
def blocking_tls_server(context: ssl.SSLContext) -> Iterator[HandshakeServer]:
    """Handshake with each client in a thread, then hang up.

    asyncio's server side aborts the socket on a failed handshake without flushing OpenSSL's alert,
    so the client would only see a reset; a blocking ``wrap_socket`` sends the alert a real server
    sends (e.g. ``protocol_version``).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server = HandshakeServer(port=listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                server.handshakes += 1
                try:
                    context.wrap_socket(conn, server_side=True).close()
                except OSError:  # ssl.SSLError included: the expected refusal
                    continue
                server.completed += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        listener.close()
