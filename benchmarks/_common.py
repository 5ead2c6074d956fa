"""Shared pieces: paired measurements, ratios, figures and the results table."""

from __future__ import annotations

import gc
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jamey_host import AUDIT_LOGGER_NAME, Runtime

ROOT = Path(__file__).resolve().parent.parent

Side = Callable[[], Awaitable[float]]


@dataclass
class Settings:
    """How hard to measure: ``--quick`` shrinks every count."""

    quick: bool
    reps: int  # measured pairs per benchmark (at least 7 in a full run)
    dispatch_calls: int
    send_requests: int
    broadcast_sizes: tuple[int, ...]
    hung_reps: int
    registry_agents: int
    registry_chunk: int
    a2a_broadcast_sizes: tuple[int, ...]  # A2A agents; the largest is the figure's
    scale_agents: int  # the large broadcast (jamey protocol)
    scale_reps: int  # its pairs: each side of a pair takes seconds

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(
                quick=True,
                reps=3,
                dispatch_calls=5_000,
                send_requests=100,
                broadcast_sizes=(10, 100, 1000),
                hung_reps=1,
                registry_agents=100_000,
                registry_chunk=5_000,
                a2a_broadcast_sizes=(1000,),
                scale_agents=10_000,
                scale_reps=3,
            )
        return cls(
            quick=False,
            reps=21,
            dispatch_calls=20_000,
            send_requests=400,
            broadcast_sizes=(10, 50, 100, 250, 500, 1000),
            hung_reps=7,
            registry_agents=100_000,
            registry_chunk=10_000,
            a2a_broadcast_sizes=(10, 100, 1000),
            scale_agents=10_000,
            scale_reps=11,
        )


async def paired(sides: Mapping[str, Side], reps: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run every side ``warmup`` times, then ``reps`` rounds, rotating which side goes first.

    With two sides this alternates A-B, B-A, ...: a slow spell of the machine hits both alike.
    Each side returns its own measured time (seconds). A garbage collection precedes each run.
    """
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            await sides[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            samples[name].append(await sides[name]())
    return samples


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Pair-by-pair ratios ``numerator[i] / denominator[i]``."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


@dataclass
class Figure:
    """One line of the results table."""

    key: str
    title: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    ratio: list[float] = field(default_factory=list)  # pair-by-pair, as the goal reads them
    ratio_label: str = ""
    goal: str = ""  # e.g. "<= 3.0" (checked on the median ratio, or on value when no ratio)
    passed: bool | None = None
    note: str = ""
    judged_on: str = ""  # "ratio" (the median of the pairs) or "value"

    def judge(self, op: str, limit: float, on: float | None = None, unit: str = "") -> Figure:
        """Set ``goal`` and ``passed`` from the median ratio (or ``on``)."""
        subject = on if on is not None else statistics.median(self.ratio)
        self.judged_on = "value" if on is not None else "ratio"
        self.goal = f"{op} {limit:g}{unit}"
        self.passed = subject <= limit if op == "<=" else subject >= limit
        return self

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.ratio:
            data["ratio_summary"] = spread(self.ratio)
        return data


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "us":
        return f"{value:.2f} µs"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "/s":
        return f"{value:,.0f} /s"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:g} {unit}".strip()


def table(figures: Sequence[Figure]) -> list[list[str]]:
    rows = [["figure", "measured", "baseline", "ratio median [min-max]", "goal", "result"]]
    for fig in figures:
        if fig.ratio:
            s = spread(fig.ratio)
            ratio = f"{s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}]"
            if fig.ratio_label:
                ratio += f" {fig.ratio_label}"
        else:
            ratio = "-"
        result = "-" if fig.passed is None else ("PASS" if fig.passed else "MISS")
        baseline = fig.baseline
        if fig.baseline_value is not None:
            baseline = f"{baseline}: {fmt(fig.baseline_value, fig.unit)}"
        rows.append([fig.title, fmt(fig.value, fig.unit), baseline, ratio, fig.goal or "-", result])
    return rows


def render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    return "\n".join(out)


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux ``/proc``), or None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


async def timed_calls(runtime: Runtime, params: Mapping[str, str], n: int) -> float:
    """Seconds ``n`` agent connector calls took, one after the other; each must succeed."""
    execute = runtime.execute_connector
    start = time.perf_counter()
    for _ in range(n):
        result = await execute("agent_orchestration", params)
        if not result.success:
            raise RuntimeError(f"{params['action']} failed: {result.errors}")
    return time.perf_counter() - start


def run_worker(
    module: str, *args: object, timeout: float, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``python -m module ARGS...`` in a fresh process (so that no other benchmark's memory or
    warm-up counts), and the JSON it prints; its stderr in the error if it fails."""
    command = [sys.executable, "-m", module, *map(str, args)]
    proc = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        name = module.rpartition(".")[2]
        raise RuntimeError(f"{name} worker failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.elapsed`` in seconds."""

    elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self._start


_STARTED = time.perf_counter()


def log(message: str) -> None:
    """A progress line, with the seconds since the run began (so slow sections show)."""
    print(f"[bench {time.perf_counter() - _STARTED:5.0f} s] {message}", flush=True)


class audit_to_file:  # noqa: N801 - used as a context manager like a function
    """Configure ``jamey_host.audit`` at INFO with a JSON-lines FileHandler; undo on exit."""

    def __enter__(self) -> Path:
        self._dir = tempfile.TemporaryDirectory(prefix="jamey-bench-audit-")
        path = Path(self._dir.name) / "audit.jsonl"
        self._handler = logging.FileHandler(path, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger(AUDIT_LOGGER_NAME)
        self._saved = (logger.level, logger.propagate)
        logger.addHandler(self._handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        return path

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger(AUDIT_LOGGER_NAME)
        logger.removeHandler(self._handler)
        self._handler.close()
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]
        self._dir.cleanup()
