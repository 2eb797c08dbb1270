"""PNG plots of wrk results repeated over rounds: medians as bars, the range across rounds as
error bars. Shared by the bench modules that drive HTTP targets with wrk."""

from pathlib import Path
from typing import Any


def _bars(axis: Any, names: list[str], series: list[dict[str, float]], color: str) -> None:
    medians = [entry["median"] for entry in series]
    below = [entry["median"] - entry["min"] for entry in series]
    above = [entry["max"] - entry["median"] for entry in series]
    axis.bar(names, medians, yerr=[below, above], capsize=4, color=color)
    axis.tick_params(axis="x", labelrotation=20, labelsize=8)


def plot_targets(path: Path, title: str, summaries: dict[str, dict[str, Any]]) -> None:
    """Throughput, p50 and p99 per target (each a `bench.wrk.summarize` dict)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    for axis, key, label, color in (
        (axes[0], "requests_per_second", "requests/s", "#4c72b0"),
        (axes[1], "p50_ms", "p50 latency, ms", "#55a868"),
        (axes[2], "p99_ms", "p99 latency, ms", "#c44e52"),
    ):
        _bars(axis, names, [summaries[name][key] for name in names], color)
        axis.set_title(label)
    fig.suptitle(f"{title} (median of rounds; bars span min..max)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
