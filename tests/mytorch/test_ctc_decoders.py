"""Greedy and beam search CTC decoders: hand-built examples with hand-computed answers,
and the beam search against brute-force enumeration of every alignment (exact when the
beam is wide enough; never above the exact probabilities when it prunes)."""
import itertools
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mytorch.decoding import BeamSearchDecoder, GreedySearchDecoder

SYMBOLS = ["a", "b", "c"]


def frames(argmaxes, top, C=4):
    """(C, T) probabilities whose per-frame argmax is ``argmaxes`` with probability ``top``."""
    y = np.full((C, len(argmaxes)), (1 - top) / (C - 1))
    y[argmaxes, np.arange(len(argmaxes))] = top
    return y


def test_greedy_collapses_repeats_and_removes_blanks():
    y = np.stack([frames([1, 1, 0, 1, 2, 2, 0], 0.5),          # a a - a b b -  -> "aab"
                  frames([3, 0, 3, 3, 1, 0, 0], 0.7),          # c - c c a - -  -> "cca"
                  frames([0, 0, 0, 0, 0, 0, 0], 0.4)], axis=2)  # all blank      -> ""
    decoder = GreedySearchDecoder(SYMBOLS)
    strings, probs = decoder.decode_batch(y)
    assert strings == ["aab", "cca", ""]
    np.testing.assert_allclose(probs, [0.5 ** 7, 0.7 ** 7, 0.4 ** 7], rtol=1e-12)
    assert decoder.decode(y) == (strings[0], probs[0])
    assert decoder.decode(y[:, :, 0])[0] == "aab"              # (C, T) is a batch of one


def brute_force_sequences(y, symbols):
    """{collapsed string: total probability} over all alignments of y (T, C)."""
    T, C = y.shape
    scores = defaultdict(float)
    for alignment in itertools.product(range(C), repeat=T):
        out = [k for t, k in enumerate(alignment) if k != 0 and (t == 0 or k != alignment[t - 1])]
        scores["".join(symbols[k - 1] for k in out)] += np.prod(y[np.arange(T), alignment])
    return dict(scores)


def random_probs(data):
    T = data.draw(st.integers(1, 5), label="T")
    C = data.draw(st.integers(2, 4), label="C")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    return rng.dirichlet(np.ones(C) * 0.7, size=T).T[:, :, None]     # (C, T, 1)


@given(st.data())
def test_wide_beam_is_exact(data):
    y = random_probs(data)
    symbols = SYMBOLS[:y.shape[0] - 1]
    exact = brute_force_sequences(y[:, :, 0].T, symbols)
    best, scores = BeamSearchDecoder(symbols, beam_width=10_000).decode(y)
    assert scores.keys() == exact.keys()
    for seq, p in exact.items():
        np.testing.assert_allclose(scores[seq], p, rtol=1e-10, err_msg=seq)
    assert best == max(exact, key=exact.get)


@given(st.data(), st.integers(1, 3))
def test_narrow_beam_never_overestimates_and_beats_greedy(data, beam_width):
    y = random_probs(data)
    symbols = SYMBOLS[:y.shape[0] - 1]
    exact = brute_force_sequences(y[:, :, 0].T, symbols)
    best, scores = BeamSearchDecoder(symbols, beam_width).decode(y)
    for seq, p in scores.items():                              # pruning only loses paths
        assert p <= exact[seq] * (1 + 1e-10)
    # the best beam keeps at least the greedy alignment's probability
    _, greedy_prob = GreedySearchDecoder(symbols).decode(y)
    assert scores[best] >= greedy_prob * (1 - 1e-10)


def test_pruning_changes_the_answer_hand_computed():
    # frame 0: blank .4, a .35, b .25; frame 1: blank .33, a .3, b .37
    y = np.array([[0.4, 0.33], [0.35, 0.3], [0.25, 0.37]])[:, :, None]
    symbols = ["a", "b"]
    # beam 1 keeps only "" (ending in blank) after frame 0: "" = .4*.33, "a" = .4*.3,
    # "b" = .4*.37, so it answers "b"
    best, scores = BeamSearchDecoder(symbols, 1).decode(y)
    assert best == "b"
    assert scores.keys() == {"", "a", "b"}
    np.testing.assert_allclose([scores[k] for k in ("", "a", "b")], [0.132, 0.12, 0.148])
    # beam 2 also keeps "a" (ending in a): "a" = .12 + .35*.3 + .35*.33, "ab" = .35*.37
    best, scores = BeamSearchDecoder(symbols, 2).decode(y)
    assert best == "a"
    expected = {"": 0.132, "a": 0.3405, "b": 0.148, "ab": 0.1295}
    assert scores.keys() == expected.keys()
    np.testing.assert_allclose([scores[k] for k in expected], list(expected.values()))
    # beam 3 keeps everything: "b" = .148 + .25*.37 + .25*.33 and "ba" = .25*.3 appear
    best, scores = BeamSearchDecoder(symbols, 3).decode(y)
    np.testing.assert_allclose([scores["b"], scores["ba"]], [0.323, 0.075])
    assert best == "a"


@pytest.mark.parametrize("call, message", [
    (lambda: GreedySearchDecoder(SYMBOLS).decode(np.ones((3, 5, 1))),
     r"expected y_probs of shape \(4, T, N\).*got \(3, 5, 1\)"),
    (lambda: BeamSearchDecoder(SYMBOLS, 2).decode(np.ones((4, 5, 2))),
     r"expected y_probs of shape \(4, T, 1\), got \(4, 5, 2\)"),
    (lambda: BeamSearchDecoder(SYMBOLS, 0), r"beam_width must be >= 1, got 0"),
])
def test_decoder_shape_errors_name_expected_and_received(call, message):
    with pytest.raises(ValueError, match=message):
        call()
