"""The report's figures, drawn with matplotlib (Agg backend) and saved as PNG files.

Every function takes plain data (dicts and lists of rows), writes ``path`` and returns it, so the report can
embed the bytes in a self-contained HTML page.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

#: One colour per method, stable across every figure.
METHOD_COLORS = {
    "popularity": "#9e9e9e",
    "classic": "#6d4c41",
    "sequential": "#9467bd",
    "collaborative": "#1f77b4",
    "tags-only": "#2ca02c",
    "fused": "#d62728",
}


def _color(method: str, index: int) -> str:
    return METHOD_COLORS.get(method, plt.get_cmap("tab10")(index % 10))


def _save(fig, path: Path, layout: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(
    path: Path,
    methods: list[str],
    panels: list[tuple[str, list[str], dict[str, dict[str, float]]]],
    labels: dict[str, str] | None = None,
) -> Path:
    """One panel per (title, metric keys, {method: {key: value}}): bars grouped by metric key, one bar per
    method, value written above each bar."""
    labels = labels or {}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.3), squeeze=False)
    width = 0.8 / max(len(methods), 1)
    for ax, (title, keys, values) in zip(axes[0], panels):
        x = np.arange(len(keys))
        top = 0.0
        for i, method in enumerate(methods):
            heights = [values.get(method, {}).get(key, np.nan) for key in keys]
            bars = ax.bar(x + (i - (len(methods) - 1) / 2) * width, heights, width, label=labels.get(method, method),
                          color=_color(method, i))
            for bar, h in zip(bars, heights):
                if np.isfinite(h):
                    top = max(top, h)
                    text = f"{h:.2f}" if h < 10 else f"{h:.1f}"
                    ax.annotate(text, (bar.get_x() + bar.get_width() / 2, h), ha="center", va="bottom",
                                fontsize=6.5, rotation=90, xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(x, keys)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, top * 1.3 if top > 0 else 1)
        ax.grid(axis="y", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(methods), 3), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.045 * ((len(methods) - 1) // 3), 1, 1))
    return _save(fig, path, layout=False)


def matthew_plot(path: Path, rows: list[dict], methods: list[str], k: int, labels: dict[str, str] | None = None) -> Path:
    """Report Figure 1 offline: exposure share of top-k slots (left) and hit rate of held-out items
    (right) per item-popularity decile, 1 = most popular tenth; one line per method."""
    labels = labels or {}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.8))
    deciles = np.arange(1, 11)
    for i, method in enumerate(methods):
        mine = sorted((r for r in rows if r["method"] == method and r["k"] == k), key=lambda r: r["decile"])
        if not mine:
            continue
        exposure = [r["exposure"] for r in mine]
        hit = [r["hit_rate"] for r in mine]
        style = dict(color=_color(method, i), marker="os^D"[i % 4], linestyle=("-", "--", ":", "-.")[i % 4],
                     markersize=7 - 1.5 * i, label=labels.get(method, method))
        left.plot(deciles, exposure, **style)
        right.plot(deciles, hit, **style)
    left.axhline(0.1, color="#888", linestyle="--", linewidth=1, label="uniform exposure (0.1)")
    left.set_ylim(bottom=0)
    right.set_ylim(bottom=0)
    left.set_title(f"Exposure: share of all top-{k} slots", fontsize=10)
    right.set_title(f"Hit rate@{k} of users whose held-out item is in the decile", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("item popularity decile (1 = most popular 10%)")
        ax.set_xticks(deciles)
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    return _save(fig, path)


def tag_hit_rate_plot(path: Path, ks: list[int], series: dict[str, list[float]],
                      title: str = "Category hit rate of the next interaction") -> Path:
    """Category HR@K of the predicted tags (through phi) beside the no-LLM baseline; one bar group per K."""
    fig, ax = plt.subplots(figsize=(5.8, 4.2))
    names = list(series)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(ks))
    colors = ["#d62728", "#9e9e9e", "#1f77b4", "#2ca02c"]
    for i, name in enumerate(names):
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, series[name], width, label=name, color=colors[i % 4])
        for bar, h in zip(bars, series[name]):
            ax.annotate(f"{h:.2f}", (bar.get_x() + bar.get_width() / 2, h), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, [f"HR@{k}" for k in ks])
    ax.set_ylim(0, 1.15)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=1, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.035 * len(names) + 0.02, 1, 1))
    return _save(fig, path, layout=False)


def stage_time_plot(path: Path, stages: list[tuple[str, float]]) -> Path:
    """Horizontal bars: wall seconds per pipeline stage."""
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(stages) + 1.2))
    names = [s for s, _ in stages][::-1]
    secs = [t for _, t in stages][::-1]
    ax.barh(names, secs, color="#1f77b4")
    for y, t in enumerate(secs):
        ax.annotate(f"{t:.1f} s", (t, y), va="center", fontsize=8, xytext=(3, 0), textcoords="offset points")
    ax.set_xlabel("wall seconds (last run of each stage)")
    ax.set_xlim(0, max(secs + [1]) * 1.2)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
