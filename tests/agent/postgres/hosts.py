"""Host processes for the many-hosts tests (``host_process.py``), driven over pipes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from jamey_agent_orchestration.testing import ThrowawayCA

SCRIPT = Path(__file__).with_name("host_process.py")
START_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0


class HostProcess:
    """``await HostProcess.start(...)``, then ``await host.call("list_agents")``."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, plugin: dict[str, Any]):
        self.process = process
        self.log = log
        self.plugin = plugin

    @classmethod
    async def start(
        cls,
        url: str,
        *,
        master_key: str,
        ca: ThrowawayCA,
        log: Path,
        **settings: str,
    ) -> HostProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JAMEY_")}
        env["JAMEY_SECRET_KEY"] = master_key
        values = {
            "registry": url,
            "ca_bundle": str(ca.ca_path),
            "allow_networks": "127.0.0.0/8",
            "timeout": "2",
            **settings,
        }
        for key, value in values.items():
            env[f"JAMEY_AGENT_ORCHESTRATION__{key.upper()}"] = value
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            str(log),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        if not line.startswith(b"READY "):
            _, err = await process.communicate()
            raise AssertionError(f"the host did not start: {line!r}\n{err.decode()}")
        (plugin,) = json.loads(line[len(b"READY ") :]).values()  # the one plugin it holds
        return cls(process, log, plugin)

    async def _ask(self, command: dict[str, Any]) -> Any:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), CALL_TIMEOUT)
        assert line, "the host process exited"
        return json.loads(line)

    async def call(self, action: str, **params: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._ask(
            {"op": "call", "params": {"action": action, **params}}
        )
        return answer

    async def many(self, calls: list[dict[str, str]]) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = await self._ask({"op": "many", "calls": calls})
        return answer

    async def listening(self) -> bool:
        return bool(await self._ask({"op": "listening"}))

    async def listed_ids(self) -> list[str]:
        result = await self.call("list_agents")
        assert result["success"], result
        return [entry["id"] for entry in json.loads(result["output"])]

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(b'{"op": "quit"}\n')
                await self.process.stdin.drain()
                await asyncio.wait_for(self.process.wait(), 20)
            except (TimeoutError, ConnectionError):
                self.process.kill()
        await self.process.communicate()


def register_params(agent_id: str, url: str, api_key: str, **extra: str) -> dict[str, str]:
    return {
        "action": "register_agent",
        "agent_id": agent_id,
        "name": f"Agent {agent_id}",
        "url": url,
        "api_key": api_key,
        **extra,
    }
