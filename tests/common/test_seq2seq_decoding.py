"""Seq2seq greedy and beam search against brute-force enumeration.

A fixed Markov table of next-token log probabilities (depending on the last token only) lets every
sequence up to max_len that ends in eos be scored exactly, with and without fused scorers.
"""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.lm import NGramLM
from common.speech.decoding import CTCPrefixScorer, seq2seq_beam_search, seq2seq_greedy_decode
from tests.common.test_ctc_decoding import brute_force_ctc

TOL = 1e-9

# ---------------------------------------------------------------- Markov-table step functions
V, EOS, SOS = 4, 3, 4                 # tokens 0..2, eos 3; sos 4 is an input-only token


def markov_table(seed, sharpness=2.0, rows=1):
    """(rows, V + 1, V) log probs of the next token given the last one."""
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(sharpness * torch.randn(rows, V + 1, V, generator=g, dtype=torch.float64), dim=-1)


def table_step(table, per_input=1):
    """step_fn over a (V + 1, V) table, or a (B, V + 1, V) stack with ``per_input`` rows per input."""
    def step_fn(tokens, state):
        if table.ndim == 2:
            return table[tokens[:, -1]], state
        inputs = torch.arange(len(tokens)) // per_input
        return table[inputs, tokens[:, -1]], state
    return step_fn


def beam(table, max_len, beam_width, **kwargs):
    """Beam search of one input over a (V + 1, V) table."""
    return seq2seq_beam_search(table_step(table), 1, SOS, EOS, max_len, beam_width, **kwargs)[0]


def sequence_score(table, seq):
    prev, score = SOS, 0.0
    for tok in seq:
        score += float(table[prev, tok])
        prev = tok
    return score


def brute_force_seq2seq(table, max_len, length_penalty=0.0, extra=None):
    """{sequence without eos: normalised score} over all sequences of <= max_len tokens ending in eos;
    ``extra(seq)`` adds a fused term."""
    out = {}
    for n in range(max_len):
        for seq in itertools.product(range(V - 1), repeat=n):
            score = sequence_score(table, seq + (EOS,)) + (extra(seq) if extra else 0.0)
            out[seq] = score / (n + 1) ** length_penalty
    return out


# ---------------------------------------------------------------- greedy
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
    assert torch.equal(seq2seq_greedy_decode(table_step(table), B, SOS, EOS, max_len), expected)


def test_seq2seq_greedy_stops_when_all_rows_finished():
    # row 0: sos -> 1 -> eos; row 1: sos -> eos; nothing else is ever more likely
    table = torch.full((2, V + 1, V), math.log(0.1), dtype=torch.float64)
    table[0, SOS, 1] = table[0, 1, EOS] = table[1, SOS, EOS] = math.log(0.7)
    table[:, EOS, EOS] = math.log(0.7)
    calls = []

    def step_fn(tokens, state):
        calls.append(tuple(tokens.shape))
        return table[torch.arange(2), tokens[:, -1]], state

    out = seq2seq_greedy_decode(step_fn, 2, SOS, EOS, max_len=10)
    assert out.tolist() == [[1, EOS], [EOS, EOS]]
    assert calls == [(2, 1), (2, 2)]


def test_seq2seq_step_fn_errors():
    with pytest.raises(ValueError, match=r"\(3, 4, 5\)"):
        seq2seq_greedy_decode(lambda tokens, state: (torch.zeros(3, 4, 5), state), 3, SOS, EOS, 5)
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        seq2seq_beam_search(lambda tokens, state: (torch.zeros(2, 5), state), 1, SOS, EOS, 5)
    with pytest.raises(ValueError, match=r"\(log_probs, state\)"):
        seq2seq_greedy_decode(lambda tokens, state: torch.zeros(3, 5), 3, SOS, EOS, 5)


def test_seq2seq_greedy_lm_fusion_changes_the_choice():
    # the model slightly prefers 0 after sos; an LM that has only seen "1" overturns it
    table = torch.full((V + 1, V), 0.1, dtype=torch.float64)
    table[SOS] = torch.tensor([0.4, 0.35, 0.05, 0.2], dtype=torch.float64)
    table = table.log()
    lm = NGramLM.train([[1]] * 20, vocab_size=V, order=2)
    assert seq2seq_greedy_decode(table_step(table), 1, SOS, EOS, 1)[0].tolist() == [0]
    assert seq2seq_greedy_decode(table_step(table), 1, SOS, EOS, 1, lm=lm, lm_weight=1.0)[0].tolist() == [1]


# ---------------------------------------------------------------- beam search against brute force
@given(seed=st.integers(0, 10_000), max_len=st.integers(1, 4), length_penalty=st.sampled_from([0.0, 0.6, 1.0]),
       sharpness=st.sampled_from([0.5, 2.0]))
def test_seq2seq_beam_wide_is_exact(seed, max_len, length_penalty, sharpness):
    table = markov_table(seed, sharpness)[0]
    exact = brute_force_seq2seq(table, max_len, length_penalty)        # 1 + 3 + 9 + 27 sequences
    ranked = sorted(exact.items(), key=lambda kv: kv[1], reverse=True)
    # wide: no candidate is ever dropped (at most 27 live prefixes x V = 108 candidates per step)
    hyps = beam(table, max_len, 128, length_penalty=length_penalty)
    assert len(hyps) == len(exact)
    assert tuple(hyps[0][0]) == ranked[0][0] and abs(hyps[0][1] - ranked[0][1]) < TOL
    for seq, score in hyps:
        assert abs(score - exact[tuple(seq)]) < TOL
    np.testing.assert_allclose([s for _, s in hyps], [s for _, s in ranked], rtol=0, atol=TOL)


@given(seed=st.integers(0, 10_000), B=st.integers(1, 3), max_len=st.integers(1, 4), k=st.integers(1, 5))
def test_seq2seq_beam_batch_equals_each_input_alone(seed, B, max_len, k):
    tables = markov_table(seed, 2.0, rows=B)
    hyps = seq2seq_beam_search(table_step(tables, per_input=k), B, SOS, EOS, max_len, k, length_penalty=0.5)
    for b in range(B):
        alone = beam(tables[b], max_len, k, length_penalty=0.5)
        assert [s for s, _ in hyps[b]] == [s for s, _ in alone]
        np.testing.assert_allclose([x for _, x in hyps[b]], [x for _, x in alone], rtol=0, atol=TOL)


@given(seed=st.integers(0, 10_000), max_len=st.integers(2, 4), k=st.integers(1, 5))
def test_seq2seq_beam_narrow_scores_are_exact_and_not_better_than_best(seed, max_len, k):
    table = markov_table(seed, 3.0)[0]
    exact = brute_force_seq2seq(table, max_len)
    ranked = sorted(exact.values(), reverse=True)
    hyps = beam(table, max_len, k)
    assert 1 <= len(hyps) <= k
    assert [s for _, s in hyps] == sorted((s for _, s in hyps), reverse=True)
    if len(hyps[0][0]) == max_len:         # none finished: the live beams come back, scored without eos
        for seq, score in hyps:
            assert len(seq) == max_len
            assert abs(score - sequence_score(table, seq)) < TOL
    else:
        for seq, score in hyps:
            assert abs(score - exact[tuple(seq)]) < TOL                # scores are exact log probs
        assert hyps[0][1] <= ranked[0] + TOL
    wide = beam(table, max_len, 128)
    np.testing.assert_allclose([s for _, s in wide[:k]], ranked[:k], rtol=0, atol=TOL)


@given(seed=st.integers(0, 10_000), max_len=st.integers(1, 8))
def test_seq2seq_beam_width_one_equals_greedy_when_greedy_finishes(seed, max_len):
    table = markov_table(seed, 2.0)[0]
    greedy = seq2seq_greedy_decode(table_step(table), 1, SOS, EOS, max_len)[0].tolist()
    if greedy[-1] != EOS:
        # make greedy finish: eos becomes the best next token of the row its last step read (greedy
        # then ends there, or earlier if it read that row before); the row's other entries keep their order
        prev = ([SOS] + greedy)[-2]
        table = table.clone()
        table[prev, EOS] = table[prev].max() + 1.0
        table[prev] = table[prev].log_softmax(-1)
        greedy = seq2seq_greedy_decode(table_step(table), 1, SOS, EOS, max_len)[0].tolist()
    assert greedy[-1] == EOS
    [(seq, score)] = beam(table, max_len, 1)
    assert seq == greedy[:-1]
    assert abs(score - sequence_score(table, greedy)) < TOL


def test_seq2seq_beam_batches_rows_in_one_call():
    table = markov_table(3, 1.0)[0]
    shapes = []

    def step_fn(tokens, state):
        shapes.append(tuple(tokens.shape))
        assert tokens.dtype == torch.long and (tokens[:, 0] == SOS).all()
        return table[tokens[:, -1]], state

    seq2seq_beam_search(step_fn, 2, SOS, EOS, 4, beam_width=3)
    assert all(shape == (6, i + 1) for i, shape in enumerate(shapes))


def test_seq2seq_beam_width_one_ignores_eos_outside_the_beam():
    # sos -> 0 (0.5) or eos (0.3); 0 -> eos (0.4). The beam of one follows 0 and finishes [0]
    # with 0.5 * 0.4 = 0.2; the eos of step 1 (0.3, ranked second) is outside the beam. Width 2 finds it.
    table = torch.full((V + 1, V), 0.1, dtype=torch.float64)
    table[SOS] = torch.tensor([0.5, 0.1, 0.1, 0.3], dtype=torch.float64)
    table[0] = torch.tensor([0.2, 0.2, 0.2, 0.4], dtype=torch.float64)
    table = table.log()
    assert seq2seq_greedy_decode(table_step(table), 1, SOS, EOS, 5).tolist() == [[0, EOS]]
    [(seq, score)] = beam(table, 5, 1)
    assert seq == [0] and abs(score - math.log(0.2)) < TOL
    (seq, score), _ = beam(table, 5, 2)
    assert seq == [] and abs(score - math.log(0.3)) < TOL


# ---------------------------------------------------------------- fusion
@given(seed=st.integers(0, 10_000), max_len=st.integers(1, 4), order=st.integers(1, 3),
       weight=st.sampled_from([0.3, 1.5]), length_penalty=st.sampled_from([0.0, 1.0]))
def test_seq2seq_beam_with_ngram_fusion_wide_is_exact(seed, max_len, order, weight, length_penalty):
    table = markov_table(seed, 1.0)[0]
    rng = np.random.default_rng(seed)
    lm = NGramLM.train([rng.integers(0, V - 1, size=rng.integers(0, 5)).tolist() for _ in range(10)],
                       vocab_size=V, order=order)
    exact = brute_force_seq2seq(table, max_len, length_penalty, lambda seq: weight * lm.sequence_log_prob(seq))
    hyps = beam(table, max_len, 128, length_penalty=length_penalty, scorers=[(weight, lm)])
    assert len(hyps) == len(exact)
    for seq, score in hyps:
        assert abs(score - exact[tuple(seq)]) < TOL
    assert tuple(hyps[0][0]) == max(exact, key=exact.get)


def test_seq2seq_beam_fusion_changes_the_ranking_where_it_must():
    # model: "0" (0.5 * 0.9) beats "1" (0.4 * 0.9); the LM has only seen "1"
    table = torch.full((V + 1, V), 0.05, dtype=torch.float64)
    table[SOS] = torch.tensor([0.5, 0.4, 0.05, 0.05], dtype=torch.float64)
    table[0] = table[1] = torch.tensor([0.05, 0.03, 0.02, 0.9], dtype=torch.float64)
    table = table.log()
    lm = NGramLM.train([[1]] * 20, vocab_size=V, order=2)
    assert beam(table, 3, 4)[0][0] == [0]
    assert beam(table, 3, 4, scorers=[(1.0, lm)])[0][0] == [1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), max_len=st.integers(1, 3), T=st.integers(1, 5),
       ctc_weight=st.sampled_from([0.3, 1.0]))
def test_seq2seq_beam_with_ctc_prefix_scorer_wide_is_exact(seed, max_len, T, ctc_weight):
    # joint decoding: a finished hypothesis y scores log P_att(y eos) + w log P_ctc(y) (the prefix
    # increments telescope). CTC classes: tokens 0..2, eos 3 (a class the CTC may emit), blank 4
    g = torch.Generator().manual_seed(seed)
    table = markov_table(seed, 1.0)[0]
    ctc = torch.log_softmax(2 * torch.randn(1, T, V + 1, generator=g, dtype=torch.float64), -1)
    ctc_exact = brute_force_ctc(ctc[0].numpy(), blank=V)
    scorer = CTCPrefixScorer(ctc, torch.tensor([T]), blank=V, eos=EOS, beam_width=128, vocab_size=V)
    exact = brute_force_seq2seq(table, max_len, 0.0, lambda seq: ctc_weight * ctc_exact.get(seq, -math.inf))
    exact = {s: v for s, v in exact.items() if v > -math.inf}
    hyps = beam(table, max_len, 128, scorers=[(ctc_weight, scorer)])
    assert len(hyps) == len(exact)
    for seq, score in hyps:
        assert abs(score - exact[tuple(seq)]) < 1e-8
    assert tuple(hyps[0][0]) == max(exact, key=exact.get)


# ---------------------------------------------------------------- cached step functions
class TinyDecoder(torch.nn.Module):
    """GRU decoder over tokens conditioned on one context vector per input."""

    def __init__(self, seed, hidden=8):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = torch.nn.Embedding(V + 1, hidden).double()
        self.cell = torch.nn.GRUCell(hidden, hidden).double()
        self.out = torch.nn.Linear(hidden, V).double()

    def uncached(self, context):
        """Reruns the GRU over all tokens at every step (context (N, hidden) repeated per beam)."""
        def step_fn(tokens, state):
            h = context
            for t in range(tokens.shape[1]):
                h = self.cell(self.emb(tokens[:, t]), h)
            return torch.log_softmax(self.out(h), -1), state
        return step_fn

    def cached(self):
        """Reads only the newest token; the hidden state is the cache in ``state``."""
        def step_fn(tokens, state):
            h = self.cell(self.emb(tokens[:, -1]), state["h"])
            return torch.log_softmax(self.out(h), -1), {"h": h}
        return step_fn


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), B=st.integers(1, 3), k=st.integers(1, 4),
       length_penalty=st.sampled_from([0.0, 1.0]))
def test_cached_and_uncached_step_functions_decode_identically(seed, B, k, length_penalty):
    model = TinyDecoder(seed)
    context = torch.randn(B, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        greedy_plain = seq2seq_greedy_decode(model.uncached(context), B, SOS, EOS, 6)
        greedy_cached = seq2seq_greedy_decode(model.cached(), B, SOS, EOS, 6, state={"h": context})
        assert torch.equal(greedy_plain, greedy_cached)
        beams = context.repeat_interleave(k, 0)                                # rows b*k .. b*k+k-1
        plain = seq2seq_beam_search(model.uncached(beams), B, SOS, EOS, 6, k, length_penalty)
        cached = seq2seq_beam_search(model.cached(), B, SOS, EOS, 6, k, length_penalty, state={"h": beams})
    for b in range(B):
        assert [s for s, _ in plain[b]] == [s for s, _ in cached[b]]
        np.testing.assert_allclose([x for _, x in plain[b]], [x for _, x in cached[b]], rtol=0, atol=1e-12)


# ---------------------------------------------------------------- pre-beam partial scoring, scorer sizes
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), max_len=st.integers(1, 4), T=st.integers(1, 6), k=st.integers(1, 3))
def test_seq2seq_pre_beam_of_every_token_is_the_full_search(seed, max_len, T, k):
    g = torch.Generator().manual_seed(seed)
    table = markov_table(seed, 1.0)[0]
    ctc = torch.log_softmax(2 * torch.randn(1, T, V + 1, generator=g, dtype=torch.float64), -1)

    def run(pre_beam):                                     # the decoder's k best only (no supported tokens)
        scorer = CTCPrefixScorer(ctc, torch.tensor([T]), blank=V, eos=EOS, beam_width=k, vocab_size=V,
                                 pre_beam_floor=None)
        return beam(table, max_len, k, scorers=[(0.5, scorer)], pre_beam=pre_beam)

    full = run(V)
    # pre_beam = V scores every token: the same as a scorer without partial scoring
    scorer = CTCPrefixScorer(ctc, torch.tensor([T]), blank=V, eos=EOS, beam_width=k, vocab_size=V)

    class Full:                                            # the same scorer, without partial_log_probs
        vocab_size = V
        initial, log_probs, advance = scorer.initial, scorer.log_probs, scorer.advance
        select, final = scorer.select, scorer.final

    reference = beam(table, max_len, k, scorers=[(0.5, Full())], pre_beam=1)
    assert [s for s, _ in full] == [s for s, _ in reference]
    np.testing.assert_allclose([x for _, x in full], [x for _, x in reference], rtol=0, atol=1e-12)
    # a narrow pre-beam returns hypotheses whose scores are still exact (its tokens are scored in full)
    exact = brute_force_seq2seq(table, max_len, 0.0, lambda seq: 0.5 * brute_force_ctc(ctc[0].numpy(), blank=V)
                                .get(seq, -math.inf))
    for pre_beam in (1, 2, V - 1):
        hyps = run(pre_beam)
        assert [x for _, x in hyps] == sorted((x for _, x in hyps), reverse=True)
        for seq, score in hyps:
            if len(seq) < max_len:
                assert abs(score - exact[tuple(seq)]) < 1e-8


def dominant_ctc_case(seed, V_=12):
    """An uninformative decoder (random log probs by last token; sos V_, eos V_ - 1) and a CTC head sure
    of a path (logits 20 on it; blank V_): (step_fn, scorer factory, the path's labels)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, V_ - 1, (int(torch.randint(3, 7, (1,), generator=g)),), generator=g).tolist()
    path = []
    for c in labels:
        path += [c] * int(torch.randint(1, 4, (1,), generator=g)) + [V_]      # a blank after each label
    ctc = torch.log_softmax(20.0 * torch.nn.functional.one_hot(torch.tensor([path]), V_ + 1).double(), -1)
    table = torch.log_softmax(torch.randn(V_ + 1, V_, generator=g, dtype=torch.float64), -1)

    def scorer(**kwargs):
        return CTCPrefixScorer(ctc, torch.tensor([len(path)]), blank=V_, eos=V_ - 1, beam_width=3, vocab_size=V_,
                               **kwargs)
    return (lambda tokens, state: (table[tokens[:, -1]], state)), scorer, labels


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_pre_beam_keeps_the_tokens_a_dominant_ctc_head_supports(seed):
    # weight 10 on the CTC: full scoring returns the CTC's path; so does a pre-beam of 2 (the default
    # here is 5), which scores the CTC's supported tokens besides the decoder's 2 best
    step, scorer, labels = dominant_ctc_case(seed)
    runs = {pre_beam: seq2seq_beam_search(step, 1, 12, 11, 10, 3, scorers=[(10.0, scorer())], pre_beam=pre_beam)[0]
            for pre_beam in (None, 2, "auto")}
    assert runs[None][0][0] == labels
    for pre_beam in (2, "auto"):
        assert runs[pre_beam][0][0] == labels
        assert abs(runs[pre_beam][0][1] - runs[None][0][1]) < 1e-9


def test_pre_beam_of_the_decoder_alone_loses_what_a_dominant_ctc_head_finds():
    # the failure the supported tokens prevent: without them (pre_beam_floor=None, ESPnet's pre-beam)
    # the CTC can only choose among the uninformative decoder's 2 best tokens
    step, scorer, labels = dominant_ctc_case(0)
    hyps = seq2seq_beam_search(step, 1, 12, 11, 10, 3, scorers=[(10.0, scorer(pre_beam_floor=None))], pre_beam=2)[0]
    assert hyps[0][0] != labels


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 3))
def test_pre_beam_that_covers_every_token_is_the_full_search(seed, k):
    # every class peaks in some frame: the supported tokens plus the decoder's best cover the
    # vocabulary, and the search scores every token, as pre_beam=None does
    g = torch.Generator().manual_seed(seed)
    table = markov_table(seed, 1.0)[0]
    ctc = torch.randn(1, 2 * (V + 1), V + 1, generator=g, dtype=torch.float64)
    ctc[0, torch.arange(2 * (V + 1)), torch.arange(2 * (V + 1)) % (V + 1)] += 4.0
    scorer = CTCPrefixScorer(ctc.log_softmax(-1), torch.tensor([2 * (V + 1)]), blank=V, eos=EOS, beam_width=k,
                             vocab_size=V)
    assert int((scorer.support >= 0).sum()) == V                          # the 3 tokens and eos
    full, part = (beam(table, 4, k, scorers=[(0.5, scorer)], pre_beam=p) for p in (None, 1))
    assert [s for s, _ in full] == [s for s, _ in part]
    np.testing.assert_allclose([x for _, x in full], [x for _, x in part], rtol=0, atol=1e-12)


def test_seq2seq_refuses_a_scorer_of_another_vocabulary_size():
    table = markov_table(0)[0]
    for size in (V - 1, 1000):                           # smaller or larger than the decoder's V
        lm = NGramLM.train([[0, 1, 2]], vocab_size=size, order=2)
        with pytest.raises(ValueError, match=f"scores {size} tokens but step_fn gives {V}"):
            beam(table, 3, 2, scorers=[(0.5, lm)])
    with pytest.raises(ValueError, match="pre_beam"):
        beam(table, 3, 2, pre_beam=0)
