"""One host process of the many-hosts tests: a real runtime with the agent plugin.

Run as ``python host_process.py LOG_FILE``, with the connector's settings and the master key in
the environment (``JAMEY_AGENT_ORCHESTRATION__REGISTRY`` the database's URL). Every logger
writes at DEBUG to LOG_FILE (the canary test reads it), the runtime's audit lines included.
It prints ``READY`` and a JSON line about the plugin, then answers one JSON line per command
read from stdin:

- ``{"op": "call", "params": {...}}``: one ``execute_connector``; the result's fields;
- ``{"op": "many", "calls": [{...}, ...]}``: all of them at once (``asyncio.gather``);
- ``{"op": "listening"}``: whether the registry's listener is connected;
- ``{"op": "quit"}``: close the runtime and exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_host import ConnectorResult, Runtime, RuntimeConfig

CONNECTOR = "agent_orchestration"


def _fields(result: ConnectorResult) -> dict[str, Any]:
    return {
        "success": result.success,
        "output": result.output,
        "errors": list(result.errors),
        "warnings": list(result.warnings),
        "metadata": dict(result.metadata),
        "agents_contacted": list(result.agents_contacted),
    }


async def main(log_file: str) -> None:
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    loop = asyncio.get_running_loop()
    plugin = AgentOrchestrationPlugin()
    async with Runtime(RuntimeConfig.from_env(), plugins=[plugin], load_entrypoints=False) as rt:
        info = {p.name: {"status": p.status, "error": p.error} for p in rt.plugins()}
        print("READY", json.dumps(info), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            op = command["op"]
            if op == "quit":
                return
            answer: Any
            if op == "call":
                answer = _fields(await rt.execute_connector(CONNECTOR, command["params"]))
            elif op == "many":
                results = await asyncio.gather(
                    *(rt.execute_connector(CONNECTOR, params) for params in command["calls"])
                )
                answer = [_fields(result) for result in results]
            elif op == "listening":
                answer = bool(getattr(plugin.store, "listening", False))
            else:
                answer = {"error": f"unknown op {op}"}
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
