"""Calls that end unusually: cancelled by the caller, or still running when the runtime closes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from host_helpers import AsyncConnectorPlugin, Sink

from jamey_host import ConnectorResult, ExecutionContext, Runtime, hookimpl


async def _slow(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> ConnectorResult:
    await asyncio.sleep(float(params.get("seconds", "0.2")))
    return ConnectorResult.ok("finished")


async def test_a_cancelled_call_is_still_audited_once() -> None:
    sink = Sink()
    plugin = AsyncConnectorPlugin("thing", _slow)
    async with Runtime(plugins=[plugin, sink], load_entrypoints=False) as runtime:
        call = asyncio.ensure_future(
            runtime.execute_connector("thing", {"action": "go", "seconds": "5", "token": "t0k"})
        )
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    [event] = sink.named("connector.execute")
    assert event.outcome == "failure"
    assert event.error == "Cancelled before it finished"
    assert event.details["params"] == {"action": "go", "seconds": "5", "token": "***"}


class ClosesResources:
    """Records when its shutdown ran, to compare with when calls finished."""

    def __init__(self, timeline: list[str]) -> None:
        self.timeline = timeline

    @hookimpl
    async def runtime_shutdown(self) -> None:
        self.timeline.append("shutdown")


async def test_close_lets_calls_under_way_finish_before_plugins_shut_down() -> None:
    timeline: list[str] = []

    async def slow_then_note(
        name: str, params: Mapping[str, str], ctx: ExecutionContext
    ) -> ConnectorResult:
        await asyncio.sleep(0.2)
        timeline.append("call finished")
        return ConnectorResult.ok("finished")

    runtime = Runtime(
        plugins=[AsyncConnectorPlugin("thing", slow_then_note), ClosesResources(timeline)],
        load_entrypoints=False,
    )
    await runtime.start()
    call = asyncio.ensure_future(runtime.execute_connector("thing", {"action": "go"}))
    await asyncio.sleep(0.02)
    await runtime.close()
    assert timeline == ["call finished", "shutdown"]
    assert (await call).output == "finished"
    late = await runtime.execute_connector("thing", {"action": "go"})
    assert not late.success
    assert late.errors[0].startswith("Runtime is not running")


async def test_close_gives_up_waiting_after_the_grace_period() -> None:
    timeline: list[str] = []
    plugin = AsyncConnectorPlugin("thing", _slow)
    runtime = Runtime(plugins=[plugin, ClosesResources(timeline)], load_entrypoints=False)
    await runtime.start()
    call = asyncio.ensure_future(runtime.execute_connector("thing", {"seconds": "0.5"}))
    await asyncio.sleep(0.02)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await runtime.close(grace=0.1)
    assert loop.time() - started < 0.4
    assert timeline == ["shutdown"]
    assert (await call).success  # this plugin needed nothing that shutdown closed


async def test_an_error_detail_is_redacted_like_any_other() -> None:
    sink = Sink()
    async with Runtime(plugins=[sink], load_entrypoints=False) as runtime:
        runtime.audit("x.happened", outcome="info", error={"api_key": "SEKRET", "code": 7})
    [event] = sink.named("x.happened")
    assert event.error is not None
    assert "SEKRET" not in event.error
    assert "'code': 7" in event.error


class FailsToStart:
    def __init__(self) -> None:
        self.inner = AsyncConnectorPlugin("fragile")

    @hookimpl
    def register_connectors(self) -> list[object]:
        return self.inner.register_connectors()

    @hookimpl
    def execute_connector(self) -> ConnectorResult:
        return ConnectorResult.ok()

    @hookimpl
    def runtime_startup(self) -> None:
        raise OSError("disk full")


async def test_a_connector_of_a_plugin_that_failed_to_start_says_why_in_warnings() -> None:
    async with Runtime(plugins=[FailsToStart()], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("fragile", {"action": "go"})
    assert result.errors == ["Connector not found: fragile"]
    assert result.warnings == ["plugin 'FailsToStart' failed to start: disk full"]
