"""Which utterances CTC can align at all, counted at load time for the model's time reduction.

CTC emits one symbol per (reduced) frame, and two equal neighbouring symbols need a blank between
them, so a target ``y`` of ``L`` symbols with ``R`` repeats (``y[i] == y[i-1]``) needs at least
``L + R`` output frames. An utterance with fewer has no alignment: its CTC loss is infinite, and
``CTCLoss(zero_infinity=True)`` turns it into 0, so the utterance trains nothing, without a word.
``check_ctc_feasibility`` counts those utterances before training, names a few, and says how
many will be dropped that way; above ``max_fraction`` it refuses (time reduction too strong, or
transcripts that do not belong to the features).

    report = check_ctc_feasibility(train_set, reduction=2 ** PYRAMID_LAYERS, split="train")
    report.infeasible          # indices into the store
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from common.layouts import DataFormatError

__all__ = ["ctc_min_frames", "reduced_lengths", "CTCFeasibility", "check_ctc_feasibility"]


def ctc_min_frames(target) -> int:
    """The fewest output frames a CTC alignment of ``target`` needs: its length plus its repeats."""
    t = np.asarray(target)
    return int(len(t) + (np.count_nonzero(t[1:] == t[:-1]) if len(t) > 1 else 0))


def reduced_lengths(frames, reduction: int | Callable) -> np.ndarray:
    """Output frames after the model's time reduction: ``ceil(T / reduction)`` for an int (pyramidal
    BiLSTM layers and ``time_reduce`` keep a last partial group), or ``reduction(T)`` for a callable
    (e.g. ``common.speech.transformer.conv_output_lengths``)."""
    frames = np.asarray(frames, dtype=np.int64)
    if callable(reduction):
        import torch                         # the model's own length functions take tensors

        out = reduction(torch.as_tensor(frames))
        return np.asarray(out.tolist() if hasattr(out, "tolist") else out, dtype=np.int64)
    if int(reduction) < 1:
        raise ValueError(f"reduction must be >= 1, got {reduction}")
    return -(-frames // int(reduction))


@dataclass
class CTCFeasibility:
    split: str
    reduction: object
    ids: list[str]
    frames: np.ndarray            # (N,) input frames
    output_frames: np.ndarray     # (N,) after the reduction
    needed: np.ndarray            # (N,) ctc_min_frames of each target
    infeasible: np.ndarray        # indices of the utterances CTC cannot align

    @property
    def fraction(self) -> float:
        return len(self.infeasible) / max(1, len(self.ids))

    def summary(self, examples: int = 5) -> str:
        red = (f"x{self.reduction}" if not callable(self.reduction)
               else f"({getattr(self.reduction, '__name__', 'the model')})".replace("(<lambda>)", "(the model's)"))
        if len(self.infeasible) == 0:
            return (f"{self.split}: all {len(self.ids):,} transcripts fit their frames after time reduction {red} "
                    "(CTC can align every utterance)")
        n = len(self.infeasible)
        effect = (f"{n:,} training utterances will be dropped in effect (they train nothing)"
                  if self.split.startswith("train") else f"these {n:,} count as a loss of 0 in the {self.split} loss")
        shown = "; ".join(f"{self.ids[i]} ({self.frames[i]} frames -> {self.output_frames[i]}, needs {self.needed[i]})"
                          for i in self.infeasible[:examples])
        return (f"{self.split}: {len(self.infeasible):,} of {len(self.ids):,} utterances ({self.fraction:.1%}) have "
                f"transcripts longer than their frames allow after time reduction {red} (phonemes + repeats, "
                f"which need a blank between them): CTC cannot align them, and CTCLoss(zero_infinity=True) sets "
                f"their loss to 0, so {effect}. E.g. {shown}{', ...' if len(self.infeasible) > examples else ''}. "
                "Fewer reductions (PYRAMID_LAYERS) keep them")


def check_ctc_feasibility(store, reduction: int | Callable, *, split: str = "train", max_fraction: float | None = 0.05,
                          verbose: bool = True) -> CTCFeasibility:
    """Count the utterances of ``store`` (an UtteranceStore with targets) that CTC cannot align after
    ``reduction`` (an int factor, or a callable T -> T'); print the summary when ``verbose``.

    Raises a DataFormatError (naming the split, the count, examples and the fix) when more than
    ``max_fraction`` of them cannot be aligned (None: never).
    """
    if store.targets is None:
        raise ValueError(f"{split} has no transcripts (a test split): nothing to check")
    frames = np.asarray(store.feature_lengths, dtype=np.int64)
    out = reduced_lengths(frames, reduction)
    needed = np.array([ctc_min_frames(t) for t in store.targets], dtype=np.int64)
    report = CTCFeasibility(split, reduction, list(store.ids), frames, out, needed, np.flatnonzero(needed > out))
    if max_fraction is not None and report.fraction > max_fraction:
        raise DataFormatError(
            f"{report.summary()}. That is more than {max_fraction:.0%}: lower the time reduction (PYRAMID_LAYERS) or "
            "check that the transcripts belong to these features (a transcript per frame, or another utterance's?)")
    if verbose:
        print(report.summary())
    return report
