"""common.speech.decoding against hand-computed values and brute-force enumeration.

CTC: every alignment of C classes over T frames (C**T paths) is collapsed and the path
probabilities are summed per sequence in float64, so the exact sequence distribution is known.
Seq2seq: a fixed Markov table of next-token log probabilities (depending on the last token only)
lets every sequence up to max_len that ends in eos be scored exactly.
"""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from common.speech.decoding import ctc_beam_search, ctc_greedy_decode, seq2seq_beam_search, seq2seq_greedy_decode

TOL = 1e-9


# ---------------------------------------------------------------- CTC helpers (references)
def one_hot_log_probs(paths, C, dtype=torch.float32):
    """Frame class ids (B, T) -> (B, T, C) log probs whose argmax is that class."""
    probs = torch.full((len(paths), len(paths[0]), C), 0.1 / (C - 1), dtype=torch.float64)
    for b, path in enumerate(paths):
        for t, c in enumerate(path):
            probs[b, t, c] = 0.9
    return probs.log().to(dtype)


def collapse_reference(path, blank=0):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return tuple(out)


def brute_force_ctc(lp, allowed=None, blank=0):
    """lp (T, C) float64 array -> {sequence: log of the summed probability of its alignments};
    ``allowed`` (T, C) bool restricts the classes each frame may take."""
    T, C = lp.shape
    per_seq = {}
    for path in itertools.product(range(C), repeat=T):
        if allowed is not None and not all(allowed[t, c] for t, c in enumerate(path)):
            continue
        per_seq.setdefault(collapse_reference(path, blank), []).append(sum(lp[t, c] for t, c in enumerate(path)))
    return {seq: float(np.logaddexp.reduce(scores)) for seq, scores in per_seq.items()}


def random_log_probs(seed, B, T, C, sharpness):
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(sharpness * torch.randn(B, T, C, generator=g, dtype=torch.float64), dim=-1)


# ---------------------------------------------------------------- CTC greedy
def test_ctc_greedy_hand_built_batch():
    paths = [
        [1, 1, 0, 1, 2, 2, 0, 0],          # repeats merged; the blank between 1s keeps two 1s
        [0, 2, 2, 2, 0, 0, 3, 3],          # length 5 drops the trailing 3s
        [3, 0, 3, 3, 1, 1, 1, 2],          # length 7 drops the last 2; an unmerged repeat via blank
        [0, 0, 0, 0, 0, 0, 0, 0],          # only blanks
    ]
    lengths = torch.tensor([8, 5, 7, 0])
    expected = [[1, 1, 2], [2], [3, 3, 1], []]
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        assert ctc_greedy_decode(one_hot_log_probs(paths, 4, dtype), lengths) == expected


def test_ctc_greedy_other_blank_and_length_one():
    lp = one_hot_log_probs([[3, 1, 1, 3, 2, 2], [2, 2, 3, 2, 3, 3]], 4)
    assert ctc_greedy_decode(lp, [6, 1], blank=3) == [[1, 2], [2]]
    assert ctc_greedy_decode(lp, None, blank=3) == [[1, 2], [2, 2]]


@given(seed=st.integers(0, 10_000), B=st.integers(1, 4), T=st.integers(1, 12), C=st.integers(2, 5))
def test_ctc_greedy_matches_per_frame_reference(seed, B, T, C):
    lp = random_log_probs(seed, B, T, C, 2.0)
    lengths = torch.randint(0, T + 1, (B,), generator=torch.Generator().manual_seed(seed))
    expected = [list(collapse_reference(lp[b, :lengths[b]].argmax(-1).tolist())) for b in range(B)]
    assert ctc_greedy_decode(lp, lengths) == expected


def test_ctc_input_errors_name_the_shape():
    lp = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        ctc_greedy_decode(lp[0], torch.tensor([5]))
    with pytest.raises(ValueError, match=r"\[5, 6\]"):
        ctc_greedy_decode(lp, torch.tensor([5, 6]))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        ctc_beam_search(lp, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        ctc_beam_search(lp[:, :, 0])


# ---------------------------------------------------------------- CTC beam search
def test_ctc_beam_finds_sequence_that_greedy_misses():
    # two frames, P(blank) = 0.6, P(a) = 0.4 each: the best path is "--" (0.36), but
    # P("a") = P(aa) + P(a-) + P(-a) = 0.16 + 0.24 + 0.24 = 0.64
    lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]], dtype=torch.float64).log()[None]
    assert ctc_greedy_decode(lp, [2]) == [[]]
    (best, best_lp), (second, second_lp) = ctc_beam_search(lp, beam_width=5)[0]
    assert best == [1] and abs(best_lp - math.log(0.64)) < TOL
    assert second == [] and abs(second_lp - math.log(0.36)) < TOL


def check_against_brute_force(hyps, exact):
    """Every returned sequence carries its exact log prob, and the list is the top of ``exact``."""
    ranked = sorted(exact.values(), reverse=True)
    assert len({tuple(s) for s, _ in hyps}) == len(hyps)      # no sequence twice
    for seq, score in hyps:
        assert abs(score - exact[tuple(seq)]) < TOL
    np.testing.assert_allclose([score for _, score in hyps], ranked[:len(hyps)], rtol=0, atol=TOL)


@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(2, 4),
       sharpness=st.sampled_from([0.5, 2.0, 5.0]))
def test_ctc_beam_wide_is_exact(seed, T, C, sharpness):
    lp = random_log_probs(seed, 2, T, C, sharpness)
    lengths = torch.tensor([T, max(T - 2, 0)])              # the second utterance is cut
    # 400 exceeds the number of prefixes (1 + 3 + ... + 3**5 = 364): every sequence comes back
    hyps = ctc_beam_search(lp, lengths, beam_width=400)
    for b in range(2):
        exact = brute_force_ctc(lp[b, :lengths[b]].numpy())
        assert len(hyps[b]) == len(exact)
        check_against_brute_force(hyps[b], exact)
        best_seq, best_lp = hyps[b][0]
        assert abs(best_lp - max(exact.values())) < TOL
        assert abs(exact[tuple(best_seq)] - max(exact.values())) < TOL


@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(2, 4), k=st.integers(1, 6))
def test_ctc_beam_top_k_from_wide_search(seed, T, C, k):
    lp = random_log_probs(seed, 1, T, C, 2.0)
    exact = brute_force_ctc(lp[0].numpy())
    wide = ctc_beam_search(lp, beam_width=400)[0]
    assert len(wide) == len(exact)
    ranked = sorted(exact.items(), key=lambda kv: kv[1], reverse=True)
    # the k best sequences, in order (continuous random log probs: no ties)
    assert [tuple(s) for s, _ in wide[:k]] == [s for s, _ in ranked[:k]]


@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(2, 4))
def test_ctc_beam_width_one_is_valid_and_not_better_than_exact(seed, T, C):
    lp = random_log_probs(seed, 1, T, C, 1.0)
    exact = brute_force_ctc(lp[0].numpy())
    [(seq, score)] = ctc_beam_search(lp, beam_width=1)[0]
    assert tuple(seq) in exact and all(0 < c < C for c in seq)
    assert score <= exact[tuple(seq)] + TOL                  # only the mass kept in the beam
    assert score <= max(exact.values()) + TOL


@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(3, 4))
def test_ctc_beam_pruning_equals_brute_force_over_kept_symbols(seed, T, C):
    lp = random_log_probs(seed, 1, T, C, 2.0)
    threshold = math.log(0.2)
    frames = lp[0].numpy()
    allowed = frames >= threshold
    allowed[np.arange(T), frames.argmax(1)] = True
    exact = brute_force_ctc(frames, allowed)
    hyps = ctc_beam_search(lp, beam_width=400, prune_log_prob=threshold)[0]
    assert len(hyps) == len(exact)
    check_against_brute_force(hyps, exact)


def test_ctc_beam_other_blank_and_float32_input():
    lp = random_log_probs(7, 1, 4, 3, 2.0)
    exact = brute_force_ctc(lp[0].numpy(), blank=2)
    hyps = ctc_beam_search(lp.float(), beam_width=100, blank=2)[0]
    assert all(2 not in seq for seq, _ in hyps)
    assert tuple(hyps[0][0]) == max(exact, key=exact.get)
    assert abs(hyps[0][1] - max(exact.values())) < 1e-5      # float32 input


# ---------------------------------------------------------------- seq2seq (Markov table step_fn)
V, EOS, SOS = 4, 3, 4                 # tokens 0..2, eos 3; sos 4 is an input-only token


def markov_table(seed, sharpness=2.0, rows=1):
    """(rows, V + 1, V) log probs of the next token given the last one."""
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(sharpness * torch.randn(rows, V + 1, V, generator=g, dtype=torch.float64), dim=-1)


def brute_force_seq2seq(table, max_len, length_penalty=0.0):
    """{sequence without eos: normalised score} over all sequences of <= max_len tokens ending in eos."""
    out = {}
    for n in range(max_len):
        for seq in itertools.product(range(V - 1), repeat=n):
            prev, score = SOS, 0.0
            for tok in seq + (EOS,):
                score += float(table[prev, tok])
                prev = tok
            out[seq] = score / (n + 1) ** length_penalty
    return out


@given(seed=st.integers(0, 10_000), B=st.integers(1, 4), max_len=st.integers(1, 8))
def test_seq2seq_greedy_is_per_row_argmax_path(seed, B, max_len):
    table = markov_table(seed, rows=B)
    expected = []
    for b in range(B):                     # by hand: follow the argmax until eos or max_len
        prev, row = SOS, []
        while len(row) < max_len and (not row or row[-1] != EOS):
            prev = int(table[b, prev].argmax())
            row.append(prev)
        expected.append(row)
    width = max(len(r) for r in expected)
    expected = torch.tensor([r + [EOS] * (width - len(r)) for r in expected])
    step_fn = lambda tokens: table[torch.arange(B), tokens[:, -1]]
    assert torch.equal(seq2seq_greedy_decode(step_fn, B, SOS, EOS, max_len), expected)


def test_seq2seq_greedy_stops_when_all_rows_finished():
    # row 0: sos -> 1 -> eos; row 1: sos -> eos; nothing else is ever more likely
    table = torch.full((2, V + 1, V), math.log(0.1), dtype=torch.float64)
    table[0, SOS, 1] = table[0, 1, EOS] = table[1, SOS, EOS] = math.log(0.7)
    table[:, EOS, EOS] = math.log(0.7)
    calls = []

    def step_fn(tokens):
        calls.append(tuple(tokens.shape))
        return table[torch.arange(2), tokens[:, -1]]

    out = seq2seq_greedy_decode(step_fn, 2, SOS, EOS, max_len=10)
    assert out.tolist() == [[1, EOS], [EOS, EOS]]
    assert calls == [(2, 1), (2, 2)]


def test_seq2seq_step_fn_shape_error():
    with pytest.raises(ValueError, match=r"\(3, 4, 5\)"):
        seq2seq_greedy_decode(lambda tokens: torch.zeros(3, 4, 5), 3, SOS, EOS, 5)
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        seq2seq_beam_search(lambda tokens: torch.zeros(2, 5), SOS, EOS, 5)


@given(seed=st.integers(0, 10_000), max_len=st.integers(1, 4), length_penalty=st.sampled_from([0.0, 0.6, 1.0]),
       sharpness=st.sampled_from([0.5, 2.0]))
def test_seq2seq_beam_wide_is_exact(seed, max_len, length_penalty, sharpness):
    table = markov_table(seed, sharpness)[0]
    exact = brute_force_seq2seq(table, max_len, length_penalty)        # 1 + 3 + 9 + 27 sequences
    ranked = sorted(exact.items(), key=lambda kv: kv[1], reverse=True)
    # wide: no candidate is ever dropped (at most 27 live prefixes x V = 108 candidates per step)
    hyps = seq2seq_beam_search(lambda tokens: table[tokens[:, -1]], SOS, EOS, max_len, beam_width=128,
                               length_penalty=length_penalty)
    assert len(hyps) == len(exact)
    assert tuple(hyps[0][0]) == ranked[0][0] and abs(hyps[0][1] - ranked[0][1]) < TOL
    for seq, score in hyps:
        assert abs(score - exact[tuple(seq)]) < TOL
    np.testing.assert_allclose([s for _, s in hyps], [s for _, s in ranked], rtol=0, atol=TOL)


@given(seed=st.integers(0, 10_000), max_len=st.integers(2, 4), k=st.integers(1, 5))
def test_seq2seq_beam_narrow_scores_are_exact_and_not_better_than_best(seed, max_len, k):
    table = markov_table(seed, 3.0)[0]
    exact = brute_force_seq2seq(table, max_len)
    ranked = sorted(exact.values(), reverse=True)
    hyps = seq2seq_beam_search(lambda tokens: table[tokens[:, -1]], SOS, EOS, max_len, beam_width=k)
    assert 1 <= len(hyps) <= k
    assert [s for _, s in hyps] == sorted((s for _, s in hyps), reverse=True)
    if len(hyps[0][0]) == max_len:         # none finished: the live beams come back, scored without eos
        for seq, score in hyps:
            assert len(seq) == max_len
            assert abs(score - sum(float(table[p, t]) for p, t in zip([SOS] + seq, seq))) < TOL
    else:
        for seq, score in hyps:
            assert abs(score - exact[tuple(seq)]) < TOL                # scores are exact log probs
        assert hyps[0][1] <= ranked[0] + TOL
    wide = seq2seq_beam_search(lambda tokens: table[tokens[:, -1]], SOS, EOS, max_len, beam_width=128)
    np.testing.assert_allclose([s for _, s in wide[:k]], ranked[:k], rtol=0, atol=TOL)


@given(seed=st.integers(0, 10_000), max_len=st.integers(1, 8))
def test_seq2seq_beam_width_one_equals_greedy_when_greedy_finishes(seed, max_len):
    table = markov_table(seed, 2.0)[0]
    step_fn = lambda tokens: table[tokens[:, -1]]
    greedy = seq2seq_greedy_decode(step_fn, 1, SOS, EOS, max_len)[0].tolist()
    if greedy[-1] != EOS:
        return
    [(seq, score)] = seq2seq_beam_search(step_fn, SOS, EOS, max_len, beam_width=1)
    assert seq == greedy[:-1]
    prev, expected = SOS, 0.0
    for tok in greedy:
        expected += float(table[prev, tok])
        prev = tok
    assert abs(score - expected) < TOL


def test_seq2seq_beam_batches_rows_in_one_call():
    table = markov_table(3, 1.0)[0]
    shapes = []

    def step_fn(tokens):
        shapes.append(tuple(tokens.shape))
        assert tokens.dtype == torch.long and (tokens[:, 0] == SOS).all()
        return table[tokens[:, -1]]

    seq2seq_beam_search(step_fn, SOS, EOS, 4, beam_width=3)
    assert shapes[0] == (1, 1) and all(rows <= 3 and t == i + 1 for i, (rows, t) in enumerate(shapes))
    assert shapes[1][0] == 3                                           # V - 1 = 3 live tokens after sos


def test_seq2seq_beam_width_one_ignores_eos_outside_the_beam():
    # sos -> 0 (0.5) or eos (0.3); 0 -> eos (0.4). The beam of one follows 0 and finishes [0]
    # with 0.5 * 0.4 = 0.2; the eos of step 1 (0.3, ranked second) is outside the beam. Width 2 finds it.
    table = torch.full((V + 1, V), 0.1, dtype=torch.float64)
    table[SOS] = torch.tensor([0.5, 0.1, 0.1, 0.3], dtype=torch.float64)
    table[0] = torch.tensor([0.2, 0.2, 0.2, 0.4], dtype=torch.float64)
    step_fn = lambda tokens: table.log()[tokens[:, -1]]
    assert seq2seq_greedy_decode(step_fn, 1, SOS, EOS, 5).tolist() == [[0, EOS]]
    [(seq, score)] = seq2seq_beam_search(step_fn, SOS, EOS, 5, beam_width=1)
    assert seq == [0] and abs(score - math.log(0.2)) < TOL
    (seq, score), _ = seq2seq_beam_search(step_fn, SOS, EOS, 5, beam_width=2)
    assert seq == [] and abs(score - math.log(0.3)) < TOL
