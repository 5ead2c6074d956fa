"""``jamey_fake_agents`` is opt-in: installed, it changes no one's test run (issue 17 item 3).

Each test runs a host application's test file through pytester, in a directory of its own, with
the plugins as they are installed.
"""

from __future__ import annotations

import textwrap

import pytest
from harness.samples import inner_args, outcomes

from jamey_agent_orchestration.testing.fixtures import MISSING_AIORESPONSES_MESSAGE

# Imported before any pytester snapshot of sys.modules (see test_side_by_side.py).
pytest.importorskip("jamey_agent_orchestration.testing.agents")
pytest.importorskip("jamey_agent_orchestration.testing.fakes")

#: A test run that never asks for the fixture: what it sees of the plugin, and of aiohttp.
UNTOUCHED = """
    import sys

    import aiohttp
    import pytest


    def untouched(request):
        assert request.config.pluginmanager.hasplugin("jamey_agent_orchestration")  # installed
        assert "aioresponses" not in sys.modules
        assert aiohttp.ClientSession._request.__module__ == "aiohttp.client"  # not patched
        assert not [name for name in request.fixturenames if name.startswith("jamey")]


    def test_a_plain_test(request):
        untouched(request)


    @pytest.mark.asyncio
    async def test_an_async_test(request):
        async with aiohttp.ClientSession() as session:
            assert session.closed is False
        untouched(request)
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_a_run_that_does_not_ask_for_it_sees_no_change(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_untouched=textwrap.dedent(UNTOUCHED))
    # In a process of its own: this one has imported aioresponses already.
    result = pytester.runpytest_subprocess(*inner_args(mode), "-W", "error")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


def test_aiohttp_is_itself_again_after_a_test_that_used_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_after=textwrap.dedent(
            """
            import aiohttp
            import pytest

            pytestmark = pytest.mark.asyncio
            REQUEST = aiohttp.ClientSession._request


            async def test_a_failing_test_with_a_runtime(jamey_fake_agents):
                jamey_fake_agents.add("https://billing.example.com").answers(json={"ok": True})
                runtime = await jamey_fake_agents.runtime()
                assert aiohttp.ClientSession._request is not REQUEST  # aioresponses' patch
                result = await runtime.execute_connector(
                    "agent_orchestration",
                    {"action": "send_task", "agent_id": "billing", "task": "x"},
                )
                assert result.json() == {"ok": True}
                raise AssertionError("this test fails on purpose")


            async def test_the_next_test(request):
                assert aiohttp.ClientSession._request is REQUEST
            """
        )
    )
    reprec = pytester.inline_run(*inner_args("strict"), "-W", "error")
    assert outcomes(reprec) == {
        "test_a_failing_test_with_a_runtime": "failed",
        "test_the_next_test": "passed",
    }


def test_without_aioresponses_it_says_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys

        sys.modules["aioresponses"] = None  # as if it were not installed
        """
    )
    pytester.makepyfile(
        test_fake=textwrap.dedent(
            """
            import pytest


            @pytest.mark.asyncio
            async def test_uses_the_fakes(jamey_fake_agents):
                pass


            def test_does_not(jamey_agent_ca):
                pass
            """
        )
    )
    result = pytester.runpytest_subprocess(*inner_args("strict"))
    result.assert_outcomes(passed=1, errors=1)
    assert f"\n{MISSING_AIORESPONSES_MESSAGE}\n" in result.stdout.str()
    assert "During handling" not in result.stdout.str()  # the message alone, no traceback


def test_the_runtimes_it_made_are_closed_before_aiohttp_is_let_go(
    pytester: pytest.Pytester,
) -> None:
    # Closing a runtime could still send (a health check); it must reach the fakes, not the
    # network: the fixture closes its runtimes while aioresponses still answers.
    pytester.makepyfile(
        test_closing=textwrap.dedent(
            """
            import aiohttp
            import pytest

            from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
            from jamey_host import hookimpl

            REQUEST = aiohttp.ClientSession._request
            CLOSED = []


            class Watching(AgentOrchestrationPlugin):
                @hookimpl
                async def runtime_shutdown(self):
                    CLOSED.append(aiohttp.ClientSession._request is not REQUEST)
                    await super().runtime_shutdown()


            @pytest.mark.asyncio
            async def test_made(jamey_fake_agents, monkeypatch):
                monkeypatch.setattr(jamey_fake_agents, "plugin", lambda: Watching())
                await jamey_fake_agents.runtime()


            def test_closed_under_the_patch():
                assert CLOSED == [True]
            """
        )
    )
    reprec = pytester.inline_run(*inner_args("strict"), "-W", "error")
    assert outcomes(reprec) == {"test_made": "passed", "test_closed_under_the_patch": "passed"}
