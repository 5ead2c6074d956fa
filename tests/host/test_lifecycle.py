"""runtime_startup / runtime_shutdown, register_plugin / unregister_plugin (contract section 3)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jamey_host import ConnectorResult, PluginError, Runtime, RuntimeConfig, hookimpl
from jamey_host.testing import AuditEventList, JameyTestingAuditRecorder, RuntimeFactory

from .plugins import AsyncConnectorPlugin, ConnectorPlugin, spec


class Lifecycle:
    """Records startup/shutdown in a shared log; sync or async; may raise at startup."""

    def __init__(
        self,
        label: str,
        log: list[str],
        *,
        is_async: bool = False,
        fail_startup: bool = False,
        connector: str | None = None,
    ) -> None:
        self.label = label
        self.log = log
        self.is_async = is_async
        self.fail_startup = fail_startup
        self.connector = connector

    @hookimpl
    def register_connectors(self) -> list[Any]:
        return [spec(self.connector)] if self.connector else []

    @hookimpl
    def execute_connector(self, name: str) -> ConnectorResult:
        self.log.append(f"call {self.label}")
        return ConnectorResult.ok(self.label)

    def _start(self) -> None:
        self.log.append(f"start {self.label}")
        if self.fail_startup:
            raise OSError(f"cannot open {self.label}")

    @hookimpl
    def runtime_startup(self, runtime: Runtime) -> Any:
        if not self.is_async:
            return self._start()

        async def start() -> None:
            await asyncio.sleep(0)
            self._start()

        return start()

    @hookimpl
    def runtime_shutdown(self, runtime: Runtime) -> Any:
        if not self.is_async:
            self.log.append(f"stop {self.label}")
            return None

        async def stop() -> None:
            await asyncio.sleep(0)
            self.log.append(f"stop {self.label}")

        return stop()


class AsyncLifecycle:
    """A plugin with real ``async def`` lifecycle hooks."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl
    async def runtime_startup(self, runtime: Runtime) -> None:
        await asyncio.sleep(0)
        self.log.append("start async_def")
        runtime.audit("async_def.started", outcome="info")

    @hookimpl
    async def runtime_shutdown(self) -> None:
        await asyncio.sleep(0)
        self.log.append("stop async_def")


async def test_sync_and_async_startup_and_shutdown_run_in_order(
    recorder: JameyTestingAuditRecorder, jamey_audit_events: AuditEventList
) -> None:
    log: list[str] = []
    plugins = [
        recorder,
        Lifecycle("a", log),
        AsyncLifecycle(log),
    ]
    runtime = Runtime(plugins=plugins, load_entrypoints=False)
    async with runtime:
        assert log == ["start a", "start async_def"]
        assert [e.event for e in jamey_audit_events] == ["async_def.started"]
    assert log == ["start a", "start async_def", "stop async_def", "stop a"]


async def test_shutdown_in_reverse_order_of_startup() -> None:
    log: list[str] = []

    class One(Lifecycle):
        pass

    class Two(Lifecycle):
        pass

    class Three(Lifecycle):
        pass

    plugins = [One("1", log), Two("2", log, is_async=True), Three("3", log)]
    async with Runtime(plugins=plugins, load_entrypoints=False):
        pass
    assert log == ["start 1", "start 2", "start 3", "stop 3", "stop 2", "stop 1"]


@pytest.mark.parametrize("is_async", [False, True])
async def test_failed_startup_marks_plugin_failed_and_others_go_on(
    is_async: bool, recorder: JameyTestingAuditRecorder, jamey_audit_events: AuditEventList
) -> None:
    log: list[str] = []

    class Good(Lifecycle):
        pass

    class Bad(Lifecycle):
        pass

    class AlsoGood(Lifecycle):
        pass

    plugins = [
        recorder,
        Good("good", log, connector="good"),
        Bad("bad", log, is_async=is_async, fail_startup=True, connector="bad"),
        AlsoGood("also", log, connector="also"),
    ]
    async with Runtime(plugins=plugins, load_entrypoints=False) as runtime:
        infos = {info.name.rpartition(".")[2]: info for info in runtime.plugins()}
        assert infos["Bad"].status == "failed"
        assert "OSError" in (infos["Bad"].error or "")
        assert infos["Good"].status == "active"
        assert infos["AlsoGood"].status == "active"
        assert sorted(s.id for s in runtime.connectors()) == ["also", "good"]
        gone = await runtime.execute_connector("bad", {})
        assert gone.errors == ["Connector unavailable: bad: cannot open bad"]
        assert (await runtime.execute_connector("also", {})).success
    failed = jamey_audit_events.named("plugin.load_failed")
    assert len(failed) == 1
    assert failed[0].details["plugin"].endswith(".Bad")
    assert failed[0].outcome == "failure"
    assert "OSError" in (failed[0].error or "")
    assert "stop bad" not in log
    assert log[-2:] == ["stop also", "stop good"]
    assert "call bad" not in log


async def test_strict_startup_failure_raises_and_shuts_down_the_started() -> None:
    log: list[str] = []

    class Good(Lifecycle):
        pass

    class Bad(Lifecycle):
        pass

    class Later(Lifecycle):
        pass

    plugins = [Good("good", log), Bad("bad", log, fail_startup=True), Later("later", log)]
    runtime = Runtime(RuntimeConfig(strict_plugins=True), plugins=plugins, load_entrypoints=False)
    with pytest.raises(PluginError, match="Bad"):
        await runtime.start()
    assert log == ["start good", "start bad", "stop good"]
    result = await runtime.execute_connector("good", {})
    assert result.success is False


async def test_exit_twice_and_close_twice_are_harmless() -> None:
    log: list[str] = []
    runtime = Runtime(plugins=[Lifecycle("a", log)], load_entrypoints=False)
    async with runtime:
        pass
    await runtime.__aexit__(None, None, None)
    await runtime.close()
    assert log == ["start a", "stop a"]


async def test_close_without_start_and_start_twice() -> None:
    log: list[str] = []
    runtime = Runtime(plugins=[Lifecycle("a", log)], load_entrypoints=False)
    await runtime.close()
    assert log == []
    started = Runtime(load_entrypoints=False)
    async with started:
        with pytest.raises(RuntimeError):
            await started.start()


async def test_shutdown_failure_does_not_stop_other_shutdowns() -> None:
    log: list[str] = []

    class BadStop:
        @hookimpl
        def runtime_shutdown(self) -> None:
            raise RuntimeError("cannot close")

    class First(Lifecycle):
        pass

    async with Runtime(plugins=[First("first", log), BadStop()], load_entrypoints=False):
        pass
    assert log == ["start first", "stop first"]


@pytest.mark.parametrize("is_async", [False, True])
async def test_register_plugin_on_running_runtime(is_async: bool) -> None:
    log: list[str] = []
    async with Runtime(load_entrypoints=False) as runtime:
        name = runtime.register_plugin(Lifecycle("late", log, is_async=is_async, connector="late"))
        assert name == "Lifecycle"
        # the call waits for the startup, sync or async
        result = await runtime.execute_connector("late", {})
        assert result.success
        assert log == ["start late", "call late"]
        assert [i.status for i in runtime.plugins()] == ["active"]
    assert log == ["start late", "call late", "stop late"]


async def test_register_plugin_with_slow_async_startup_call_waits() -> None:
    log: list[str] = []
    gate = asyncio.Event()

    class Slow:
        @hookimpl
        def register_connectors(self) -> list[Any]:
            return [spec("slow")]

        @hookimpl
        async def runtime_startup(self) -> None:
            await gate.wait()
            log.append("started")

        @hookimpl
        def execute_connector(self) -> ConnectorResult:
            log.append("called")
            return ConnectorResult.ok()

    async with Runtime(load_entrypoints=False) as runtime:
        runtime.register_plugin(Slow(), name="slow_plugin")
        call = asyncio.ensure_future(runtime.execute_connector("slow", {}))
        await asyncio.sleep(0.01)
        assert log == []
        gate.set()
        assert (await call).success
    assert log == ["started", "called"]


async def test_call_waiting_for_a_failing_async_startup_does_not_reach_the_plugin() -> None:
    log: list[str] = []
    async with Runtime(load_entrypoints=False) as runtime:
        runtime.register_plugin(
            Lifecycle("late", log, is_async=True, fail_startup=True, connector="late"),
            name="late_plugin",
        )
        result = await runtime.execute_connector("late", {})
        assert result.success is False
        assert [i.status for i in runtime.plugins()] == ["failed"]
    assert "call late" not in log


async def test_register_plugin_class_is_instantiated_and_duplicate_name_refused() -> None:
    class Plain(ConnectorPlugin):
        def __init__(self) -> None:
            super().__init__("plain")

    async with Runtime(load_entrypoints=False) as runtime:
        name = runtime.register_plugin(Plain)
        assert name == Plain.__qualname__
        assert (await runtime.execute_connector("plain", {})).success
        with pytest.raises(PluginError):
            runtime.register_plugin(Plain(), name=name)


async def test_register_plugin_with_taken_connector_id_raises() -> None:
    async with Runtime(plugins=[ConnectorPlugin("thing")], load_entrypoints=False) as runtime:
        with pytest.raises(PluginError, match="thing"):
            runtime.register_plugin(ConnectorPlugin("thing"), name="another")
        assert [i.name for i in runtime.plugins() if i.status == "active"] == ["ConnectorPlugin"]


async def test_unregister_plugin_runs_shutdown_and_removes_connectors(
    recorder: JameyTestingAuditRecorder,
) -> None:
    log: list[str] = []
    plugin = Lifecycle("a", log, connector="thing")
    async with Runtime(plugins=[recorder, plugin], load_entrypoints=False) as runtime:
        assert (await runtime.execute_connector("thing", {})).success
        runtime.unregister_plugin("Lifecycle")
        assert runtime.connectors() == []
        assert "Lifecycle" not in [i.name for i in runtime.plugins()]
        result = await runtime.execute_connector("thing", {})
        assert result.errors == ["Connector not found: thing"]
        await asyncio.sleep(0)
        assert log == ["start a", "call a", "stop a"]
        with pytest.raises(KeyError):
            runtime.unregister_plugin("Lifecycle")
    assert log == ["start a", "call a", "stop a"]


async def test_unregister_during_async_startup_still_shuts_down() -> None:
    log: list[str] = []
    gate = asyncio.Event()

    class Slow:
        @hookimpl
        async def runtime_startup(self) -> None:
            log.append("starting")
            await gate.wait()
            log.append("started")

        @hookimpl
        def runtime_shutdown(self) -> None:
            log.append("stopped")

    async with Runtime(load_entrypoints=False) as runtime:
        runtime.register_plugin(Slow(), name="slow")
        await asyncio.sleep(0.01)
        assert log == ["starting"]
        runtime.unregister_plugin("slow")
        gate.set()
        await asyncio.sleep(0.01)
    # a plugin whose startup ran must be shut down
    assert log == ["starting", "started", "stopped"]


async def test_runtime_audit_from_startup_reaches_sinks(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    log: list[str] = []
    await jamey_runtime(AsyncLifecycle(log))
    (event,) = jamey_audit_events.named("async_def.started")
    assert event.outcome == "info"
    assert event.connector is None


class FailsToStart:
    def __init__(self, reason: str = "disk full") -> None:
        self.inner = AsyncConnectorPlugin("fragile")
        self.reason = reason

    @hookimpl
    def register_connectors(self) -> list[object]:
        return self.inner.register_connectors()

    @hookimpl
    def execute_connector(self) -> ConnectorResult:
        return ConnectorResult.ok()

    @hookimpl
    def runtime_startup(self) -> None:
        raise OSError(self.reason)


async def test_a_connector_of_a_plugin_that_failed_to_start_is_unavailable_saying_why(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    runtime = await jamey_runtime(FailsToStart())
    result = await runtime.execute_connector("fragile", {"action": "go"})
    assert result.success is False
    assert result.errors == ["Connector unavailable: fragile: disk full"]
    assert result.warnings == []  # said once
    assert [info.connectors for info in runtime.plugins() if info.name == "FailsToStart"] == [()]
    [event] = jamey_audit_events.named("connector.execute")
    assert event.error == "Connector unavailable: fragile: disk full"
    runtime.unregister_plugin("FailsToStart")
    gone = await runtime.execute_connector("fragile", {"action": "go"})
    assert gone.errors == ["Connector not found: fragile"]


async def test_the_startup_failure_in_an_unavailable_error_is_redacted(
    jamey_runtime: RuntimeFactory,
) -> None:
    runtime = await jamey_runtime(FailsToStart("cannot reach postgresql://jamey:pw-1@db/agents"))
    result = await runtime.execute_connector("fragile", {})
    assert result.errors == [
        "Connector unavailable: fragile: cannot reach postgresql://***@db/agents"
    ]


async def test_a_connector_whose_late_startup_failed_is_unavailable() -> None:
    async with Runtime(load_entrypoints=False) as runtime:
        runtime.register_plugin(FailsToStart(), name="late")
        result = await runtime.execute_connector("fragile", {})
    assert result.errors == ["Connector unavailable: fragile: disk full"]
