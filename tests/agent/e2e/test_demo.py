"""``jamey demo``: runs offline in seconds, reads well, and exits 0 with no traceback or warning."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jamey_agent_orchestration.commands import demo
from jamey_host.cli import main

ANSI = re.compile(r"\x1b\[")


def jamey_script() -> str:
    """The ``jamey`` console script of the environment running the tests."""
    bin_dir = Path(sys.executable).parent
    found = shutil.which("jamey", path=str(bin_dir))
    if found is None:
        pytest.fail(f"no jamey script next to {sys.executable}")
    return found


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAMEY_") and k != "NO_COLOR"}
    env["PYTHONWARNINGS"] = "default"  # show ResourceWarning and friends, should there be any
    return env


def run_jamey(*args: str, timeout: float = 30) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    completed = subprocess.run(
        [jamey_script(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=clean_env(),
        check=False,
    )
    return completed, time.monotonic() - started


def assert_tells_the_story(out: str) -> None:
    assert out.count("Agent registered successfully") == 4
    # The A2A agent: registered from its card, a task, a long task polled and cancelled.
    assert "researcher  https://127.0.0.1:" in out
    assert "(A2A)" in out
    assert "'Researcher' [health_check,research,long_task,needs_input]" in out
    assert 'task COMPLETED: {"topic": "agent protocols"' in out
    assert "wait=false: task WORKING" in out
    assert "get_task     task WORKING" in out
    assert "cancel_task  task CANCELED" in out
    assert 'researcher  task COMPLETED: {"status": "healthy", "agent": "Researcher"}' in out
    assert "allow_networks  127.0.0.0/8" in out
    assert '"summary": "Jamey hosts connectors as plugins. ..."' in out
    assert '"text": "GOOD MORNING, AGENTS"' in out
    assert "routed to translator" in out
    assert '"status": "healthy", "agent": "summarizer"' in out
    assert '{"error": "Failed to send task to agent: ' in out
    assert "succeeded=3 failed=1" in out
    assert "Security violation: Agent URLs must use HTTPS. Got: http" in out
    assert "Security violation: Agent URL refused: private address 10.0.0.5" in out
    assert "Security violation: Agent URL refused: link-local address 169.254.169.254" in out
    assert "15 through execute_connector: 12 succeeded, 3 refused" in out
    assert "API keys leaked   none" in out
    assert "Audit trail" in out
    for event in ("agent.registered", "agent.task_failed", "agent.register_refused"):
        assert event in out
    assert "Traceback" not in out


def test_jamey_demo_runs_offline_in_seconds(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    completed, elapsed = run_jamey("demo", "--no-color", "--audit-log", str(audit_path))

    assert completed.returncode == 0, completed.stderr
    assert elapsed < 15
    assert completed.stderr == ""
    assert not ANSI.search(completed.stdout)
    assert_tells_the_story(completed.stdout)

    events = [json.loads(line) for line in audit_path.read_text().splitlines()]
    names = [event["event"] for event in events]
    assert names[0] == "agent_orchestration.allow_networks"
    assert names.count("connector.execute") == 15
    assert names.count("agent.register_refused") == 3
    registrations = [
        e for e in events if e["event"] == "connector.execute" and e["action"] == "register_agent"
    ]
    assert {e["details"]["params"]["api_key"] for e in registrations} == {"***"}


def test_output_is_plain_when_stdout_is_not_a_terminal() -> None:
    completed, _ = run_jamey("demo")

    assert completed.returncode == 0, completed.stderr
    assert not ANSI.search(completed.stdout)
    assert "Audit trail" in completed.stdout


def test_jamey_help_lists_the_demo() -> None:
    completed, _ = run_jamey("--help")

    assert completed.returncode == 0
    assert re.search(r"^\s+demo\s+show the agent connector end to end", completed.stdout, re.M)


async def test_run_demo_in_process_with_color() -> None:
    out, audit = io.StringIO(), io.StringIO()

    assert await demo.run_demo(color=True, audit_log=audit, stream=out) == 0

    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert "\x1b[32m" in out.getvalue()  # green marks on a terminal
    assert_tells_the_story(text)
    assert all(json.loads(line)["id"] for line in audit.getvalue().splitlines())


async def test_run_demo_without_color_honours_a_stream_that_is_no_terminal() -> None:
    out = io.StringIO()

    assert await demo.run_demo(stream=out) == 0

    assert not ANSI.search(out.getvalue())


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_a_terminal_gets_colour_unless_no_color_is_set_or_colour_is_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    screens = {"terminal": Terminal(), "--no-color": Terminal(), "NO_COLOR": Terminal()}
    assert await demo.run_demo(stream=screens["terminal"]) == 0
    assert await demo.run_demo(color=False, stream=screens["--no-color"]) == 0
    monkeypatch.setenv("NO_COLOR", "1")
    assert await demo.run_demo(stream=screens["NO_COLOR"]) == 0
    coloured = {name: bool(ANSI.search(screen.getvalue())) for name, screen in screens.items()}
    assert coloured == {"terminal": True, "--no-color": False, "NO_COLOR": False}


async def test_an_unexpected_failure_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "CONNECTOR", "not_installed")

    assert await demo.run_demo(stream=io.StringIO()) == 1

    err = capsys.readouterr().err
    assert err.startswith("jamey demo: error: the not_installed plugin is not installed")
    assert err.count("\n") == 1


def test_unwritable_audit_log_fails_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing" / "audit.jsonl"

    assert main(["demo", "--no-color", "--audit-log", str(missing)]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"jamey demo: error: cannot write {missing}: No such file or directory\n"
