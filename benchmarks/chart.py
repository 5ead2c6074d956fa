"""The chart of docs/performance.md: broadcast time against agents, and every goal of the run.

Left, the broadcast time against the number of agents (log scales), runtime and raw aiohttp, for
``jamey`` agents (the ``broadcast`` sizes and the ``scale`` run's 10,000) and for A2A agents.
Right, every figure of the run that has a goal, as its distance to that goal: the median ratio
(or the value) over the goal for ``>=`` goals, the goal over it for ``<=`` goals; right of 1 is
a goal met. Goals on a ratio show the spread of their pairs; goals on one value (a worst case, a
count, a size) are diamonds.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._common import Figure, fmt


def _series(sizes: Mapping[str, Any], side: str) -> tuple[list[int], list[list[float]]]:
    points = sorted((int(size), data["seconds"][side]) for size, data in sizes.items())
    return [size for size, _ in points], [runs for _, runs in points]


def _errorbar(ax: Any, sizes: list[int], runs: list[list[float]], **style: Any) -> None:
    medians = [statistics.median(r) * 1000 for r in runs]
    lows = [m - min(r) * 1000 for m, r in zip(medians, runs, strict=True)]
    highs = [max(r) * 1000 - m for m, r in zip(medians, runs, strict=True)]
    ax.errorbar(sizes, medians, yerr=[lows, highs], capsize=3, lw=1.5, **style)


def _broadcasts(ax: Any, raws: Mapping[str, Any]) -> None:
    jamey: dict[str, Any] = dict(raws.get("broadcast", {}).get("sizes", {}))
    scale = raws.get("scale")
    if scale is not None:
        jamey[str(scale["agents"])] = {"seconds": scale["seconds"]}
    a2a = raws.get("a2a", {}).get("broadcast", {}).get("sizes", {})
    lines = (
        (jamey, "runtime", "jamey agents: runtime", "o", "C0", "-"),
        (jamey, "raw", "jamey agents: raw aiohttp gather", "s", "C1", "-"),
        (a2a, "runtime", "A2A agents: runtime", "o", "C2", "--"),
        (a2a, "raw", "A2A agents: raw aiohttp gather", "s", "C3", "--"),
    )
    for sizes, side, label, marker, color, style in lines:
        if sizes:
            xs, runs = _series(sizes, side)
            _errorbar(ax, xs, runs, label=label, marker=marker, color=color, ls=style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("agents (HTTPS, 127.0.0.1, 4 agent processes)")
    ax.set_ylabel("broadcast time (ms): median, min-max")
    ax.set_title("Broadcast, concurrency 64")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)


_FAR = 3.0  # margins beyond this are drawn at it: the chart is about the goals near the line


def _margin(figure: Figure, value: float) -> float:
    limit = float(figure.goal.split()[1])
    if figure.goal.startswith(">="):
        return min(_FAR, value / limit)
    return _FAR if value <= 0 else min(_FAR, limit / value)


def _goals(ax: Any, figures: Sequence[Figure]) -> None:
    judged = [f for f in figures if f.passed is not None]
    labels = []
    rows = list(range(len(judged)))[::-1]
    for row, figure in zip(rows, judged, strict=True):
        color = "C2" if figure.passed else "C3"
        if figure.judged_on == "ratio":
            margins = [_margin(figure, r) for r in figure.ratio]
            median = _margin(figure, statistics.median(figure.ratio))
            spread = [[median - min(margins)], [max(margins) - median]]
            ax.errorbar([median], [row], xerr=spread, fmt="o", color=color, capsize=3, lw=1.5)
            what = f"{figure.ratio_label or 'ratio'} {figure.goal}"
        else:
            ax.plot([_margin(figure, figure.value)], [row], "D", color=color)
            what = f"{fmt(figure.value, figure.unit)}, goal {figure.goal}"
        title = figure.title if len(figure.title) <= 52 else figure.title[:51] + "…"
        labels.append(f"{title}\n{what}")
    ax.axvline(1.0, color="0.3", lw=1, ls="--")
    ax.set_yticks(rows)
    ax.set_yticklabels(labels, fontsize=6.5)
    ax.set_xlabel(f"median ratio (or value) against its goal: right of 1 is met (cut at {_FAR:g})")
    ax.set_title("Every goal of the run")
    ax.grid(True, axis="x", alpha=0.3)


def draw(
    raws: Mapping[str, Any], figures: Sequence[Figure], path: Path, *, stamp: str = ""
) -> bool:
    """Write the PNG; False (and nothing written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13, 8.5), dpi=100, gridspec_kw={"width_ratios": [1, 1.25]}
    )
    _broadcasts(left, raws)
    _goals(right, figures)
    if stamp:
        fig.suptitle(stamp, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
