"""Calls that end unusually: cancelled, or stopped by an exit that is not an error of the call."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from jamey_host import ConnectorResult, ExecutionContext
from jamey_host.testing import AuditEventList, RuntimeFactory

from .plugins import AsyncConnectorPlugin


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
