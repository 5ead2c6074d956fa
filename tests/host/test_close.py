"""Runtime.close(): calls under way finish first, and every wait of the shutdown is bounded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from jamey_host import AuditEvent, ConnectorResult, ExecutionContext, Runtime, hookimpl

from .plugins import AsyncConnectorPlugin


async def _slow(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> ConnectorResult:
    await asyncio.sleep(float(params.get("seconds", "0.2")))
    return ConnectorResult.ok("finished")


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


class HangingSink:
    """An async audit sink that never finishes writing."""

    def __init__(self) -> None:
        self.entered = 0
        self.cancelled = 0

    @hookimpl
    async def audit_event(self, event: AuditEvent) -> None:
        self.entered += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class SlowSink:
    """An async audit sink that takes a moment per event, and then keeps it."""

    def __init__(self) -> None:
        self.kept: list[str] = []

    @hookimpl
    async def audit_event(self, event: AuditEvent) -> None:
        await asyncio.sleep(0.05)
        self.kept.append(event.event)


async def test_close_waits_for_async_sinks_to_finish_writing() -> None:
    sink = SlowSink()
    async with Runtime(plugins=[sink], load_entrypoints=False) as runtime:
        runtime.audit("host.note", outcome="info")
    assert sink.kept == ["host.note"]


async def test_a_hung_async_sink_is_cut_off_by_name_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hung, slow = HangingSink(), SlowSink()
    runtime = Runtime(plugins=[hung, slow], load_entrypoints=False)
    await runtime.start()
    runtime.audit("host.note", outcome="info")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING, logger="jamey_host"):
        await runtime.close(grace=0.2)
    assert loop.time() - started < 1.0
    assert hung.entered == 1
    assert hung.cancelled == 1
    assert slow.kept == ["host.note"]  # the sink that finished in time was not cut off
    [record] = [r for r in caplog.records if r.name == "jamey_host" and "cancelled" in r.message]
    assert record.levelno == logging.WARNING
    assert "'HangingSink'" in record.getMessage()
    assert "SlowSink" not in record.getMessage()
