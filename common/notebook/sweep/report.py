"""The sweep's results: one table (CSV + printed) and two plots.

- ``<metric>_vs_parameters.png``: the headline metric against each swept factor, mean over
  repeats with the min-max spread as error bars, one line per setting of the other factors;
- ``learning_curves.png``: every run's history overlaid, one colour per setting, repeats
  in the same colour.

A run's history is its ``history.csv`` when the notebook writes one, else the history
that ``fit`` stores in ``checkpoints/last.pt``.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from common.plots import save_figure

from .grid import Factor

__all__ = ["load_history", "results_table", "headline_metric", "metric_series", "plot_metric",
           "plot_learning_curves"]

MAX_LINES = 6   # more settings of the other factors than this: one pooled line instead


def load_history(folder) -> pd.DataFrame | None:
    folder = Path(folder)
    if (folder / "history.csv").exists():
        return pd.read_csv(folder / "history.csv")
    last = folder / "checkpoints" / "last.pt"
    if last.exists():
        from common.engine.checkpoint import CheckpointError, load_checkpoint
        try:
            rows = load_checkpoint(last, restore_rng=False).get("history") or []
        except CheckpointError:
            return None
        return pd.DataFrame(rows) if rows else None
    return None


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value


def results_table(results, factors: list[Factor]) -> pd.DataFrame:
    """One row per run: name, status, seed, every grid parameter, every scalar metric, time, error."""
    names = [n for f in factors for n in f.names]
    rows = []
    for r in results:
        row = {"run": r.spec.name, "status": r.status, "seed": r.spec.seed}
        row.update({n: _cell(r.spec.varied[n]) for n in names})
        row.update({k: v for k, v in r.metrics.items() if isinstance(v, (int, float, str, bool))})
        row.update(seconds=round(r.seconds, 1), error=r.error)
        rows.append(row)
    return pd.DataFrame(rows)


def headline_metric(table: pd.DataFrame, factors: list[Factor], preferred=()) -> str:
    """The first of ``preferred`` in the table, else its first numeric metric column."""
    fixed = {"run", "status", "seed", "seconds", "error"} | {n for f in factors for n in f.names}
    for name in preferred:
        if name in table.columns:
            return name
    for col in table.columns:
        if col not in fixed and pd.api.types.is_numeric_dtype(table[col]) and not pd.api.types.is_bool_dtype(
                table[col]):
            return col
    raise ValueError(f"no numeric metric in the results (columns {list(table.columns)}); did every run fail?")


def _key(level) -> str:
    return json.dumps(level, default=str)


def _is_numeric(f: Factor) -> bool:
    return len(f.names) == 1 and all(isinstance(v[0], (int, float)) and not isinstance(v[0], bool)
                                     for v in f.values)


def metric_series(results, factors: list[Factor], factor: Factor, metric: str,
                  baseline: dict | None = None) -> dict[str, tuple[np.ndarray, ...]]:
    """Label of the other factors' setting -> (x, mean, min, max) of ``metric`` over repeats,
    x in axis order (the value for numeric factors, else the level's index in the grid).

    ``baseline`` (one-factor-at-a-time sweeps): only the runs whose other factors sit at
    their baseline level. More than ``MAX_LINES`` settings are pooled into one line.
    """
    others = [g for g in factors if g is not factor and len(g.values) > 1]
    xs = [v[0] for v in factor.values] if _is_numeric(factor) else list(range(len(factor.values)))
    lines: dict[str, dict[str, list[float]]] = {}
    for r in results:
        if r.status != "ok" or not isinstance(r.metrics.get(metric), (int, float)):
            continue
        if baseline is not None and any(r.spec.varied[n] != baseline[n] for g in others for n in g.names):
            continue
        label = ", ".join(f"{g.label}={g.level_label(tuple(r.spec.varied[n] for n in g.names))}" for g in others)
        level = _key(tuple(r.spec.varied[n] for n in factor.names))
        lines.setdefault(label, {}).setdefault(level, []).append(float(r.metrics[metric]))
    if len(lines) > MAX_LINES:     # too many settings to tell apart: pool them
        pooled: dict[str, list[float]] = {}
        for per_level in lines.values():
            for level, values in per_level.items():
                pooled.setdefault(level, []).extend(values)
        lines = {"all settings pooled": pooled}
    series = {}
    for label, per_level in sorted(lines.items()):
        pts = sorted((x, per_level[_key(lv)]) for x, lv in zip(xs, factor.values) if _key(lv) in per_level)
        series[label] = (np.array([p[0] for p in pts], dtype=float), np.array([np.mean(p[1]) for p in pts]),
                         np.array([np.min(p[1]) for p in pts]), np.array([np.max(p[1]) for p in pts]))
    return series


def plot_metric(results, factors: list[Factor], metric: str, out_dir, baseline: dict | None = None) -> Path:
    """Metric against each factor with more than one level (mean and min-max over repeats)."""
    swept = [f for f in factors if len(f.values) > 1]
    if not swept:
        raise ValueError("nothing to plot: every factor of the grid has a single value")
    fig, axes = plt.subplots(1, len(swept), figsize=(4.2 * len(swept), 3.4), squeeze=False)
    for ax, f in zip(axes[0], swept):
        series = metric_series(results, factors, f, metric, baseline)
        for label, (x, mean, low, high) in series.items():
            ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="-o", ms=4, capsize=3, label=label or None)
        if not _is_numeric(f):
            ax.set_xticks(range(len(f.values)), [f.level_label(v) for v in f.values], rotation=20)
        ax.set_xlabel(f.label)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if any(series):
            ax.legend(fontsize=7)
    repeated = any(r.spec.repeat > 0 for r in results if r.status == "ok")
    fig.suptitle(f"{metric}: mean over repeats, bars min to max" if repeated else metric, fontsize=10)
    fig.tight_layout()
    path = save_figure(fig, out_dir, f"{metric}_vs_parameters")
    plt.close(fig)
    return path


def _curve_columns(histories) -> list[str]:
    cols = set().union(*(h.columns for h in histories))
    chosen = [c for c in ("train_loss", "val_loss", "val_acc") if c in cols]
    if chosen:
        return chosen
    skip = {"epoch", "time_s", "lr"}
    return [c for c in histories[0].columns if c not in skip and pd.api.types.is_numeric_dtype(histories[0][c])][:3]


def plot_learning_curves(results, factors: list[Factor], out_dir) -> Path | None:
    """Every run's learning curves overlaid; None when no run left a history."""
    runs = [(r, load_history(r.spec.folder)) for r in results if r.status == "ok"]
    runs = [(r, h) for r, h in runs if h is not None and len(h)]
    if not runs:
        return None
    columns = _curve_columns([h for _, h in runs])
    swept = [f for f in factors if len(f.values) > 1]
    labels = sorted({", ".join(f"{f.label}={f.level_label(tuple(r.spec.varied[n] for n in f.names))}"
                               for f in swept) for r, _ in runs})
    colours = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    fig, axes = plt.subplots(1, len(columns), figsize=(4.4 * len(columns), 3.4), squeeze=False)
    seen = set()
    for r, h in runs:
        label = ", ".join(f"{f.label}={f.level_label(tuple(r.spec.varied[n] for n in f.names))}" for f in swept)
        colour = colours(labels.index(label) % colours.N)
        x = h["epoch"] if "epoch" in h.columns else np.arange(1, len(h) + 1)
        for ax, col in zip(axes[0], columns):
            if col in h.columns:
                ax.plot(x, h[col], "-", color=colour, lw=1.3, alpha=0.85,
                        label=(label or r.spec.name) if label not in seen else None)
        seen.add(label)
    for ax, col in zip(axes[0], columns):
        ax.set_title(col)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    path = save_figure(fig, out_dir, "learning_curves")
    plt.close(fig)
    return path
