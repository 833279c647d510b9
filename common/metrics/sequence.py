"""Edit-distance metrics for sequence outputs: HW3 phoneme strings, HW4 characters and words.

Distances and alignments come from ``rapidfuzz`` (C++ Levenshtein over any sequences of
hashables: strings, lists of token ids, lists of phoneme names). On top of it:

- ``levenshtein`` / ``levenshtein_distances`` / ``mean_levenshtein``: one pair, a batch, and
  the HW3P2 score (mean distance per utterance);
- ``cer`` / ``wer``: total distance over total reference length (characters, words);
- ``edit_counts``: substitutions, insertions and deletions summed over a batch;
- ``error_breakdown``: the same counts plus which symbols are substituted by which, inserted
  and deleted (``common.plots.plot_error_breakdown`` draws the most frequent ones).

Every batched function takes lists of sequences, or padded (B, L) tensors/arrays together
with their lengths. Orientation: the target is the reference; an *insertion* is a symbol of the
prediction with no counterpart in the target, a *deletion* a target symbol the prediction lacks.
When several alignments have the minimum cost, rapidfuzz picks one; the totals are the same.

    >>> levenshtein("kitten", "sitting")
    3
    >>> edit_counts(["the cat sat".split()], ["the cat sat down".split()])
    EditCounts(substitutions=0, insertions=0, deletions=1, reference_length=4)
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from rapidfuzz.distance import Levenshtein

__all__ = ["levenshtein", "levenshtein_distances", "mean_levenshtein", "cer", "wer", "unpad",
           "alignment", "EditCounts", "edit_counts", "ErrorBreakdown", "error_breakdown"]


def _seq(x) -> Sequence[Hashable]:
    """A hashable-element sequence rapidfuzz accepts: tensors and arrays become lists."""
    if torch.is_tensor(x):
        return x.tolist()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def unpad(batch, lengths=None) -> list:
    """A batch as a list of sequences: a padded (B, L) tensor/array cut to ``lengths``
    (B,), or a list of sequences (``lengths`` then optional, cutting each one)."""
    rows = [_seq(row) for row in batch]
    if lengths is None:
        return rows
    lengths = _seq(lengths)
    if len(lengths) != len(rows):
        raise ValueError(f"{len(rows)} sequences but {len(lengths)} lengths")
    return [row[: int(n)] for row, n in zip(rows, lengths)]


def _pairs(predictions, targets, prediction_lengths=None, target_lengths=None) -> tuple[list, list]:
    p, t = unpad(predictions, prediction_lengths), unpad(targets, target_lengths)
    if len(p) != len(t):
        raise ValueError(f"{len(p)} predictions but {len(t)} targets")
    return p, t


def levenshtein(prediction, target) -> int:
    """Minimum number of insertions, deletions and substitutions turning one sequence into the other."""
    return int(Levenshtein.distance(_seq(prediction), _seq(target)))


def levenshtein_distances(predictions, targets, prediction_lengths=None, target_lengths=None) -> np.ndarray:
    """Edit distance of each (prediction, target) pair of a batch: (B,) int64."""
    p, t = _pairs(predictions, targets, prediction_lengths, target_lengths)
    return np.array([Levenshtein.distance(a, b) for a, b in zip(p, t)], dtype=np.int64)


def mean_levenshtein(predictions, targets, prediction_lengths=None, target_lengths=None) -> float:
    """The HW3P2 metric: mean edit distance over utterances."""
    d = levenshtein_distances(predictions, targets, prediction_lengths, target_lengths)
    return float(d.mean()) if d.size else float("nan")


def cer(predictions, targets) -> float:
    """Character error rate: total edit distance over total reference characters (any
    sequences work: token-id lists give a token error rate)."""
    return edit_counts(predictions, targets).error_rate


def wer(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Word error rate: edit distance over whitespace-separated words / reference words."""
    return cer([p.split() for p in predictions], [t.split() for t in targets])


def alignment(prediction, target) -> Iterator[tuple[str, Any, Any]]:
    """One minimum-cost alignment as ``(op, target_symbol, predicted_symbol)`` steps, op in
    ``equal``, ``substitute``, ``insert`` (target symbol None), ``delete`` (predicted symbol None)."""
    ref, hyp = _seq(target), _seq(prediction)
    for op in Levenshtein.opcodes(ref, hyp):
        if op.tag in ("equal", "replace"):
            kind = "equal" if op.tag == "equal" else "substitute"
            for i, j in zip(range(op.src_start, op.src_end), range(op.dest_start, op.dest_end)):
                yield kind, ref[i], hyp[j]
        elif op.tag == "insert":
            for j in range(op.dest_start, op.dest_end):
                yield "insert", None, hyp[j]
        else:
            for i in range(op.src_start, op.src_end):
                yield "delete", ref[i], None


@dataclass(frozen=True)
class EditCounts:
    """Substitutions, insertions and deletions summed over utterances, and the reference length."""
    substitutions: int = 0
    insertions: int = 0
    deletions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        """The total edit distance S + I + D."""
        return self.substitutions + self.insertions + self.deletions

    @property
    def hits(self) -> int:
        """Reference symbols the prediction got right."""
        return self.reference_length - self.substitutions - self.deletions

    @property
    def error_rate(self) -> float:
        """(S + I + D) / reference length: CER or WER (NaN for an empty reference)."""
        return self.errors / self.reference_length if self.reference_length else float("nan")

    def __add__(self, other: "EditCounts") -> "EditCounts":
        return EditCounts(self.substitutions + other.substitutions, self.insertions + other.insertions,
                          self.deletions + other.deletions, self.reference_length + other.reference_length)

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Flat numbers for ``save_metrics``: substitutions, insertions, deletions, error_rate."""
        return {f"{prefix}substitutions": self.substitutions, f"{prefix}insertions": self.insertions,
                f"{prefix}deletions": self.deletions, f"{prefix}error_rate": self.error_rate}


def _counts(ref, hyp) -> EditCounts:
    s = i = d = 0
    for op in Levenshtein.editops(ref, hyp):
        if op.tag == "replace":
            s += 1
        elif op.tag == "insert":
            i += 1
        else:
            d += 1
    return EditCounts(s, i, d, len(ref))


def edit_counts(predictions, targets, prediction_lengths=None, target_lengths=None) -> EditCounts:
    """S, I, D and reference length summed over a batch (``errors`` = sum of edit distances)."""
    p, t = _pairs(predictions, targets, prediction_lengths, target_lengths)
    total = EditCounts()
    for hyp, ref in zip(p, t):
        total = total + _counts(ref, hyp)
    return total


@dataclass
class ErrorBreakdown:
    """Totals and per-symbol errors: ``substitutions[(target, predicted)]``,
    ``insertions[predicted]``, ``deletions[target]``, and how often each symbol occurs in the
    targets (``reference``), as ``collections.Counter`` objects."""
    counts: EditCounts
    substitutions: Counter = field(default_factory=Counter)
    insertions: Counter = field(default_factory=Counter)
    deletions: Counter = field(default_factory=Counter)
    reference: Counter = field(default_factory=Counter)

    def most_common(self, kind: str, k: int = 10) -> list[tuple[Any, int]]:
        """The ``k`` most frequent errors of one kind: "substitutions", "insertions" or "deletions"."""
        if kind not in ("substitutions", "insertions", "deletions"):
            raise ValueError(f"kind must be substitutions, insertions or deletions, not {kind!r}")
        return getattr(self, kind).most_common(k)

    def per_symbol(self) -> pd.DataFrame:
        """One row per symbol: occurrences in the targets, how often it was substituted (and
        most often by what), deleted, inserted; ``error_rate`` = (substituted + deleted) / occurrences.
        Sorted by the number of errors, worst first."""
        substituted, by = Counter(), {}
        for (ref, hyp), n in self.substitutions.most_common():
            substituted[ref] += n
            by.setdefault(ref, hyp)                     # most_common order: the first is the most frequent
        symbols = set(self.reference) | set(self.insertions)
        rows = [{"symbol": s, "occurrences": self.reference[s], "substituted": substituted[s],
                 "most_often_as": by.get(s), "deleted": self.deletions[s], "inserted": self.insertions[s]}
                for s in symbols]
        table = pd.DataFrame(rows, columns=["symbol", "occurrences", "substituted", "most_often_as",
                                            "deleted", "inserted"])
        with np.errstate(invalid="ignore", divide="ignore"):
            table["error_rate"] = (table["substituted"] + table["deleted"]) / table["occurrences"].where(
                table["occurrences"] > 0)
        errors = table["substituted"] + table["deleted"] + table["inserted"]
        order = np.lexsort((table["symbol"].astype(str).to_numpy(), -errors.to_numpy()))
        return table.iloc[order].set_index("symbol")


def error_breakdown(predictions, targets, prediction_lengths=None, target_lengths=None, *,
                    symbols: Sequence[str] | Mapping | None = None) -> ErrorBreakdown:
    """Per-symbol substitutions, insertions and deletions over a batch; ``symbols`` (a list
    indexed by token id, or a mapping) names token ids in the result, e.g. ``vocab.tokens``."""
    p, t = _pairs(predictions, targets, prediction_lengths, target_lengths)
    name = (lambda s: s) if symbols is None else (lambda s: symbols[s])
    out, reference_length = ErrorBreakdown(EditCounts()), 0
    for hyp, ref in zip(p, t):
        out.reference.update(name(s) for s in ref)
        reference_length += len(ref)
        for op in Levenshtein.editops(ref, hyp):
            if op.tag == "replace":
                out.substitutions[(name(ref[op.src_pos]), name(hyp[op.dest_pos]))] += 1
            elif op.tag == "insert":
                out.insertions[name(hyp[op.dest_pos])] += 1
            else:
                out.deletions[name(ref[op.src_pos])] += 1
    out.counts = EditCounts(sum(out.substitutions.values()), sum(out.insertions.values()),
                            sum(out.deletions.values()), reference_length)
    return out
