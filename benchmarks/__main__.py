"""``python -m benchmarks [--quick] [--only NAME ...]``: run the benchmarks, print the table.

Raw results go to ``benchmarks/results/latest.json``; the chart (broadcast times, every goal) to
``docs/performance.png``. Every server runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from ._common import ROOT, Figure, Settings, log, markdown, render, table

SECTIONS = (
    "dispatch",
    "send_task",
    "a2a",
    "broadcast",
    "scale",
    "registry",
    "durability",
    "registries",
    "telemetry",
)
NETWORK = {"send_task", "a2a", "broadcast", "scale", "durability", "registries", "telemetry"}


async def _network(settings: Settings, sections: set[str], results: dict[str, Any]) -> None:
    from . import a2a, broadcast, durability, registries, scale, telemetry, throughput
    from .fleet import Fleet

    servers = 4
    log(f"starting {servers} agent server processes on 127.0.0.1")
    with Fleet(servers) as fleet:
        if "send_task" in sections:
            results["send_task"] = await throughput.run(settings, fleet)
        if "a2a" in sections:
            results["a2a"] = await a2a.run(settings, fleet)
        if "broadcast" in sections:
            results["broadcast"] = await broadcast.run(settings, fleet)
        if "scale" in sections:
            results["scale"] = scale.run(settings, fleet)
        if "durability" in sections:
            results["durability"] = await durability.run(settings, fleet)
        if "registries" in sections:
            results["registries"] = await registries.run(settings, fleet)
        if "telemetry" in sections:
            results["telemetry"] = await telemetry.run(settings, fleet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few repetitions)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these benchmarks")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json"
    )
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "performance.png")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    settings = Settings.make(args.quick)
    sections = set(args.only or SECTIONS)
    began = time.perf_counter()
    load_at_start = _loadavg()

    results: dict[str, tuple[list[Figure], dict[str, Any]]] = {}
    if "dispatch" in sections:
        from . import dispatch

        results["dispatch"] = asyncio.run(dispatch.run(settings))
    if "registry" in sections:
        from . import registry

        results["registry"] = registry.run(settings)
    if sections & NETWORK:
        asyncio.run(_network(settings, sections, results))

    figures = [fig for name in SECTIONS if name in results for fig in results[name][0]]
    rows = table(figures)
    elapsed = time.perf_counter() - began
    machine = _machine(load_at_start)
    stamp = _stamp(args.quick, machine)
    print()
    print(render(rows))
    notes = [f"  {fig.title}: {fig.note}" for fig in figures if fig.note]
    if notes:
        print("\nnotes:")
        print("\n".join(notes))
    if args.markdown:
        print()
        print(markdown(rows))
    print(f"\n{'quick' if args.quick else 'full'} run in {elapsed:.0f} s; {stamp}")

    chart = None
    if figures:
        from .chart import draw

        raws = {name: raw for name, (_, raw) in results.items()}
        if draw(raws, figures, args.chart, stamp=stamp):
            chart = str(args.chart)
            log(f"chart written to {args.chart}")
        else:
            log("matplotlib is not installed: no chart")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "quick": args.quick,
        "seconds": elapsed,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine,
        "settings": vars(settings),
        "figures": [fig.to_json() for fig in figures],
        "raw": {name: raw for name, (_, raw) in results.items()},
        "chart": chart,
    }
    args.output.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    log(f"results written to {args.output}")
    missed = [fig.title for fig in figures if fig.passed is False]
    return 1 if missed else 0


def _loadavg() -> str:
    """The 1-minute load average (other work on the machine skews every figure)."""
    try:
        return Path("/proc/loadavg").read_text(encoding="ascii").split()[0]
    except OSError:
        return "?"


def _machine(load_at_start: str) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "aiohttp": importlib.metadata.version("aiohttp"),
        "pluggy": importlib.metadata.version("pluggy"),
        "load_average": {"start": load_at_start, "end": _loadavg()},
    }


def _stamp(quick: bool, machine: dict[str, Any]) -> str:
    """The run's date and machine, as the results table and the chart give them."""
    load = machine["load_average"]
    return (
        f"{'quick' if quick else 'full'} run {time.strftime('%Y-%m-%d')}: {machine['cpus']} cores, "
        f"{platform.system()}, CPython {machine['python']}, aiohttp {machine['aiohttp']}, "
        f"pluggy {machine['pluggy']}; load average {load['start']} at start, {load['end']} at end"
    )


if __name__ == "__main__":
    sys.exit(main())
