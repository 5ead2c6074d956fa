"""The broadcast chart of docs/performance.md: time against number of agents, runtime and raw."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any


def draw(broadcast: dict[str, Any], path: Path) -> bool:
    """Write the PNG; False (and nothing written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = sorted(int(size) for size in broadcast["sizes"])
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    for side, label, marker in (
        ("runtime", "jamey runtime (execute_connector broadcast)", "o"),
        ("raw", "raw aiohttp + asyncio.gather", "s"),
    ):
        runs = [broadcast["sizes"][str(size)]["seconds"][side] for size in sizes]
        medians = [statistics.median(r) * 1000 for r in runs]
        lows = [m - min(r) * 1000 for m, r in zip(medians, runs, strict=True)]
        highs = [max(r) * 1000 - m for m, r in zip(medians, runs, strict=True)]
        ax.errorbar(
            sizes, medians, yerr=[lows, highs], label=label, marker=marker, capsize=3, lw=1.5
        )
    ax.set_xlabel("agents (HTTPS, 127.0.0.1)")
    ax.set_ylabel("broadcast time (ms), median, min-max")
    ax.set_title(
        f"Broadcast, concurrency {broadcast['concurrency']}, {broadcast['servers']} agent processes"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
