"""``python -m benchmarks.agent_server --cert C --key K``: a benchmark agent process.

Serves the reference application (``create_app`` of ``jamey_agent_orchestration.testing.server``,
over TLS with the given certificate) on 127.0.0.1 at a random port, and prints ``PORT <n>`` once
listening. Besides the reference ``POST /api/v1/tasks`` it routes, to the very same handler:

* ``POST /agent/{n}/api/v1/tasks``: many registered agents served by one process;
* ``POST /hang/{n}/api/v1/tasks``: an agent that sleeps 60 s before answering;
* ``GET /stats[?reset=1]``: how many distinct client connections sent tasks (pool reuse check);
* ``/a2a-agent/``: the same handlers in the reference agent's A2A mode (its card at
  ``/a2a-agent/.well-known/agent-card.json``, JSON-RPC at ``/a2a-agent/a2a/jsonrpc``);
* ``/a2a/{n}/``: many A2A agents served by one process, each with its card (whose interface is
  ``/a2a/{n}/a2a/jsonrpc``, since the reference card names the URL it was fetched from) and the
  JSON-RPC handler of that same A2A application.

The API key comes from ``$BENCH_AGENT_API_KEY``. The process exits when its stdin closes (so it
never outlives the benchmark) or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import threading
from typing import Any

from aiohttp import web

from jamey_agent_orchestration.testing.a2a_server import A2A_PATH, CARD_PATH, create_a2a_app
from jamey_agent_orchestration.testing.server import (
    EXAMPLE_HANDLERS,
    TASKS_PATH,
    AgentServer,
    create_app,
)

API_KEY_ENV = "BENCH_AGENT_API_KEY"
HANG_SECONDS = 60.0
A2A_PREFIX = "/a2a-agent"
#: The A2A agent ``n`` of a process is at ``A2A_AGENTS/n``.
A2A_AGENTS = "/a2a"


def _handler(app: web.Application, path: str) -> Any:
    return next(
        route.handler
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical == path
    )


def build_app(api_key: str) -> web.Application:
    app = create_app(api_key=api_key, name="bench-agent", handlers=EXAMPLE_HANDLERS)
    handler = _handler(app, TASKS_PATH)
    peers: set[object] = set()

    async def agent(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            peers.add(transport.get_extra_info("peername"))
        response: web.StreamResponse = await handler(request)
        return response

    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(HANG_SECONDS)
        response: web.StreamResponse = await handler(request)
        return response

    async def stats(request: web.Request) -> web.Response:
        count = len(peers)
        if request.query.get("reset"):
            peers.clear()
        return web.json_response({"connections": count})

    app.router.add_post("/agent/{n}" + TASKS_PATH, agent)
    app.router.add_post("/hang/{n}" + TASKS_PATH, hang)
    app.router.add_get("/stats", stats)
    a2a = create_a2a_app(api_key=api_key, name="bench-a2a", handlers=EXAMPLE_HANDLERS)
    app.router.add_get(A2A_AGENTS + "/{n}" + CARD_PATH, _handler(a2a, CARD_PATH))
    app.router.add_post(A2A_AGENTS + "/{n}" + A2A_PATH, _handler(a2a, A2A_PATH))
    app.add_subapp(A2A_PREFIX, a2a)
    return app


async def serve(cert: str, key: str, api_key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    server = AgentServer(build_app(api_key), ssl_context=context, port=0, shutdown_timeout=0.5)
    await server.start()
    print(f"PORT {server.port}", flush=True)
    await asyncio.Event().wait()


def _exit_when_stdin_closes() -> None:
    sys.stdin.read()
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent_server")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    api_key = os.environ.get(API_KEY_ENV, "")
    if not api_key:
        print(f"set {API_KEY_ENV}", file=sys.stderr)
        return 2
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    asyncio.run(serve(args.cert, args.key, api_key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
