"""Start and stop the benchmark agent processes (``benchmarks.agent_server``)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from types import TracebackType

from jamey_agent_orchestration.testing.agents import ThrowawayCA

from ._common import ROOT
from .agent_server import API_KEY_ENV


class Fleet:
    """``with Fleet(4) as fleet:`` ``fleet.ports``, ``fleet.ca``, ``fleet.api_key``.

    A throwaway trustme CA (files in a temporary directory) signs the servers' certificate; each
    server is its own process on 127.0.0.1 at a random port, read back from its stdout.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.api_key = secrets.token_urlsafe(32)
        self.ca = ThrowawayCA(identities=("127.0.0.1",))
        self.ports: list[int] = []
        self._procs: list[subprocess.Popen[str]] = []

    def start(self) -> None:
        env = {**os.environ, API_KEY_ENV: self.api_key}
        for _ in range(self.count):
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.agent_server",
                    "--cert",
                    str(self.ca.cert_path),
                    "--key",
                    str(self.ca.key_path),
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self._procs.append(proc)
        deadline = time.monotonic() + 30
        for proc in self._procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("PORT ") or time.monotonic() > deadline:
                raise RuntimeError(f"agent server did not start (said {line!r})")
            self.ports.append(int(line.split()[1]))

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        self.ca.close()

    def __enter__(self) -> Fleet:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def runtime_settings(fleet: Fleet, **extra: str) -> dict[str, dict[str, str]]:
    """``connector_settings`` trusting the fleet's CA and exempting 127.0.0.0/8."""
    settings = {"ca_bundle": str(fleet.ca.ca_path), "allow_networks": "127.0.0.0/8", **extra}
    return {"agent_orchestration": settings}
