"""Running the ``jamey`` command of the environment under test, as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Final

import pytest

from jamey_agent_orchestration.testing import ThrowawayCA

CONNECTOR: Final = "agent_orchestration"


def jamey_script() -> str:
    """The ``jamey`` console script of the environment running the tests."""
    found = shutil.which("jamey", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"no jamey script next to {sys.executable}")
    return found


def jamey_env(home: Path, ca: ThrowawayCA) -> dict[str, str]:
    """A clean environment: this connector only, state in ``home``, the test CA trusted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAMEY_")}
    env.update(
        {
            "JAMEY_HOME": str(home),
            "JAMEY_LOAD_PLUGINS": CONNECTOR,
            "JAMEY_AGENT_ORCHESTRATION__CA_BUNDLE": str(ca.ca_path),
            "JAMEY_AGENT_ORCHESTRATION__ALLOW_NETWORKS": "127.0.0.0/8",
            "JAMEY_AGENT_ORCHESTRATION__TIMEOUT": "5",
        }
    )
    return env  # JAMEY_SECRET_KEY is unset: the key file in JAMEY_HOME is used


async def run_jamey(env: dict[str, str], *args: str | bytes) -> tuple[int, str, str]:
    """Run ``jamey ARGS`` without blocking the event loop that serves the test agents.

    An argument given as bytes reaches the process as those bytes (a stray byte in argv).
    """
    process = await asyncio.create_subprocess_exec(
        jamey_script(),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def audit_lines(stderr: str) -> list[dict[str, Any]]:
    prefix = "audit: "
    lines = stderr.splitlines()
    return [json.loads(line[len(prefix) :]) for line in lines if line.startswith(prefix)]
