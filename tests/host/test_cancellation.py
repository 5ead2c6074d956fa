"""Calls that end unusually: cancelled, or stopped by an exit that is not an error of the call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from jamey_host import ConnectorResult, ExecutionContext
from jamey_host.testing import AuditEventList, RuntimeFactory

from .plugins import AsyncConnectorPlugin, ConnectorPlugin


async def _slow(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> ConnectorResult:
    await asyncio.sleep(float(params.get("seconds", "0.2")))
    return ConnectorResult.ok("finished")


async def test_a_cancelled_call_is_still_audited_once(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    runtime = await jamey_runtime(AsyncConnectorPlugin("thing", _slow))
    call = asyncio.ensure_future(
        runtime.execute_connector("thing", {"action": "go", "seconds": "5", "token": "t0k"})
    )
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    [event] = jamey_audit_events.named("connector.execute")
    assert event.outcome == "failure"
    assert event.error == "Cancelled before it finished"
    assert event.details["params"] == {"action": "go", "seconds": "5", "token": "***"}


async def test_a_call_cancelled_by_a_timeout_of_the_caller_is_cancelled(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    runtime = await jamey_runtime(AsyncConnectorPlugin("thing", _slow))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await runtime.execute_connector("thing", {"seconds": "5"})
    [event] = jamey_audit_events.named("connector.execute")
    assert event.error == "Cancelled before it finished"


async def test_a_stray_cancelled_error_of_the_plugin_is_a_failed_call(
    jamey_runtime: RuntimeFactory,
    jamey_audit_events: AuditEventList,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The plugin awaited something that was cancelled; the caller was not: it gets a result."""

    async def awaits_a_cancelled_task(
        name: str, params: Mapping[str, str], ctx: ExecutionContext
    ) -> ConnectorResult:
        inner = asyncio.ensure_future(asyncio.sleep(5))
        asyncio.get_running_loop().call_soon(inner.cancel)
        await inner
        return ConnectorResult.ok("never")

    runtime = await jamey_runtime(AsyncConnectorPlugin("thing", awaits_a_cancelled_task))
    with caplog.at_level(logging.ERROR, logger="jamey_host"):
        result = await runtime.execute_connector("thing", {"action": "go"})
    assert result.success is False
    assert result.errors == [
        "Connector thing failed: CancelledError (details in the jamey_host log)"
    ]
    [event] = jamey_audit_events.named("connector.execute")
    assert event.outcome == "failure"
    assert event.error == result.errors[0]
    [record] = [r for r in caplog.records if r.name == "jamey_host" and r.exc_info]
    assert record.exc_info is not None
    assert record.exc_info[0] is asyncio.CancelledError
    # the task that made the call can go on as if nothing happened
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    assert (await runtime.execute_connector("thing", {"action": "go"})).success is False


@pytest.mark.parametrize("exit_type", [KeyboardInterrupt, SystemExit, GeneratorExit])
@pytest.mark.parametrize("plugin_type", [ConnectorPlugin, AsyncConnectorPlugin])
async def test_an_interpreter_exit_raised_by_a_plugin_goes_on_and_is_audited_as_such(
    exit_type: type[BaseException],
    plugin_type: type[ConnectorPlugin],
    jamey_runtime: RuntimeFactory,
    jamey_audit_events: AuditEventList,
) -> None:
    def exits(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> ConnectorResult:
        raise exit_type

    runtime = await jamey_runtime(plugin_type("thing", exits))
    with pytest.raises(exit_type):
        await runtime.execute_connector("thing", {"action": "go"})
    [event] = jamey_audit_events.named("connector.execute")
    assert event.outcome == "failure"
    assert event.error == f"Stopped by {exit_type.__name__} before it finished"
    assert "Cancelled" not in (event.error or "")
