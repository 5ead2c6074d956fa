"""``jamey-agent`` mistakes: one line naming the file or the port, exit status 2, never a traceback
(issue 13 item 5). Each is made as a user would make it, in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jamey_agent_orchestration.testing import ThrowawayCA

JAMEY_AGENT = str(Path(sys.executable).parent / "jamey-agent")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something already listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def jamey_agent(*args: str, key: str | None = "agent-key") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JAMEY_AGENT_API_KEY"}
    if key is not None:
        env["JAMEY_AGENT_API_KEY"] = key
    # a mistake ends the command at once; one that served instead would run into the timeout
    return subprocess.run(
        [JAMEY_AGENT, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert line.startswith("jamey-agent: error: ")
    return line


def test_a_missing_certificate_or_key_file_is_named(
    jamey_agent_ca: ThrowawayCA, tmp_path: Path
) -> None:
    cert, key = str(jamey_agent_ca.cert_path), str(jamey_agent_ca.key_path)
    assert one_line(jamey_agent("--cert", "nope.pem", "--key", key)) == (
        "jamey-agent: error: cannot load certificate: --cert nope.pem: no such file"
    )
    assert one_line(jamey_agent("--cert", cert, "--key", "nope.key")) == (
        "jamey-agent: error: cannot load certificate: --key nope.key: no such file"
    )
    assert one_line(jamey_agent("--cert", str(tmp_path), "--key", key)).endswith(
        f"--cert {tmp_path}: is not a file"
    )


def test_files_that_are_not_a_certificate_and_its_key_are_named(
    jamey_agent_ca: ThrowawayCA,
) -> None:
    cert, key = str(jamey_agent_ca.cert_path), str(jamey_agent_ca.key_path)
    line = one_line(jamey_agent("--cert", key, "--key", cert))
    assert line.startswith(
        f"jamey-agent: error: cannot load certificate: --cert {key} and --key {cert} are not a "
        "certificate chain and its private key in PEM ("
    )
    with ThrowawayCA() as other:
        line = one_line(jamey_agent("--cert", cert, "--key", str(other.key_path)))
    assert "KEY_VALUES_MISMATCH" in line


def test_a_port_already_taken_is_named(jamey_agent_ca: ThrowawayCA, taken_port: int) -> None:
    cert, key = str(jamey_agent_ca.cert_path), str(jamey_agent_ca.key_path)
    line = one_line(jamey_agent("--cert", cert, "--key", key, "--port", str(taken_port)))
    assert line == (
        f"jamey-agent: error: cannot listen on 127.0.0.1 port {taken_port}: port {taken_port} is "
        "already in use (stop what listens there, or choose --port)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "argument --port: a port is 0 to 65535, got 99999"),
        (["--port", "http"], "argument --port: expected a port number, got 'http'"),
        (["--host", "192.0.2.1"], "this machine has no such address (choose --host)"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_other_mistakes_are_one_line(
    jamey_agent_ca: ThrowawayCA, args: list[str], message: str
) -> None:
    cert, key = str(jamey_agent_ca.cert_path), str(jamey_agent_ca.key_path)
    assert one_line(jamey_agent("--cert", cert, "--key", key, *args)).endswith(message)


def test_no_key_is_one_line(jamey_agent_ca: ThrowawayCA) -> None:
    cert, key = str(jamey_agent_ca.cert_path), str(jamey_agent_ca.key_path)
    assert one_line(jamey_agent("--cert", cert, "--key", key, key=None)) == (
        "jamey-agent: error: set JAMEY_AGENT_API_KEY to the API key"
    )
