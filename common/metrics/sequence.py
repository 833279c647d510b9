"""Edit-distance metrics for sequence outputs (HW3 phoneme strings, HW4 characters)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["levenshtein", "mean_levenshtein", "cer", "wer"]


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Minimum number of insertions, deletions and substitutions turning ``a`` into ``b``.

    Dynamic programming row by row, vectorised over ``b`` except for the insertion chain.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    b_arr = np.asarray(list(b), dtype=object)
    prev = np.arange(len(b) + 1)
    for i, ca in enumerate(a, start=1):
        sub = prev[:-1] + (b_arr != ca)            # substitution or match
        cur = np.empty_like(prev)
        cur[0] = i
        cur[1:] = np.minimum(sub, prev[1:] + 1)     # deletion
        # insertions: cur[j] = min(cur[j], cur[j-1] + 1), a running minimum of cur[j] - j
        cur = np.minimum.accumulate(cur - np.arange(len(cur))) + np.arange(len(cur))
        prev = cur
    return int(prev[-1])


def mean_levenshtein(predictions: Sequence[Sequence], targets: Sequence[Sequence]) -> float:
    """The HW3P2 metric: mean edit distance over utterances."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    return float(np.mean([levenshtein(p, t) for p, t in zip(predictions, targets)]))


def cer(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Character error rate: total edit distance over total reference characters."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    total = sum(len(t) for t in targets)
    return sum(levenshtein(p, t) for p, t in zip(predictions, targets)) / max(total, 1)


def wer(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Word error rate: edit distance over words, divided by the number of reference words."""
    return cer([p.split() for p in predictions], [t.split() for t in targets])
