"""A small reference agent speaking the jamey wire protocol over HTTPS.

``POST /api/v1/tasks`` with ``Authorization: Bearer KEY`` and ``{"task": ..., "params": {...}}``;
the answer is the task handler's JSON. A repeated ``Idempotency-Key`` gets the first answer back.
The same handlers can be served over A2A instead (:mod:`.a2a_server`, ``jamey-agent --protocol
a2a``). With OpenTelemetry's API installed, every request is a server span continuing the caller's
W3C trace (``traceparent``), in both modes.
"""

from __future__ import annotations

import argparse
import errno
import hmac
import inspect
import json
import logging
import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeAlias, final

import attrs
from aiohttp import web
from aiohttp.typedefs import Middleware

from jamey_agent_orchestration import telemetry
from jamey_agent_orchestration.testing.idempotency import IdempotentAnswers

__all__ = [
    "TASKS_PATH",
    "AgentServer",
    "BearerKey",
    "Handler",
    "TaskBodyError",
    "TaskError",
    "TaskRequest",
    "create_app",
    "main",
    "parse_task_body",
    "traced",
    "with_health_check",
]

log = logging.getLogger(__name__)

JSON: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None
TASKS_PATH = "/api/v1/tasks"
API_KEY_ENV = "JAMEY_AGENT_API_KEY"


@attrs.frozen
class TaskRequest:
    """One task as the handler sees it."""

    task: str
    params: Mapping[str, str]
    idempotency_key: str | None = None


class TaskError(Exception):
    """Raised by a handler to answer ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


Handler: TypeAlias = Callable[[TaskRequest], Awaitable[JSON] | JSON]
_Answer: TypeAlias = tuple[int, bytes]


@final
class BearerKey:
    """The one key an agent accepts, as ``Authorization: Bearer KEY``, compared in constant time
    (and whatever bytes the header holds)."""

    def __init__(self, api_key: str) -> None:
        self._expected = f"Bearer {api_key}".encode()

    def accepts(self, headers: Mapping[str, str]) -> bool:
        supplied = headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(supplied, self._expected)


def with_health_check(name: str, handlers: Mapping[str, Handler]) -> dict[str, Handler]:
    """``handlers`` after the built-in ``health_check`` task (which they may replace), answered
    ``{"status": "healthy", "agent": name}``."""

    def health_check(request: TaskRequest) -> JSON:
        return {"status": "healthy", "agent": name}

    return {"health_check": health_check, **handlers}


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class TaskBodyError(ValueError):
    """The request body is not ``{"task": str, "params": {str: str}}``."""


def parse_task_body(raw: bytes) -> tuple[str, dict[str, str]]:
    """Validate ``{"task": str, "params": {str: str}}``; raise TaskBodyError with the reason."""
    try:
        body = json.loads(raw)
    except ValueError:  # not UTF-8, or not JSON
        raise TaskBodyError("Invalid JSON body") from None
    if not isinstance(body, dict):
        raise TaskBodyError("Body must be a JSON object")
    task = body.get("task")
    if not isinstance(task, str) or not task:
        raise TaskBodyError("Missing task")
    params = body.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise TaskBodyError("params must be an object of strings")
    return task, params


@final
class _TaskEndpoint:
    """The ``/api/v1/tasks`` handler with its idempotency cache."""

    def __init__(
        self, api_key: str, name: str, handlers: Mapping[str, Handler], cache_size: int
    ) -> None:
        self._key = BearerKey(api_key)
        self._handlers = with_health_check(name, handlers)
        # A server failure is not given again: it may be retried with the same key.
        self._answers = IdempotentAnswers[_Answer](cache_size, keep=lambda answer: answer[0] < 500)

    async def handle(self, request: web.Request) -> web.Response:
        if not self._key.accepts(request.headers):
            return _error(401, "Unauthorized", **{"WWW-Authenticate": "Bearer"})
        try:
            task, params = parse_task_body(await request.read())
        except TaskBodyError as exc:
            return _error(400, str(exc))
        if task not in self._handlers:
            return _error(404, f"Unknown task: {task}")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IdempotentAnswers.valid(key):
            return _error(400, "Invalid Idempotency-Key")
        task_request = TaskRequest(task=task, params=params, idempotency_key=key)
        if key is None:
            status, body = await self._run(task_request)
        else:
            status, body = await self._answers.answer(key, lambda: self._run(task_request))
        return web.Response(status=status, body=body, content_type="application/json")

    async def _run(self, request: TaskRequest) -> _Answer:
        try:
            result = self._handlers[request.task](request)
            if inspect.isawaitable(result):
                result = await result
            return 200, json.dumps(result).encode()
        except TaskError as exc:
            return exc.status, json.dumps({"error": exc.message}).encode()
        except Exception:  # a handler bug, or an answer JSON cannot encode
            log.exception("Task %r failed", request.task)
            return 500, json.dumps({"error": f"Task failed: {request.task}"}).encode()

    async def close(self, app: web.Application) -> None:
        await self._answers.close()


def create_app(
    *,
    api_key: str,
    name: str = "agent",
    handlers: Mapping[str, Handler] | None = None,
    middlewares: Sequence[Middleware] = (),
    cache_size: int = 10_000,
) -> web.Application:
    """An aiohttp application serving ``POST /api/v1/tasks`` with these task handlers."""
    if not api_key:
        raise ValueError("api_key cannot be empty")
    endpoint = _TaskEndpoint(api_key, name, handlers or {}, cache_size)
    app = web.Application(middlewares=traced(middlewares))
    app.router.add_post(TASKS_PATH, endpoint.handle)
    app.on_cleanup.append(endpoint.close)
    return app


def traced(middlewares: Sequence[Middleware]) -> list[Middleware]:
    """``middlewares`` after the one that continues an incoming W3C trace in a server span, when
    OpenTelemetry's API is installed (without it, ``middlewares`` alone)."""
    if not telemetry.ENABLED:
        return list(middlewares)
    return [telemetry.incoming_trace_middleware(), *middlewares]


@final
class AgentServer:
    """Runs an application over HTTPS: ``async with AgentServer(app, ssl_context=ctx) as s``."""

    def __init__(
        self,
        app: web.Application,
        *,
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self._runner = web.AppRunner(
            app, shutdown_timeout=shutdown_timeout, handler_cancellation=True
        )
        self._ssl_context = ssl_context

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl_context)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _echo(request: TaskRequest) -> JSON:
    return dict(request.params)


def _uppercase(request: TaskRequest) -> JSON:
    if "text" not in request.params:
        raise TaskError("Missing param: text")
    return {"text": request.params["text"].upper()}


EXAMPLE_HANDLERS: Mapping[str, Handler] = {"echo": _echo, "uppercase": _uppercase}


def main(argv: Sequence[str] | None = None) -> int:
    """``jamey-agent``: serve the example tasks over HTTPS until interrupted."""
    parser = argparse.ArgumentParser(
        prog="jamey-agent",
        description=f"A reference jamey agent. The API key is read from ${API_KEY_ENV}.",
    )
    parser.add_argument("--cert", required=True, help="PEM certificate (chain) of the server")
    parser.add_argument("--key", required=True, help="PEM private key of the server")
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8443, help="port (default: %(default)s)")
    parser.add_argument("--name", default="agent", help="agent name (default: %(default)s)")
    parser.add_argument(
        "--protocol",
        choices=("jamey", "a2a"),
        default="jamey",
        help="jamey (POST /api/v1/tasks) or a2a (an agent card and A2A JSON-RPC at /a2a/jsonrpc; "
        "register it with protocol=a2a) (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    api_key = os.environ.get(API_KEY_ENV, "")
    if not api_key.strip():
        print(f"jamey-agent: error: set {API_KEY_ENV} to the API key", file=sys.stderr)
        return 2
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(args.cert, args.key)
    except (OSError, ssl.SSLError) as exc:
        # OpenSSL's own errors name neither file: say which one, and what is wrong with it.
        print(
            f"jamey-agent: error: cannot load certificate: {_pem_problem(args, exc)}",
            file=sys.stderr,
        )
        return 2

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.protocol == "a2a":
        from jamey_agent_orchestration.testing.a2a_server import create_a2a_app

        app = create_a2a_app(api_key=api_key, name=args.name, handlers=EXAMPLE_HANDLERS)
    else:
        app = create_app(api_key=api_key, name=args.name, handlers=EXAMPLE_HANDLERS)
    try:
        web.run_app(
            app,
            host=args.host,
            port=args.port,
            ssl_context=context,
            shutdown_timeout=5.0,
            handler_cancellation=True,
            print=lambda line: print(f"jamey-agent {args.name!r}: {line}"),
        )
    except OSError as exc:  # only the listening socket raises out of run_app: it never opened
        print(
            f"jamey-agent: error: cannot listen on {args.host} port {args.port}: "
            f"{_listen_problem(exc, args.port)}",
            file=sys.stderr,
        )
        return 2
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


def _pem_problem(args: argparse.Namespace, exc: OSError) -> str:
    for option, path in (("--cert", args.cert), ("--key", args.key)):
        if not os.path.isfile(path):
            what = "is not a file" if os.path.exists(path) else "no such file"
            return f"{option} {path}: {what}"
        if not os.access(path, os.R_OK):
            return f"{option} {path}: not readable (permission denied)"
    reason = (exc.reason if isinstance(exc, ssl.SSLError) else None) or exc.strerror or exc
    return (
        f"--cert {args.cert} and --key {args.key} are not a certificate chain and its private "
        f"key in PEM ({reason})"
    )


def _listen_problem(exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use (stop what listens there, or choose --port)"
    if exc.errno == errno.EACCES:
        return f"permission denied (port {port} may need privileges; choose --port above 1023)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address (choose --host)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    return (exc.strerror or str(exc)).lower()


if __name__ == "__main__":
    sys.exit(main())
