"""1. Dispatch overhead: ``Runtime.execute_connector`` on a no-op connector.

Three sides, each timed as a tight ``for`` loop of ``n`` calls inside one running event loop:

* runtime: ``await runtime.execute_connector("noop", {"action": "noop"}, user_id=...,
  session_id=...)`` - params check, connector lookup, capability gate, ``ExecutionContext``,
  the plugin call, the result check, and the ``connector.execute`` audit event (built,
  redacted and logged only when a sink listens);
* pluggy: ``pm.hook.x(name=..., params=..., context=None)`` on a ``PluginManager`` holding one
  plugin whose sync implementation returns a constant (a bare pluggy hook call);
* direct: ``await plugin.execute_connector("noop", params, context)``, the no-op plugin's own
  coroutine function awaited with a context built once.

The no-op connector returns a module-level ``ConnectorResult`` constant, so no side pays for
building a result. Measured twice: audit logger ``jamey_host.audit`` left unconfigured, and at INFO
with a ``FileHandler`` writing one JSON line per event to a temporary file.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Mapping
from typing import Any

import pluggy

import jamey_host.audit
from jamey_host import (
    AUDIT_LOGGER_NAME,
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    Runtime,
    hookimpl,
)

from ._common import Figure, Settings, audit_to_file, log, paired, ratios

_OK = ConnectorResult.ok("")
_PARAMS = {"action": "noop"}

_spec = pluggy.HookspecMarker("bench")
_impl = pluggy.HookimplMarker("bench")


class NoopPlugin:
    """A connector that does nothing and returns a constant result."""

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [
            ConnectorSpec(
                id="noop",
                name="No-op",
                version="1.0.0",
                description="Does nothing",
                capability_level=CapabilityLevel.READ_ONLY,
                actions=("noop",),
            )
        ]

    @hookimpl
    async def execute_connector(
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        return _OK


class _Spec:
    @_spec
    def x(self, name: str, params: Mapping[str, str], context: Any) -> Any:
        """The baseline hook."""


class _Impl:
    @_impl
    def x(self, name: str, params: Mapping[str, str], context: Any) -> Any:
        return _OK


def _pluggy_hook() -> Any:
    pm = pluggy.PluginManager("bench")
    pm.add_hookspecs(_Spec)
    pm.register(_Impl())
    return pm.hook.x


async def _count_events_built(runtime: Runtime, calls: int) -> int:
    """How many ``AuditEvent`` objects the runtime builds for ``calls`` calls."""
    cls = jamey_host.audit.AuditEvent
    original = cls.__dict__["create"]
    built = 0

    def counting(klass: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal built
        built += 1
        return original.__func__(klass, *args, **kwargs)

    cls.create = classmethod(counting)  # type: ignore[method-assign,assignment]
    try:
        for _ in range(calls):
            await runtime.execute_connector("noop", _PARAMS, user_id="u", session_id="s")
    finally:
        cls.create = original  # type: ignore[method-assign]
    return built


async def run(settings: Settings) -> tuple[list[Figure], dict[str, Any]]:
    n = settings.dispatch_calls
    figures: list[Figure] = []
    raw: dict[str, Any] = {"calls_per_sample": n}
    audit_logger = logging.getLogger(AUDIT_LOGGER_NAME)
    if audit_logger.isEnabledFor(logging.INFO):
        log("warning: jamey_host.audit is already enabled at INFO; 'unconfigured' is not")

    plugin = NoopPlugin()
    hook = _pluggy_hook()
    context = ExecutionContext(
        connector="noop", action="noop", user_id="u", session_id="s", settings={}
    )
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        execute = runtime.execute_connector
        direct = plugin.execute_connector
        assert (await execute("noop", _PARAMS)).success

        async def runtime_side() -> float:
            start = time.perf_counter()
            for _ in range(n):
                await execute("noop", _PARAMS, user_id="u", session_id="s")
            return time.perf_counter() - start

        async def pluggy_side() -> float:
            start = time.perf_counter()
            for _ in range(n):
                hook(name="noop", params=_PARAMS, context=None)
            return time.perf_counter() - start

        async def direct_side() -> float:
            start = time.perf_counter()
            for _ in range(n):
                await direct("noop", _PARAMS, context)
            return time.perf_counter() - start

        sides = {"runtime": runtime_side, "pluggy": pluggy_side, "direct": direct_side}
        for mode in ("unconfigured", "info_file"):
            log(f"dispatch: audit {mode}, {settings.reps} rounds of {n} calls per side")
            if mode == "unconfigured":
                samples = await paired(sides, settings.reps)
                events = await _count_events_built(runtime, 100)
                lines = None
            else:
                with audit_to_file() as path:
                    samples = await paired(sides, settings.reps)
                    events = await _count_events_built(runtime, 100)
                    for handler in audit_logger.handlers:
                        handler.flush()
                    with path.open(encoding="utf-8") as f:
                        lines = sum(1 for _ in f)
            per_call = {side: [t / n * 1e6 for t in ts] for side, ts in samples.items()}
            raw[mode] = {"per_call_us": per_call, "events_built_per_100_calls": events}
            if lines is not None:
                raw[mode]["audit_lines_written"] = lines
            med = {side: statistics.median(v) for side, v in per_call.items()}
            label = "audit unconfigured" if mode == "unconfigured" else "audit INFO -> file"
            vs_pluggy = Figure(
                key=f"dispatch.{mode}.vs_pluggy",
                title=f"execute_connector no-op ({label})",
                value=med["runtime"],
                unit="us",
                baseline="pluggy hook call",
                baseline_value=med["pluggy"],
                ratio=ratios(samples["runtime"], samples["pluggy"]),
                ratio_label="x pluggy",
            )
            vs_direct = Figure(
                key=f"dispatch.{mode}.vs_direct",
                title=f"execute_connector no-op ({label})",
                value=med["runtime"],
                unit="us",
                baseline="direct plugin call",
                baseline_value=med["direct"],
                ratio=ratios(samples["runtime"], samples["direct"]),
                ratio_label="x direct",
            )
            if mode == "unconfigured":
                vs_pluggy.judge("<=", 3.0)
                figures += [vs_pluggy, vs_direct]
                unread = Figure(
                    key="dispatch.unconfigured.events_built",
                    title="audit events built, 100 calls, no sink",
                    value=events,
                    unit="",
                    note="work no one reads must not be done",
                ).judge("<=", 0, on=events)
                figures.append(unread)
            else:
                figures += [vs_pluggy, vs_direct]
    return figures, raw
