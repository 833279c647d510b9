"""Plots a person would rather look at than read: learning curves, confusion matrices,
per-class accuracy, spectrograms with label tracks, edit-error breakdowns. Each returns the
Figure; ``save_figure(fig, OUTPUT_DIR, name)`` is the one way every notebook writes a PNG
(``path=`` on a plot function calls it too)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["save_figure", "plot_history", "plot_confusion_matrix", "plot_per_class_accuracy",
           "plot_spectrogram_with_labels", "plot_error_breakdown"]


def save_figure(fig, output_dir, name: str, dpi: int = 110) -> Path:
    """Save ``fig`` as ``output_dir/name.png`` (folder created, tight bounding box) and return the path."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _maybe_save(fig, path):
    if path is not None:
        path = Path(path)
        save_figure(fig, path.parent, path.name)
    return fig


def plot_history(history, columns: Sequence[str] | None = None, path=None):
    """Learning curves from a ``fit`` history: one panel per metric, train and val together.

    ``columns`` are metric names without prefix (e.g. ``["loss", "acc"]``); by default every
    metric that has a ``train_`` or ``val_`` column, plus ``lr``.
    """
    cols = list(history.columns)
    if columns is None:
        names = []
        for c in cols:
            for prefix in ("train_", "val_"):
                if c.startswith(prefix) and c[len(prefix):] not in names:
                    names.append(c[len(prefix):])
        columns = names + (["lr"] if "lr" in cols else [])
    if not columns:
        raise ValueError(f"nothing to plot: history columns are {cols}")
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.2), squeeze=False)
    x = history["epoch"] if "epoch" in cols else np.arange(1, len(history) + 1)
    for ax, name in zip(axes[0], columns):
        split = [p + name for p in ("train_", "val_") if p + name in cols]
        series = split or ([name] if name in cols else [])
        if not series:
            raise ValueError(f"no column for {name!r} in the history ({cols})")
        for col, style in zip(series, ("-o", "-s")):
            ax.plot(x, history[col], style, ms=3, label=col.split("_")[0] if split else name)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _maybe_save(fig, path)


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], normalize: bool = True,
                          path=None, title: str = "confusion matrix"):
    """Heat map of ``cm`` (rows true, columns predicted), row-normalised by default."""
    cm = np.asarray(cm, dtype=float)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    size = max(5.0, 0.22 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(cm, cmap="viridis", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(k), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title + (" (row-normalised)" if normalize else ""))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _maybe_save(fig, path)


def plot_per_class_accuracy(acc: np.ndarray, class_names: Sequence[str], support=None, path=None):
    """Bar chart of per-class accuracy, sorted from worst to best (NaN classes dropped)."""
    acc = np.asarray(acc, dtype=float)
    keep = ~np.isnan(acc)
    order = np.argsort(acc[keep])
    names = np.asarray(class_names)[keep][order]
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(names) + 2), 3.2))
    ax.bar(range(len(names)), acc[keep][order], color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    if support is not None:
        sup = np.asarray(support)[keep][order]
        for i, (a, s) in enumerate(zip(acc[keep][order], sup)):
            ax.text(i, min(a, 0.85) + 0.02, str(int(s)), rotation=90, fontsize=5, ha="center", va="bottom")
    ax.set_title("per-class accuracy (bar labels: frames)" if support is not None else "per-class accuracy")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _maybe_save(fig, path)


def _segments(labels: Sequence[str]):
    """Runs of equal labels as (start, end, label)."""
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            yield start, i, labels[start]
            start = i


def plot_spectrogram_with_labels(features: np.ndarray, tracks: dict, title: str = "", path=None):
    """A (T, D) feature matrix as an image with one label track per entry of ``tracks``
    (name -> T labels) drawn under it; segments where a track differs from the first one
    are shaded red."""
    features = np.asarray(features)
    T = features.shape[0]
    names = list(tracks)
    for name in names:
        if len(tracks[name]) != T:
            raise ValueError(f"track {name!r} has {len(tracks[name])} labels for {T} frames")
    fig, axes = plt.subplots(1 + len(names), 1, figsize=(min(24, 3 + T / 12), 3 + 0.6 * len(names)),
                             sharex=True, gridspec_kw={"height_ratios": [4] + [0.7] * len(names)})
    axes[0].imshow(features.T, origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
    axes[0].set_ylabel("feature bin")
    axes[0].set_title(title)
    reference = list(tracks[names[0]])
    for ax, name in zip(axes[1:], names):
        labels = list(tracks[name])
        for s, e, lab in _segments(labels):
            wrong = any(labels[i] != reference[i] for i in range(s, e))
            ax.axvspan(s - 0.5, e - 0.5, color="tab:red" if wrong else "0.9", alpha=0.35 if wrong else 1)
            ax.axvline(s - 0.5, color="0.4", lw=0.5)
            ax.text((s + e - 1) / 2, 0.5, lab, ha="center", va="center", fontsize=6, rotation=90 if e - s < 4 else 0)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    axes[-1].set_xlabel("frame")
    axes[-1].set_xlim(-0.5, T - 0.5)
    fig.tight_layout()
    return _maybe_save(fig, path)


def plot_error_breakdown(breakdown, k: int = 12, path=None, title: str = "most frequent errors"):
    """Three bar charts of a ``common.metrics.error_breakdown`` result: the ``k`` most frequent
    substitutions (target -> predicted), deletions (target symbols missed) and insertions
    (predicted symbols with no target), with the S / D / I totals in the panel titles."""
    counts = breakdown.counts
    panels = [("substitutions", counts.substitutions, lambda key: f"{key[0]} \u2192 {key[1]}", "tab:orange"),
              ("deletions", counts.deletions, str, "tab:red"),
              ("insertions", counts.insertions, str, "tab:blue")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.28 * k + 1.6))
    for ax, (kind, total, label, color) in zip(axes, panels):
        top = breakdown.most_common(kind, k)[::-1]                   # largest at the top
        ax.barh(range(len(top)), [n for _, n in top], color=color)
        ax.set_yticks(range(len(top)), [label(key) for key, _ in top], fontsize=7)
        ax.set_title(f"{kind} ({total:,} in all)")
        ax.set_xlabel("count")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{title}: error rate {counts.error_rate:.2%} of {counts.reference_length:,} target symbols")
    fig.tight_layout()
    return _maybe_save(fig, path)
