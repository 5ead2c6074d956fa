"""The fixtures of the jamey_host pytest plugin, exercised in inner pytest runs."""

from __future__ import annotations

import sys
import textwrap

import pytest

from jamey_host.testing.plugin import MISSING_ASYNCIO_MESSAGE

from .samples import BATTERY_SIZE, GOOD, MODES, inner_args, run_inner

FIXTURE_USER = """
import pytest
from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, RuntimeConfig, hookimpl

EVENTS = []


class Counter:
    @hookimpl
    def register_connectors(self):
        return [ConnectorSpec(id="counter", name="Counter", version="1.0", description="d",
                              capability_level=CapabilityLevel.READ_WRITE, actions=("count",))]

    @hookimpl
    def execute_connector(self, params, context):
        context.audit("counter.counted", outcome="success", token="s3cr3t")
        return ConnectorResult.ok("1")

    @hookimpl
    async def runtime_startup(self, runtime):
        EVENTS.append(("startup", runtime))

    @hookimpl
    async def runtime_shutdown(self, runtime):
        EVENTS.append(("shutdown", runtime))


@pytest.mark.asyncio
async def test_uses_runtimes(jamey_runtime, jamey_audit_events):
    first = await jamey_runtime(Counter)  # a class: instantiated for this runtime
    second = await jamey_runtime(Counter(), capabilities=[CapabilityLevel.READ_ONLY],
                                 settings={"counter": {"k": "v"}})
    assert [spec.id for spec in first.connectors()] == ["counter"]
    assert first.config.granted_capabilities == RuntimeConfig().granted_capabilities
    assert (await first.execute_connector("counter", {"action": "count"})).success
    denied = await second.execute_connector("counter", {"action": "count"})
    assert denied.errors[0].startswith("Capability denied:")
    assert dict(second.settings_for("counter")) == {"k": "v"}
    assert isinstance(jamey_audit_events, list)
    assert [e.event for e in jamey_audit_events] == [
        "counter.counted", "connector.execute", "connector.execute"]
    assert jamey_audit_events[0].details == {"token": "***"}
    execute = jamey_audit_events.named("connector.execute")
    assert [e.outcome for e in execute] == ["success", "denied"]
    assert [kind for kind, _ in EVENTS] == ["startup", "startup"]
    EVENTS.append(("made", (first, second)))


def test_every_runtime_was_closed_after_the_test():
    kinds = [kind for kind, _ in EVENTS]
    assert kinds == ["startup", "startup", "made", "shutdown", "shutdown"]
    first, second = EVENTS[2][1]
    assert [runtime for _, runtime in EVENTS[3:]] == [second, first]  # newest first


@pytest.mark.asyncio
async def test_entry_points_only_on_request(jamey_runtime, jamey_audit_events):
    bare = await jamey_runtime()
    assert bare.connectors() == [] and [p.name for p in bare.plugins()] == [
        "JameyTestingAuditRecorder"]
    loaded = await jamey_runtime(
        load_entrypoints=True, config=RuntimeConfig(load_plugins=["example_echo"]))
    assert [spec.id for spec in loaded.connectors()] == ["echo"]
    assert "example_echo" in [p.name for p in loaded.plugins() if p.status == "active"]


@pytest.mark.asyncio
async def test_a_runtime_that_fails_to_start_raises(jamey_runtime):
    from jamey_host import PluginError
    class Broken:
        @hookimpl
        def register_connectors(self):
            raise RuntimeError("boom")
    with pytest.raises(PluginError, match="boom"):
        await jamey_runtime(Broken(), config=RuntimeConfig(strict_plugins=True))
"""


@pytest.mark.parametrize("mode", MODES)
def test_jamey_runtime_starts_records_and_closes(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_fixture_user=FIXTURE_USER)
    result = run_inner(pytester, mode, "-W", "error", "-p", "no:randomly")
    result.assert_outcomes(passed=4, warnings=0)


def test_the_plugin_has_no_autouse_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_plain():
            pass

        @pytest.mark.asyncio
        async def test_async():
            pass
        """
    )
    result = run_inner(pytester, "auto", "--setup-show")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*SETUP*", "*test_plain*"], consecutive=False)
    result.stdout.fnmatch_lines(["plugins:*jamey-host*"])  # installed and loaded, yet unused
    setup = [line for line in result.outlines if not line.startswith("plugins:")]
    assert not [line for line in setup if "jamey" in line.lower()]
    result = run_inner(pytester, "auto", "--fixtures")
    result.stdout.fnmatch_lines(["*jamey_runtime*", "*jamey_audit_events*"], consecutive=False)


def test_only_the_battery_carries_the_asyncio_marker(pytester: pytest.Pytester) -> None:
    """In strict mode a subclass may add sync tests without a warning about a stray marker."""
    pytester.makepyfile(
        test_good=GOOD
        + textwrap.dedent(
            """
            class TestEchoMore(TestEcho):
                def test_sync_extra(self):
                    assert self.connector_id == "echo"
            """
        )
    )
    result = run_inner(pytester, "strict", "-W", "error")
    result.assert_outcomes(passed=2 * BATTERY_SIZE + 1, warnings=0)


def test_without_pytest_asyncio_the_fixture_says_what_is_missing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_no_asyncio=GOOD
        + textwrap.dedent(
            """
            async def test_uses_runtime(jamey_runtime):
                pass

            def test_plain():
                pass
            """
        )
    )
    result = pytester.runpytest("-p", "no:asyncio", "--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=BATTERY_SIZE + 1)
    result.stdout.fnmatch_lines([MISSING_ASYNCIO_MESSAGE.replace("[", "[[]")])
    assert "not found in `markers`" not in result.stdout.str()


def test_the_plugin_imports_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """An environment without pytest-asyncio still runs pytest, and plain tests pass."""
    pytester.makepyfile("def test_plain():\n    pass\n")
    code = textwrap.dedent(
        """
        import sys

        class NoPytestAsyncio:  # as if pytest-asyncio were not installed
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "pytest_asyncio":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoPytestAsyncio())
        import jamey_host.testing, jamey_host.testing.plugin
        assert "pytest_asyncio" not in sys.modules
        import pytest
        sys.exit(pytest.main(["-p", "no:asyncio", "-p", "no:cacheprovider", "-q"]))
        """
    )
    result = pytester.run(sys.executable, "-c", code)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["1 passed*"])


def test_inner_args_select_the_mode(pytester: pytest.Pytester) -> None:
    """Guard for the other tests: the mode given really is the mode of the inner run."""
    for mode in MODES:
        result = pytester.runpytest(*inner_args(mode))
        result.stdout.fnmatch_lines([f"asyncio: mode=Mode.{mode.upper()}*"])
