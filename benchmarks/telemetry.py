"""7. What OpenTelemetry costs a send_task: the API alone, and the SDK with a batch span processor.

Each setup runs in a process of its own (:mod:`benchmarks.telemetry_worker`: a global provider can
be set once per process), holding a started runtime with the agent connector and one registered
``jamey`` agent: the same agent process of the fleet, on 127.0.0.1, as in the throughput
benchmark. One worker runs at a time. Within each worker, send_task runs alternate between its
telemetry on and both telemetry modules switched off (``ENABLED`` false: the very code path of an
interpreter without OpenTelemetry), in adjacent pairs, the switched-off run first in one pair and
second in the next; each pair gives one ratio, send_task throughput with the telemetry over that
without it:

* API, no SDK: goal >= 0.98 (issue 15: within 2 % of no OpenTelemetry);
* SDK + ``BatchSpanProcessor`` (spans and metrics exported to exporters that drop them, every SDK
  default kept, exemplars included): goal >= 0.90 (within 10 %);
* no goal, the knobs a host has and where the time goes: the same SDK with
  ``OTEL_METRICS_EXEMPLAR_FILTER=always_off``; with one trace in ten sampled; the tracer provider
  alone; the meter provider alone.

Why within one process: two identical processes here differ by up to a fifth in send_task speed,
each keeping its own for minutes (measured as "across processes" below: a worker with the import
really blocked against the API worker switched off, the same code path). A process with the
import blocked still runs, to check that nothing of OpenTelemetry is imported then. The last row
pairs the switched-off runs of one worker with themselves: how far from 1.00 the same code lands,
the resolution of the two goals.

Beside them, to say where the time goes: the telemetry of one send_task timed alone (the facade
calls, no request), and the same spans and measurements made on the SDK directly (the floor).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
from typing import Any

from ._common import ROOT, Figure, Settings, log, ratios, spread
from .agent_server import API_KEY_ENV
from .fleet import Fleet

_SETUPS = {  # worker mode: (title, environment added)
    "none": ("no OpenTelemetry installed", {}),
    "api": ("OpenTelemetry API, no SDK", {}),
    "sdk": ("SDK + BatchSpanProcessor", {}),
    "sdk-no-exemplars": (
        "SDK + BatchSpanProcessor, exemplars off",
        {"OTEL_METRICS_EXEMPLAR_FILTER": "always_off"},
    ),
    "sdk-sampled": (
        "SDK + BatchSpanProcessor, 1 trace in 10 sampled",
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
    ),
    "sdk-traces": ("SDK tracer provider alone (BatchSpanProcessor)", {}),
    "sdk-metrics": ("SDK meter provider alone", {}),
}
_TRACED = [mode for mode in _SETUPS if mode != "none"]
_GOALS = {"api": 0.98, "sdk": 0.90}


class _Worker:
    def __init__(self, mode: str, process: asyncio.subprocess.Process) -> None:
        self.mode = mode
        self.ready: dict[str, Any] = {}  # what the worker said once started
        self._process = process

    @classmethod
    async def start(cls, mode: str, fleet: Fleet) -> _Worker:
        # The SDK's own defaults, whatever OTEL_* variables the shell running the benchmarks has.
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("OTEL_")
        }
        environment |= {API_KEY_ENV: fleet.api_key, **_SETUPS[mode][1]}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.telemetry_worker",
            mode,
            str(fleet.ports[0]),
            str(fleet.ca.ca_path),
            cwd=ROOT,
            env=environment,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(mode, process)
        worker.ready = await worker._answer()
        return worker

    async def _answer(self) -> Any:
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout=120)
        if not line:
            raise RuntimeError(f"the {self.mode} telemetry worker stopped (see its stderr)")
        return json.loads(line)

    async def ask(self, command: str, count: int) -> float:
        """Seconds per call of ``command`` run ``count`` times."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"{command} {count}\n".encode())
        await self._process.stdin.drain()
        seconds: float = await self._answer()
        return seconds / count

    async def stop(self) -> None:
        if self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.write(b"quit\n")
            self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), timeout=10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()


async def _pairs(
    on: tuple[_Worker, str], off: tuple[_Worker, str], count: int, reps: int
) -> tuple[list[float], list[float]]:
    """A warm-up pair, then ``reps`` adjacent pairs of runs, ``off`` first in one pair and second
    in the next; the seconds per send_task of each side, pair by pair."""
    on_side: list[float] = []
    off_side: list[float] = []
    for rep in range(reps + 1):
        if rep % 2:
            seconds_off = await off[0].ask(off[1], count)
            seconds_on = await on[0].ask(on[1], count)
        else:
            seconds_on = await on[0].ask(on[1], count)
            seconds_off = await off[0].ask(off[1], count)
        if rep:  # the first pair warms up
            on_side.append(seconds_on)
            off_side.append(seconds_off)
    return on_side, off_side


async def run(settings: Settings, fleet: Fleet) -> tuple[list[Figure], dict[str, Any]]:
    # Short runs, many pairs: the median of the pair ratios is what the goals read.
    n = 50 if settings.quick else 200
    reps = 5 if settings.quick else 41
    calls, runs = (1_000, 3) if settings.quick else (5_000, 7)
    log(f"telemetry: {len(_SETUPS)} worker processes, {reps} pairs of {n} send_tasks per setup")
    workers: dict[str, _Worker] = {}
    sends: dict[str, tuple[list[float], list[float]]] = {}
    facade: dict[str, list[float]] = {}
    floor: dict[str, list[float]] = {}
    try:
        for mode in _SETUPS:
            workers[mode] = await _Worker.start(mode, fleet)
        none = workers["none"].ready
        if none["imported"] or none["enabled"]:
            raise RuntimeError("opentelemetry was imported with its import blocked")
        for mode in _TRACED:
            worker = workers[mode]
            sends[mode] = await _pairs((worker, "send"), (worker, "send-off"), n, reps)
        api = workers["api"]
        itself = await _pairs((api, "send-off"), (api, "send-off"), n, reps)
        across = await _pairs((api, "send-off"), (workers["none"], "send"), n, reps)
        for mode in _TRACED:
            facade[mode] = [await workers[mode].ask("facade", calls) for _ in range(runs)]
            if mode in ("sdk", "sdk-no-exemplars"):
                floor[mode] = [await workers[mode].ask("floor", calls) for _ in range(runs)]
    finally:
        for worker in workers.values():
            await worker.stop()

    across_ratio = spread(ratios(across[1], across[0]))
    figures: list[Figure] = []
    for mode in _TRACED:
        on_side, off_side = sends[mode]
        cost_us = statistics.median(facade[mode]) * 1e6
        note = f"its telemetry alone: {cost_us:.1f} µs per send_task"
        if mode in floor:
            note += f"; the same on the bare SDK: {statistics.median(floor[mode]) * 1e6:.1f} µs"
        if mode == "api":
            note += (
                "; across processes (import blocked vs this worker switched off, the same code "
                f"path): {across_ratio['median']:.2f} [{across_ratio['min']:.2f}-"
                f"{across_ratio['max']:.2f}]"
            )
        figure = Figure(
            key=f"telemetry.{mode}",
            title=f"send_task, {_SETUPS[mode][0]}",
            value=1 / statistics.median(on_side),
            unit="req/s",
            baseline="telemetry switched off",
            baseline_value=1 / statistics.median(off_side),
            ratio=ratios(off_side, on_side),
            ratio_label="of off",
            note=note,
        )
        if mode in _GOALS:
            figure.judge(">=", _GOALS[mode])
        figures.append(figure)
    figures.append(
        Figure(
            key="telemetry.resolution",
            title="send_task, switched off against itself (resolution)",
            value=1 / statistics.median(itself[0]),
            unit="req/s",
            baseline="telemetry switched off",
            baseline_value=1 / statistics.median(itself[1]),
            ratio=ratios(itself[1], itself[0]),
            ratio_label="of off",
            note="the same worker, the same code path on both sides of every pair",
        )
    )
    raw = {
        "requests_per_sample": n,
        "seconds_per_send_task": {
            mode: {"on": on_side, "off": off_side} for mode, (on_side, off_side) in sends.items()
        },
        "against_itself": {"first": itself[0], "second": itself[1]},
        "across_processes": {"switched_off": across[0], "import_blocked": across[1]},
        "telemetry_alone_seconds": facade,
        "bare_sdk_seconds": floor,
        "workers": {mode: worker.ready for mode, worker in workers.items()},
    }
    return figures, raw
