"""A throwaway CA and recording test agents, for tests, the demo and benchmarks.

Never on the path of a real call. The ``jamey_agent_ca`` and ``jamey_agent_server`` fixtures
(:mod:`.fixtures`) are built on these; usage outside pytest::

    with ThrowawayCA() as ca:
        async with await start_test_agent(ca, handlers={"sum": fn}) as agent:
            ...  # trust ca.ca_path, call agent.url with agent.api_key
"""

from __future__ import annotations

import asyncio
import datetime
import json
import secrets
import ssl
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, final

import attrs
import trustme
from aiohttp import web
from aiohttp.typedefs import Handler as _WebHandler
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict, CIMultiDictProxy

from jamey_agent_orchestration.model import AgentProtocol
from jamey_agent_orchestration.testing.a2a_server import create_a2a_app
from jamey_agent_orchestration.testing.server import AgentServer, Handler, create_app

__all__ = [
    "DEFAULT_IDENTITIES",
    "RawHandler",
    "RecordedRequest",
    "RecordingAgent",
    "ThrowawayCA",
    "start_test_agent",
]

#: An aiohttp handler that answers a request in place of the agent (see ``serve_with``).
RawHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_IDENTITIES = ("127.0.0.1", "localhost", "::1")


@final
class ThrowawayCA:
    """A trustme CA and one server certificate for ``identities``, written as PEM files.

    ``ca_path`` is the CA certificate to trust; ``cert_path`` and ``key_path`` the server's.
    Without ``directory`` the files live in a temporary directory removed by :meth:`close`.
    """

    def __init__(
        self, directory: Path | None = None, *, identities: Iterable[str] = DEFAULT_IDENTITIES
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="jamey-ca-")
            directory = Path(self._tmp.name)
        self._ca = trustme.CA(organization_name="jamey-host throwaway CA")
        self._identities = tuple(identities)
        leaf = self._ca.issue_cert(*self._identities)
        self.ca_path = directory / "ca.pem"
        self.cert_path = directory / "server-cert.pem"
        self.key_path = directory / "server-key.pem"
        self._ca.cert_pem.write_to_path(self.ca_path)
        self.key_path.touch(mode=0o600)
        leaf.private_key_pem.write_to_path(self.key_path)
        self.cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))

    def server_context(self, *identities: str, expired: bool = False) -> ssl.SSLContext:
        """A server context (TLS 1.2 or newer) presenting a certificate of this CA.

        Without arguments, the certificate of ``cert_path``; with ``identities`` (host names or
        addresses) or ``expired=True`` (valid until yesterday), a new one, for tests of what a
        client must refuse.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if not identities and not expired:
            context.load_cert_chain(self.cert_path, self.key_path)
            return context
        names = identities or self._identities
        if expired:
            now = datetime.datetime.now(datetime.UTC)
            leaf = self._ca.issue_cert(
                *names,
                not_before=now - datetime.timedelta(days=30),
                not_after=now - datetime.timedelta(days=1),
            )
        else:
            leaf = self._ca.issue_cert(*names)
        leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context: the platform's store plus this CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies cert and host name
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_default_certs()
        context.load_verify_locations(self.ca_path)
        return context

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@attrs.frozen
class RecordedRequest:
    """What a test agent received. ``headers`` is case-insensitive and kept out of ``repr``."""

    method: str
    path: str
    headers: CIMultiDictProxy[str] = attrs.field(repr=False)
    body: Any  # the parsed JSON, else the text
    idempotency_key: str | None


@attrs.frozen
class _Canned:
    status: int
    body: bytes
    content_type: str | None
    headers: Mapping[str, str]


@final
class RecordingAgent:
    """A running test agent: records every request, then plays the scripted behaviours.

    Order for each request: record, sleep ``delay`` seconds, answer with the next queued
    behaviour (``fail_next``, or ``respond_with``/``redirect_to`` with ``times``), else with the
    standing one (``times=None``, or a handler given to ``serve_with``), else run the real task
    protocol. A request to any path reaches these behaviours; only the task protocol is limited
    to its paths: ``POST /api/v1/tasks`` (``protocol="jamey"``), or the agent card and
    ``POST /a2a/jsonrpc`` (``protocol="a2a"``, see :mod:`.a2a_server`).
    """

    def __init__(
        self,
        *,
        ca: ThrowawayCA,
        api_key: str,
        name: str,
        handlers: Mapping[str, Handler] | None,
        delay: float,
        host: str,
        shutdown_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        protocol: AgentProtocol = "jamey",
    ) -> None:
        self.name = name
        self.api_key = api_key
        self.ca_path = ca.ca_path
        self.delay = delay
        self.protocol = protocol
        self.requests: list[RecordedRequest] = []
        self._queue: deque[_Canned] = deque()
        self._standing: _Canned | RawHandler | None = None
        make_app = create_a2a_app if protocol == "a2a" else create_app
        app = make_app(
            api_key=api_key, name=name, handlers=handlers, middlewares=[self._middleware()]
        )
        context = ca.server_context() if ssl_context is None else ssl_context
        self._server = AgentServer(
            app, ssl_context=context, host=host, shutdown_timeout=shutdown_timeout
        )

    def __repr__(self) -> str:
        return f"<RecordingAgent {self.name!r} at {self.url}>"

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        """The port the agent listens on, on 127.0.0.1."""
        return self._server.port

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and a JSON ``{"error": ...}``)."""
        payload = {"error": f"Injected failure {status}"} if body is None else body
        self.respond_with(
            status=status, body=json.dumps(payload).encode(), headers=headers, times=times
        )

    def respond_with(
        self,
        status: int = 200,
        body: bytes | str = b"",
        content_type: str | None = "application/json",
        headers: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer with this raw response, ``times`` times or (``None``) until :meth:`reset`."""
        raw = body.encode() if isinstance(body, str) else body
        canned = _Canned(status, raw, content_type, dict(headers or {}))
        if times is None:
            self._standing = canned
        else:
            self._queue.extend([canned] * times)

    def redirect_to(self, url: str, status: int = 302, times: int | None = None) -> None:
        """Answer with a redirect to ``url``."""
        self.respond_with(status, b"", None, {"Location": url}, times)

    def serve_with(self, handler: RawHandler) -> None:
        """Answer every request with this aiohttp handler until :meth:`reset`: a misbehaving
        agent (one that streams without end, sets cookies, drops the connection...)."""
        self._standing = handler

    def reset(self) -> None:
        """Forget every scripted behaviour and the delay (the recorded requests stay)."""
        self._queue.clear()
        self._standing = None
        self.delay = 0.0

    def _middleware(self) -> Middleware:
        @web.middleware
        async def record_then_misbehave(
            request: web.Request, handler: _WebHandler
        ) -> web.StreamResponse:
            raw = await request.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                    body=body,
                    idempotency_key=request.headers.get("Idempotency-Key"),
                )
            )
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            canned = self._queue.popleft() if self._queue else self._standing
            if canned is None:
                return await handler(request)
            if not isinstance(canned, _Canned):
                return await canned(request)
            return web.Response(
                status=canned.status,
                body=canned.body,
                content_type=canned.content_type,
                headers=canned.headers,
            )

        return record_then_misbehave

    async def start(self) -> None:
        await self._server.start()

    async def close(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def start_test_agent(
    ca: ThrowawayCA,
    *,
    handlers: Mapping[str, Handler] | None = None,
    name: str = "agent",
    api_key: str | None = None,
    delay: float = 0.0,
    host: str = "127.0.0.1",
    shutdown_timeout: float = 0.5,
    ssl_context: ssl.SSLContext | None = None,
    protocol: AgentProtocol = "jamey",
) -> RecordingAgent:
    """Start a :class:`RecordingAgent` on ``host`` (a free port) with a certificate from ``ca``.

    ``api_key`` defaults to a fresh random key. ``ssl_context`` replaces the server's TLS
    context (``ca.server_context(...)`` of other names, an expired certificate, another CA).
    ``protocol="a2a"`` serves A2A (an agent card and JSON-RPC) over the same handlers; ``url`` is
    then the base URL to register with ``protocol=a2a``.
    Close it with ``await agent.close()`` or ``async with``.
    """
    agent = RecordingAgent(
        ca=ca,
        api_key=api_key if api_key is not None else secrets.token_urlsafe(32),
        name=name,
        handlers=handlers,
        delay=delay,
        host=host,
        shutdown_timeout=shutdown_timeout,
        ssl_context=ssl_context,
        protocol=protocol,
    )
    await agent.start()
    return agent
