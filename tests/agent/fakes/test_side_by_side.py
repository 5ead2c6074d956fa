"""Each behaviour a fake agent is scripted with gives the host what a real agent gives (issue 17).

``side_by_side.py`` is a host application's test file: each of its tests makes the same calls
against a fake agent and a real HTTPS one and compares what came back. It runs here through
pytester, in a directory of its own, with only the installed plugins, in pytest-asyncio's strict
mode (the stricter one: auto mode asks nothing more).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.samples import inner_args, outcomes

# Imported before any pytester snapshot of sys.modules: modules first imported during an inner
# run are dropped after it, and cryptography's compiled bindings do not survive being imported
# twice in one process.
pytest.importorskip("jamey_agent_orchestration.testing.agents")
pytest.importorskip("jamey_agent_orchestration.testing.fakes")

HOST_APP_TESTS = Path(__file__).with_name("side_by_side.py")
BOTH = ("[jamey]", "[a2a]")
#: Every scenario of the issue (success, 503 then success, 401, a body that is not JSON, a FAILED
#: A2A task; a timeout and a breaker opening), and a few more a host meets.
SCENARIOS = {
    "test_an_answer": BOTH,
    "test_503_twice_then_the_answer": BOTH,
    "test_a_wrong_key_is_401": BOTH,
    "test_a_scripted_401_is_what_a_wrong_key_gets": BOTH,
    "test_a_body_that_is_not_json": BOTH,
    "test_a_failed_a2a_task": ("",),
    "test_a_jamey_task_error": ("",),
    "test_an_unknown_task": BOTH,
    "test_a_timeout": BOTH,
    "test_a_dropped_connection": BOTH,
    "test_the_breaker_opens": BOTH,
    "test_a_long_a2a_task_polled_and_cancelled": ("",),
    "test_an_a2a_task_that_needs_input": ("",),
}


def test_each_scripted_behaviour_gives_what_a_real_agent_gives(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_host_app=HOST_APP_TESTS.read_text(encoding="utf-8"))

    reprec = pytester.inline_run(*inner_args("strict"), "-W", "error")

    failures = [
        f"{report.nodeid} ({report.when}):\n{report.longreprtext}"
        for report in reprec.getreports("pytest_runtest_logreport")
        if report.failed
    ]
    assert not failures, "\n\n".join(failures)
    expected = {f"{name}{param}" for name, params in SCENARIOS.items() for param in params}
    assert outcomes(reprec) == dict.fromkeys(expected, "passed")
