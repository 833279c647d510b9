"""Verification metrics from pair scores (higher = more likely the same person).

``labels`` are 1 for a same-person pair, 0 otherwise. The ROC comes from scikit-learn
(``roc_curve`` keeping every threshold, ``roc_auc_score``); on top of it:

- EER: the error rate where the false-accept rate (FPR) equals the false-reject rate
  (FNR = 1 - TPR), found on the ROC polyline by linear interpolation between its points
  (what the course starter does with ``brentq`` over ``interp1d``);
- accuracy at the best threshold: max over thresholds of (TP + TN) / N;
- TPR at a given FPR: the best TPR whose FPR does not exceed it (an operating point that
  exists; with few negative pairs a small FPR like 1e-4 can only be met at FPR = 0).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = [
    "DEFAULT_FPRS",
    "auc",
    "best_accuracy",
    "eer",
    "roc",
    "tpr_at_fpr",
    "verification_metrics",
]

DEFAULT_FPRS = (1e-4, 5e-4, 1e-3, 5e-3, 5e-2)


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or inf (a diverged model?)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (different people) or 1 (same person)")
    if y.min() == y.max():
        raise ValueError("verification metrics need both same-person (1) and different (0) pairs")
    return s, y.astype(np.int64)


def roc(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` at every distinct score (``drop_intermediate=False``);
    a pair is called "same" when its score >= threshold; the first threshold is +inf."""
    s, y = _check(scores, labels)
    return roc_curve(y, s, drop_intermediate=False)


def eer(scores, labels) -> tuple[float, float]:
    """``(eer, threshold)``: where FPR = FNR on the ROC polyline (linear interpolation)."""
    fpr, tpr, thr = roc(scores, labels)
    fnr = 1.0 - tpr
    diff = fnr - fpr                      # starts at 1 (threshold +inf), ends at -1... or 0
    i = int(np.argmax(diff <= 0))         # first ROC point with FNR <= FPR
    if i == 0:                            # cannot happen: diff[0] = 1
        return 0.0, float(thr[0])
    # crossing between points i-1 (diff > 0) and i (diff <= 0)
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    rate = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    t0 = thr[i - 1] if np.isfinite(thr[i - 1]) else thr[i]
    threshold = t0 + t * (thr[i] - t0)
    return float(rate), float(threshold)


def auc(scores, labels) -> float:
    """Area under the ROC (ties count one half)."""
    s, y = _check(scores, labels)
    return float(roc_auc_score(y, s))


def best_accuracy(scores, labels) -> tuple[float, float]:
    """``(accuracy, threshold)``: the best (TP + TN) / N over all thresholds ``score >= t``."""
    s, y = _check(scores, labels)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    acc = (tpr * n_pos + (1.0 - fpr) * n_neg) / (n_pos + n_neg)
    i = int(np.argmax(acc))
    return float(acc[i]), float(thr[i])


def tpr_at_fpr(scores, labels, fprs=DEFAULT_FPRS) -> dict[float, float]:
    """``{target_fpr: best TPR with FPR <= target}`` for each target."""
    fpr, tpr, _ = roc(scores, labels)
    out = {}
    for target in fprs:
        ok = fpr <= target + 1e-12
        out[float(target)] = float(tpr[ok].max())      # ok[0] is True: (0, 0) at +inf
    return out


def verification_metrics(scores, labels, fprs=DEFAULT_FPRS) -> dict[str, float]:
    """All of the above in one dict: ``accuracy``, ``threshold`` (of the best accuracy),
    ``auc``, ``eer``, ``eer_threshold`` and ``tpr@fpr=<target>`` per target."""
    acc, thr = best_accuracy(scores, labels)
    rate, eer_thr = eer(scores, labels)
    out = {"accuracy": acc, "threshold": thr, "auc": auc(scores, labels), "eer": rate,
           "eer_threshold": eer_thr}
    for target, value in tpr_at_fpr(scores, labels, fprs).items():
        out[f"tpr@fpr={target:g}"] = value
    return out
