"""CTC decoders over per-frame probabilities, in the course's layout: y_probs (C, T, N) with
row 0 the blank and row k the symbol ``symbol_set[k - 1]``.

- Greedy: the most probable class at every frame, then collapse repeats and drop blanks.
  Its probability is that of the single best ALIGNMENT, not of the decoded sequence.
- Beam search (CTC prefix beam search): keeps the best ``beam_width`` partial sequences,
  each split into paths ending in a blank and paths ending in a symbol (the next frame
  treats them differently: "a" + "a" stays "a", "a-" + "a" becomes "aa"), and merges
  alignments that collapse to the same sequence. With a beam wide enough it is exact.
"""
from collections import defaultdict

import numpy as np

__all__ = ["BeamSearchDecoder", "GreedySearchDecoder", "collapse"]


def collapse(best_path, blank=0):
    """Frame classes (T,) -> class ids after merging repeats and removing blanks."""
    best_path = np.asarray(best_path)
    keep = best_path != blank
    keep[1:] &= best_path[1:] != best_path[:-1]
    return best_path[keep]


def check_probs(y_probs, symbol_set, decoder):
    """y_probs as a float array (C, T, N); ``ValueError`` naming sizes when C is wrong."""
    y_probs = np.asarray(y_probs, dtype=np.float64)
    if y_probs.ndim == 2:
        y_probs = y_probs[:, :, None]                         # (C, T) -> (C, T, 1)
    C = len(symbol_set) + 1
    if y_probs.ndim != 3 or y_probs.shape[0] != C or y_probs.shape[1] < 1:
        raise ValueError(f"{decoder}: expected y_probs of shape ({C}, T, N) (the blank and "
                         f"{len(symbol_set)} symbols), got {np.shape(y_probs)}")
    return y_probs


class GreedySearchDecoder:
    """``decode(y_probs)`` -> (string of batch item 0, its path probability);
    ``decode_batch(y_probs)`` -> (list of strings, list of path probabilities)."""

    def __init__(self, symbol_set):
        self.symbol_set = list(symbol_set)

    def decode_batch(self, y_probs):
        y_probs = check_probs(y_probs, self.symbol_set, "GreedySearchDecoder")
        best = y_probs.argmax(axis=0)                         # (T, N)
        path_probs = y_probs.max(axis=0).prod(axis=0)         # (N,)
        strings = ["".join(self.symbol_set[k - 1] for k in collapse(best[:, n]))
                   for n in range(best.shape[1])]
        return strings, [float(p) for p in path_probs]

    def decode(self, y_probs):
        strings, probs = self.decode_batch(y_probs)
        return strings[0], probs[0]


class BeamSearchDecoder:
    """``decode(y_probs)`` with y_probs (C, T, 1) -> (best_path, merged_path_scores): a dict
    from each final sequence (string) to its total probability; ``best_path`` has the largest.

    Pruning follows the course: before each frame, the blank-ending and symbol-ending paths
    are ranked together and those scoring at least the ``beam_width``-th best are kept (ties
    may keep a few more). The last frame's extensions are merged without pruning.
    """

    def __init__(self, symbol_set, beam_width):
        if int(beam_width) < 1:
            raise ValueError(f"BeamSearchDecoder: beam_width must be >= 1, got {beam_width}")
        self.symbol_set = list(symbol_set)
        self.beam_width = int(beam_width)

    def prune(self, blank_paths, symbol_paths):
        scores = sorted([*blank_paths.values(), *symbol_paths.values()], reverse=True)
        cutoff = scores[min(self.beam_width, len(scores)) - 1]
        return ({p: s for p, s in blank_paths.items() if s >= cutoff},
                {p: s for p, s in symbol_paths.items() if s >= cutoff})

    @staticmethod
    def extend(blank_paths, symbol_paths, y):
        """One frame y (C,): paths are tuples of symbol ids (1..C-1), prefix -> probability."""
        new_blank, new_symbol = defaultdict(float), defaultdict(float)
        for path, score in [*blank_paths.items(), *symbol_paths.items()]:
            new_blank[path] += score * y[0]                   # a blank never changes the path
        for path, score in blank_paths.items():
            for k in range(1, len(y)):
                new_symbol[path + (k,)] += score * y[k]
        for path, score in symbol_paths.items():
            for k in range(1, len(y)):                        # a repeat merges into the path
                new_symbol[path if path[-1] == k else path + (k,)] += score * y[k]
        return new_blank, new_symbol

    def decode(self, y_probs):
        y_probs = check_probs(y_probs, self.symbol_set, "BeamSearchDecoder")
        if y_probs.shape[2] != 1:
            raise ValueError(f"BeamSearchDecoder: expected y_probs of shape "
                             f"({y_probs.shape[0]}, T, 1), got {y_probs.shape}; "
                             "decode one utterance at a time")
        y = y_probs[:, :, 0].T                                # (T, C)
        blank_paths = {(): y[0, 0]}
        symbol_paths = {(k,): y[0, k] for k in range(1, y.shape[1])}
        for t in range(1, len(y)):
            blank_paths, symbol_paths = self.extend(*self.prune(blank_paths, symbol_paths), y[t])
        merged = defaultdict(float)
        for paths in (blank_paths, symbol_paths):
            for path, score in paths.items():
                merged["".join(self.symbol_set[k - 1] for k in path)] += float(score)
        best_path = max(merged, key=merged.get)
        return best_path, dict(merged)
