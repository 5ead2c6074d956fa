"""Tiny HTTPS test servers on 127.0.0.1 with throwaway trustme certificates, for transport tests.

The client under test trusts these certificates only through its ``ca_bundle`` setting; nothing here
turns verification off.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trustme
import yarl
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpsServer:
    """A running server: ``url`` (``https://127.0.0.1:PORT``) and what it ``requests`` received."""

    port: int
    requests: list[Recorded] = field(default_factory=list)

    def url(self, host: str = "127.0.0.1", path: str = "") -> yarl.URL:
        return yarl.URL(f"https://{host}:{self.port}{path}")


def write_ca(ca: trustme.CA, directory: Path, name: str = "ca.pem") -> Path:
    """Write the CA certificate as PEM and return its path (for the ``ca_bundle`` setting)."""
    path = directory / name
    ca.cert_pem.write_to_path(str(path))
    return path


def issue(ca: trustme.CA, *identities: str, expired: bool = False) -> trustme.LeafCert:
    """A leaf certificate for ``identities`` (default 127.0.0.1, localhost, ::1), maybe expired."""
    names = identities or ("127.0.0.1", "localhost", "::1")
    if not expired:
        return ca.issue_cert(*names)
    now = datetime.datetime.now(datetime.UTC)
    return ca.issue_cert(
        *names,
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )


def server_context(
    cert: trustme.LeafCert, *, maximum_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A server context presenting ``cert``; ``maximum_version`` caps the protocol it offers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if maximum_version is not None:
        if maximum_version < ssl.TLSVersion.TLSv1_2:
            # OpenSSL 3 refuses TLS < 1.2 at its default security level; lower it so that the old
            # protocol is really offered and the refusal comes from the client.
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 is deprecated
                context.minimum_version = maximum_version
                context.maximum_version = maximum_version
        else:
            context.maximum_version = maximum_version
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


@asynccontextmanager
async def https_server(
    handler: Handler,
    cert: trustme.LeafCert,
    *,
    maximum_version: ssl.TLSVersion | None = None,
) -> AsyncIterator[HttpsServer]:
    """Serve every method and path with ``handler`` on 127.0.0.1, recording each request first."""
    server = HttpsServer(port=0)

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        server.requests.append(
            Recorded(request.method, request.path_qs, dict(request.headers), body)
        )
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner, "127.0.0.1", 0, ssl_context=server_context(cert, maximum_version=maximum_version)
    )
    await site.start()
    try:
        server.port = runner.addresses[0][1]
        yield server
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def json_handler(payload: object = None, status: int = 200) -> Handler:
    """A handler answering ``payload`` (default ``{"ok": true}``) as JSON with ``status``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True} if payload is None else payload, status=status)

    return handle
