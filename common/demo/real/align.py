"""Forced alignment of known phoneme transcripts to 10 ms frames: HW1P2 labels for the real-speech set.

Classic flat-start Viterbi training of a hybrid (MLP + left-to-right HMM) aligner, CPU only:

1. **flat start**: every utterance's compulsory phonemes spread evenly over its frames;
2. **train** a small MLP frame classifier (ReLU, context window of per-utterance CMVN features) on the
   current labels, for a few epochs;
3. **re-align** every utterance by Viterbi through its transcript's graph, scoring frames by the
   MLP's scaled likelihoods ``log p(class | x) - log p(class)`` (the hybrid-HMM trick);
4. repeat 2-3 ``iterations`` times; the labels of the last alignment are the answer.

The graph of an utterance (``build_graph``): ``[SIL]``, the words' phonemes, ``[SIL]``, with an
**optional** ``[SIL]`` between any two words (a pause, which the text does not mark), each unit a
chain of ``min_frames`` states (a minimum duration: every phoneme gets at least that many frames)
whose last state loops. Transitions carry no costs. The path visits every compulsory unit in order, so
each phoneme of the transcript gets a contiguous, non-empty span and the labels are monotone: the
transcript decides *what* is said, the classifier only *where* each phoneme starts.

**One frame, no context window** (``context=0``) and one epoch per iteration: a classifier that sees
neighbouring frames, or trains long on a wrong alignment, learns to reproduce that alignment's offsets
(it can tell from the context where the old boundary was), and re-alignment no longer moves it. On 300
synthetic utterances (2 epochs x 5 iterations) frame agreement was 77.8% with a context of +-5 frames,
91.0% with +-2, 93.3% with +-1 and 94.3% with none; 1 epoch x 8 iterations gives 94.8%.

Honesty check (``alignment_check``): the same aligner on the synthetic demo corpus, whose true frame
labels are known (``common.demo.speech``): it is given only the words, and its labels are compared
with the truth (frame agreement, and the error of the phoneme start frames). The builder records the
figures in ``real_info.json``. Deterministic for a seed (torch and NumPy seeded; ``threads`` torch
threads, 1 by default, restored afterwards). Needs numpy and torch only.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import numpy as np

from common.vocab import HW1_PHONEMES

__all__ = ["Alignment", "Graph", "build_graph", "viterbi", "flat_start", "align_corpus", "alignment_check", "SIL",
           "NUM_CLASSES", "boundary_errors", "DEFAULTS"]

SIL = HW1_PHONEMES.index["[SIL]"]          # 0
NUM_CLASSES = 40                           # [SIL] + 39 phonemes (no [SOS]/[EOS])
NEG = -1e30


@dataclass(frozen=True)
class Alignment:
    """One utterance's alignment: labels (T,) class per frame, unit_path (T,) graph unit per frame,
    units (U,) class of each unit, optional (U,) which units are pauses that may be left out."""
    labels: np.ndarray
    unit_path: np.ndarray
    units: np.ndarray
    optional: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        """(K,) first frame of each compulsory unit, in order (every one is visited)."""
        first = np.full(len(self.units), -1)
        change = np.flatnonzero(np.diff(self.unit_path, prepend=-1) != 0)                 # (runs,)
        first[self.unit_path[change]] = change
        return first[~self.optional]


@dataclass(frozen=True)
class Graph:
    """A left-to-right alignment graph of S states over U units (phonemes and optional pauses).

    classes  (S,) int   class scored by each state
    unit     (S,) int   unit of each state (states of a unit are consecutive)
    loop     (S,) bool  whether the state may repeat (the last state of each unit)
    skip     (S,) int   a second predecessor (-1: none): the first state of the unit after an optional
                        unit also follows the last state of the unit before it
    optional (U,) bool  unit may be left out (a pause between words)
    units    (U,) int   class of each unit
    starts   (S,) bool  states a path may begin in; ends (S,) bool: states it may end in
    """
    classes: np.ndarray
    unit: np.ndarray
    loop: np.ndarray
    skip: np.ndarray
    optional: np.ndarray
    units: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @property
    def min_length(self) -> int:
        """Fewest frames a path needs: the states of the compulsory units."""
        return int((~self.optional[self.unit]).sum())


def build_graph(words: list[list[int]], min_frames: int = 3, sil_min_frames: int = 1,
                pauses: bool = True, edge_silence: bool = True) -> Graph:
    """Words (lists of class ids) -> the graph ``[SIL] w1 ([SIL]) w2 ... wn [SIL]``.

    ``min_frames`` states per phoneme, ``sil_min_frames`` per silence; ``pauses``: optional [SIL]
    between words; ``edge_silence``: compulsory [SIL] at both ends (the course's transcripts start and
    end with it).
    """
    if not words or any(len(w) == 0 for w in words):
        raise ValueError("build_graph needs at least one word and no empty word")
    units, optional = [], []
    if edge_silence:
        units.append(SIL), optional.append(False)
    for i, w in enumerate(words):
        if i and pauses:
            units.append(SIL), optional.append(True)
        units += list(w)
        optional += [False] * len(w)
    if edge_silence:
        units.append(SIL), optional.append(False)
    sizes = [sil_min_frames if c == SIL else min_frames for c in units]
    unit = np.repeat(np.arange(len(units)), sizes)                          # (S,)
    classes = np.asarray(units)[unit]
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])                   # (U,) first state of each unit
    last = first + np.asarray(sizes) - 1
    loop = np.zeros(len(unit), dtype=bool)
    loop[last] = True
    skip = np.full(len(unit), -1)
    opt = np.asarray(optional, dtype=bool)
    for u in np.flatnonzero(opt):
        if 0 < u < len(units) - 1:
            skip[first[u + 1]] = last[u - 1]
    starts = np.zeros(len(unit), dtype=bool)
    starts[0] = True
    if opt[0]:
        starts[first[1]] = True
    ends = np.zeros(len(unit), dtype=bool)
    ends[-1] = True
    if opt[-1]:
        ends[last[-2]] = True
    return Graph(classes, unit, loop, skip, opt, np.asarray(units), starts, ends)


def viterbi(scores: np.ndarray, graph: Graph) -> np.ndarray:
    """The best state path: scores (T, C) per-frame log scores of the classes -> states (T,) int.

    A path starts in a start state, then each frame stays (looping states), moves to the next state, or
    takes the skip; it ends in an end state. Raises ValueError when T < graph.min_length.
    """
    T, S = len(scores), len(graph.classes)
    if T < graph.min_length:
        raise ValueError(f"{T} frames cannot hold {graph.min_length} compulsory states")
    emit = scores[:, graph.classes]                                          # (T, S)
    loop_mask = np.where(graph.loop, 0.0, NEG)
    has_skip = graph.skip >= 0
    skip_src = np.where(has_skip, graph.skip, 0)
    back = np.empty((T, S), dtype=np.int32)                                  # predecessor of each state
    stay_idx = np.arange(S, dtype=np.int32)
    prev_idx = np.arange(-1, S - 1, dtype=np.int32)
    delta = np.where(graph.starts, emit[0], NEG)                            # (S,)
    for t in range(1, T):
        stay = delta + loop_mask
        advance = np.concatenate([[NEG], delta[:-1]])
        skipped = np.where(has_skip, delta[skip_src], NEG)
        best = np.where(advance > stay, prev_idx, stay_idx)
        value = np.maximum(advance, stay)
        take_skip = skipped > value
        back[t] = np.where(take_skip, skip_src, best)
        delta = np.maximum(value, skipped) + emit[t]
    final = np.where(graph.ends, delta, NEG)
    path = np.empty(T, dtype=np.int64)
    path[-1] = int(np.argmax(final))
    if final[path[-1]] <= NEG / 2:
        raise ValueError("no path through the graph")
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def flat_start(num_frames: int, graph: Graph) -> np.ndarray:
    """States (T,) spreading the compulsory units evenly over the frames (no pauses), at least their
    minimum durations: the first alignment, before any model exists."""
    compulsory = np.flatnonzero(~graph.optional)
    sizes = np.array([(graph.unit == u).sum() for u in compulsory])            # min frames per unit
    spare = num_frames - sizes.sum()
    if spare < 0:
        raise ValueError(f"{num_frames} frames cannot hold {sizes.sum()} compulsory states")
    extra = np.diff(np.floor(np.linspace(0, spare, len(compulsory) + 1)).astype(int))
    path = []
    for u, e in zip(compulsory, extra):
        states = np.flatnonzero(graph.unit == u)
        path += list(states) + [states[-1]] * int(e)
    return np.asarray(path, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
def _cmvn(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / (x.std(0) + 1e-8)


def _graph_for(words, n_frames, min_frames, sil_min_frames):
    """The graph with the largest minimum duration (<= min_frames) that fits in n_frames."""
    for m in range(min_frames, 0, -1):
        g = build_graph(words, m, min(sil_min_frames, m))
        if g.min_length <= n_frames:
            return g
    raise ValueError(f"an utterance of {n_frames} frames is shorter than its {sum(map(len, words)) + 2} phonemes")


def align_corpus(features: list[np.ndarray], words: list[list[list[int]]], *, iterations: int = 8,
                 epochs: int = 1, context: int = 0, hidden: int = 256, min_frames: int = 3,
                 sil_min_frames: int = 1, prior_scale: float = 1.0, batch_size: int = 256, lr: float = 1e-3,
                 seed: int = 0, threads: int = 1, log=None) -> list[Alignment]:
    """An Alignment (frame labels (T_i,): HW1P2 class ids) per utterance, by flat-start Viterbi training.

    features: per utterance (T_i, D) float (MFCC; CMVN applied here); words: per utterance its words
    as lists of class ids (no silences: the graph adds them). ``epochs`` of MLP training per iteration
    (the model carries on from one iteration to the next), then a re-alignment of every utterance.
    """
    import torch
    from torch import nn

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        graphs = [_graph_for(w, len(x), min_frames, sil_min_frames) for x, w in zip(features, words)]
        dim = features[0].shape[1]
        # one padded store: utterance i's frame t sits at row offsets[i] + context + t
        lengths = np.array([len(x) for x in features])
        offsets = np.concatenate([[0], np.cumsum(lengths + 2 * context)[:-1]])
        store = np.zeros((int((lengths + 2 * context).sum()), dim), dtype=np.float32)
        centers = np.concatenate([o + context + np.arange(n) for o, n in zip(offsets, lengths)])   # (N,)
        for o, n, x in zip(offsets, lengths, features):
            store[o + context:o + context + n] = _cmvn(np.asarray(x, dtype=np.float64))
        store_t = torch.from_numpy(store)
        window = torch.arange(-context, context + 1)                                    # (2c+1,)

        def windows(rows):                                                               # (B,) -> (B, (2c+1) D)
            return store_t[torch.as_tensor(rows)[:, None] + window].reshape(len(rows), -1)

        model = nn.Sequential(nn.Linear((2 * context + 1) * dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                              nn.ReLU(), nn.Linear(hidden, NUM_CLASSES))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        paths = [flat_start(len(x), g) for x, g in zip(features, graphs)]
        for it in range(iterations):
            t0 = time.perf_counter()
            labels = torch.from_numpy(np.concatenate([g.classes[p] for g, p in zip(graphs, paths)]))     # (N,)
            counts = np.bincount(labels.numpy(), minlength=NUM_CLASSES) + 1.0
            log_prior = np.log(counts / counts.sum())                                    # (C,)
            model.train()
            for _ in range(epochs):
                order = rng.permutation(len(centers))
                for b in range(0, len(order) - batch_size + 1, batch_size):
                    idx = order[b:b + batch_size]
                    loss = nn.functional.cross_entropy(model(windows(centers[idx])), labels[idx])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            model.eval()
            with torch.inference_mode():
                logp = torch.cat([model(windows(centers[b:b + 8192])).log_softmax(-1)
                                  for b in range(0, len(centers), 8192)]).numpy()        # (N, C)
            scores = logp - prior_scale * log_prior
            ends = np.cumsum(lengths)
            new = [viterbi(scores[e - n:e], g) for e, n, g in zip(ends, lengths, graphs)]
            changed = np.mean(np.concatenate([g.classes[a] != g.classes[b] for g, a, b in zip(graphs, new, paths)]))
            paths = new
            if log:
                log(f"   alignment iteration {it + 1}/{iterations}: {changed:.1%} of the frames changed label, "
                    f"{time.perf_counter() - t0:.1f} s")
        return [Alignment(g.classes[p], g.unit[p], g.units, g.optional) for g, p in zip(graphs, paths)]
    finally:
        torch.set_num_threads(old_threads)


DEFAULTS = {k: v.default for k, v in inspect.signature(align_corpus).parameters.items()
            if v.kind is inspect.Parameter.KEYWORD_ONLY and k != "log"}
"""The aligner's settings (recorded in real_info.json)."""


# ---------------------------------------------------------------------------------------------
def boundary_errors(true_units: np.ndarray, true_durations: np.ndarray, alignment: Alignment) -> np.ndarray:
    """|aligned - true| start frame (frames) of every compulsory unit but the first (which starts at 0).

    true_units (U,) the true class sequence, pauses between words included; true_durations (U,) their
    frames. Interior silences of the truth are the pauses (optional units); what is left must be the
    compulsory units of the alignment's graph, in order (else a ValueError).
    """
    starts = np.concatenate([[0], np.cumsum(true_durations)[:-1]])
    keep = np.ones(len(true_units), dtype=bool)
    keep[1:-1] = true_units[1:-1] != SIL
    if not np.array_equal(true_units[keep], alignment.units[~alignment.optional]):
        raise ValueError("the truth's phonemes (pauses removed) differ from the aligned transcript")
    return np.abs(alignment.starts[1:] - starts[keep][1:])


def _demo_utterances(n: int, seed: int):
    """(features (T, 28) list, words list, truth list of (units (U,), durations (U,))) of the first n
    training utterances of the synthetic demo corpus (common.demo.speech)."""
    from common.demo.speech.corpus import utterances
    from common.demo.speech.lexicon import LEXICON
    from common.demo.speech.synth import logmel_to_mfcc
    index = HW1_PHONEMES.index
    us = list(utterances(seed, "train-clean-100", n))
    features = [logmel_to_mfcc(u.logmel) for u in us]
    words = [[[index[p] for p in LEXICON[w]] for w in u.words] for u in us]
    truth = [(np.array([index[p] for p in u.phones]), np.asarray(u.durations)) for u in us]
    return features, words, truth


def alignment_check(n: int = 300, seed: int = 0, log=None, **options) -> dict:
    """The aligner on ``n`` synthetic demo utterances given only their words, against their true labels.

    Returns frame agreement (share of frames whose aligned label is the true one), that of the flat
    start (the evenly spread first alignment: what the training adds), and the start-frame errors of the
    compulsory phonemes (mean, median, share within 1 and 2 frames, i.e. 10 and 20 ms).
    """
    t0 = time.perf_counter()
    features, words, truth = _demo_utterances(n, seed)
    alignments = align_corpus(features, words, seed=seed, log=log, **options)
    true_labels = np.concatenate([np.repeat(u, d) for u, d in truth])
    labels = np.concatenate([a.labels for a in alignments])
    flat = np.concatenate([g.classes[flat_start(len(x), g)] for x, g in
                           zip(features, (build_graph(w, options.get("min_frames", 3)) for w in words))])
    errors = np.concatenate([boundary_errors(u, d, a) for (u, d), a in zip(truth, alignments)])
    return {"corpus": f"common.demo.speech seed {seed}, first {n} training utterances", "utterances": n,
            "frames": int(len(labels)), "frame_agreement": round(float(np.mean(labels == true_labels)), 4),
            "flat_start_agreement": round(float(np.mean(flat == true_labels)), 4),
            "boundaries": int(len(errors)), "boundary_error_mean_frames": round(float(errors.mean()), 3),
            "boundary_error_median_frames": float(np.median(errors)),
            "boundaries_within_1_frame": round(float(np.mean(errors <= 1)), 4),
            "boundaries_within_2_frames": round(float(np.mean(errors <= 2)), 4),
            "seconds": round(time.perf_counter() - t0, 1)}
