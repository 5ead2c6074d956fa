"""Connector sources and helpers for the harness tests: inner pytest runs through ``pytester``."""

from __future__ import annotations

import pytest

MODES = ("strict", "auto")
BATTERY_SIZE = 11

#: A connector that does everything right, as a class plugin with async hooks.
GOOD = """
import json
from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, hookimpl, redact
from jamey_host.testing import ConnectorContract


class EchoPlugin:
    @hookimpl
    def register_connectors(self):
        return [ConnectorSpec(id="echo", name="Echo", version="1.0.0", description="Echoes params",
                              capability_level=CapabilityLevel.READ_ONLY, actions=("echo",))]

    @hookimpl
    async def execute_connector(self, name, params, context):
        action = params.get("action")
        if not action:
            return ConnectorResult.fail("Missing 'action' parameter")
        if action != "echo":
            return ConnectorResult.fail(f"Unknown action: {action}")
        # a secret under a secret-looking key is redacted by the runtime
        context.audit("echo.called", outcome="success", size=len(params),
                      api_key=params.get("api_key"))
        return ConnectorResult.ok(json.dumps(redact(dict(params))))


class TestEcho(ConnectorContract):
    plugin = EchoPlugin
    connector_id = "echo"
"""

#: Three classic mistakes: raises on an unknown action, returns a dict, audits the api_key under
#: a name the redaction rule does not catch.
SLOPPY = """
from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, hookimpl
from jamey_host.testing import ConnectorContract


class SloppyPlugin:
    @hookimpl
    def register_connectors(self):
        return [ConnectorSpec(id="sloppy", name="Sloppy", version="0.1.0", description="Oops",
                              capability_level=CapabilityLevel.READ_ONLY, actions=("greet",))]

    @hookimpl
    def execute_connector(self, params, context):
        context.audit("sloppy.called", outcome="info", received=params.get("api_key"))
        action = params.get("action")
        if not action:
            return ConnectorResult.fail("Missing 'action' parameter")
        if action == "greet":
            return {"greeting": "hello"}
        raise ValueError(f"no such action {action}")


class TestSloppy(ConnectorContract):
    plugin = SloppyPlugin()
    connector_id = "sloppy"
"""


def run_inner(pytester: pytest.Pytester, mode: str, *args: str) -> pytest.RunResult:
    """Run pytest in-process on the files written to ``pytester``, in ``mode``."""
    return pytester.runpytest(*inner_args(mode), *args)


def inner_args(mode: str) -> tuple[str, ...]:
    return (
        "-o",
        f"asyncio_mode={mode}",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "--strict-markers",
        "-p",
        "no:cacheprovider",
    )


def failure_text(reprec: pytest.HookRecorder, test_name: str) -> str:
    """The failure text of the one call of the test whose node id ends with ``test_name``."""
    reports = [
        report
        for report in reprec.getreports("pytest_runtest_logreport")
        if report.nodeid.endswith(test_name) and report.when == "call"
    ]
    assert len(reports) == 1, [r.nodeid for r in reprec.getreports("pytest_runtest_logreport")]
    assert reports[0].failed, f"{test_name} passed, expected a failure"
    return reports[0].longreprtext


def outcomes(reprec: pytest.HookRecorder) -> dict[str, str]:
    """``{test name: passed/failed/skipped}`` of every test that ran (errors at setup count)."""
    result: dict[str, str] = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        name = report.nodeid.split("::", 1)[1]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            result[name] = report.outcome
    return result
