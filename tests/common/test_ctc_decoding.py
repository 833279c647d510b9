"""CTC greedy and prefix beam search against hand-computed values, brute-force enumeration and pyctcdecode.

Every alignment of C classes over T frames (C**T paths) is collapsed and the path probabilities
are summed per sequence in float64, so the exact sequence distribution is known; with LM fusion
the fused score of every sequence is computed from it and the LM's own sequence probability.
"""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.lm import NeuralLM, NGramLM
from common.speech.decoding import ctc_beam_search, ctc_greedy_decode
from tests.common.test_lm import CachedAttentionLM

TOL = 1e-9
EXACT = {"prune_log_prob": None, "beam_prune_log_prob": None}      # the unpruned search


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
    hyps = ctc_beam_search(lp, lengths, beam_width=400, **EXACT)
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
    wide = ctc_beam_search(lp, beam_width=400, **EXACT)[0]
    assert len(wide) == len(exact)
    ranked = sorted(exact.items(), key=lambda kv: kv[1], reverse=True)
    # the k best sequences, in order (continuous random log probs: no ties)
    assert [tuple(s) for s, _ in wide[:k]] == [s for s, _ in ranked[:k]]


@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(2, 4))
def test_ctc_beam_width_one_is_valid_and_not_better_than_exact(seed, T, C):
    lp = random_log_probs(seed, 1, T, C, 1.0)
    exact = brute_force_ctc(lp[0].numpy())
    [(seq, score)] = ctc_beam_search(lp, beam_width=1, **EXACT)[0]
    assert tuple(seq) in exact and all(0 < c < C for c in seq)
    assert score <= exact[tuple(seq)] + TOL                  # only the mass kept in the beam
    assert score <= max(exact.values()) + TOL
    # lower bound: each frame keeps at least half of the mass times the frame's best probability
    # (all of it unless the best class repeats the prefix's last one: stay and extension split it)
    assert score >= float(lp[0].max(-1).values.sum()) - T * math.log(2) - TOL
    # and exactly the one-prefix recursion, written out
    assert tuple(seq) == width_one_reference(lp[0].tolist())[0]
    assert abs(score - width_one_reference(lp[0].tolist())[1]) < TOL


def width_one_reference(frames, blank=0):
    """Prefix beam search of width one in plain Python: (prefix, log mass of its kept alignments)."""
    prefix, pb, pnb = (), 0.0, -math.inf
    for row in frames:
        total = np.logaddexp(pb, pnb)
        last = prefix[-1] if prefix else None
        options = [(prefix, total + row[blank], pnb + row[last] if prefix else -math.inf)]
        for c, lpc in enumerate(row):
            if c != blank:
                options.append((prefix + (c,), -math.inf, (pb if c == last else total) + lpc))
        prefix, pb, pnb = max(options, key=lambda o: np.logaddexp(o[1], o[2]))
    return prefix, float(np.logaddexp(pb, pnb))


@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(3, 4))
def test_ctc_beam_pruning_equals_brute_force_over_kept_symbols(seed, T, C):
    lp = random_log_probs(seed, 1, T, C, 2.0)
    threshold = math.log(0.2)
    frames = lp[0].numpy()
    allowed = frames >= threshold
    allowed[np.arange(T), frames.argmax(1)] = True
    exact = brute_force_ctc(frames, allowed)
    hyps = ctc_beam_search(lp, beam_width=400, prune_log_prob=threshold, beam_prune_log_prob=None)[0]
    assert len(hyps) == len(exact)
    check_against_brute_force(hyps, exact)


def test_ctc_beam_other_blank_and_float32_input():
    lp = random_log_probs(7, 1, 4, 3, 2.0)
    exact = brute_force_ctc(lp[0].numpy(), blank=2)
    hyps = ctc_beam_search(lp.float(), beam_width=100, blank=2, **EXACT)[0]
    assert all(2 not in seq for seq, _ in hyps)
    assert tuple(hyps[0][0]) == max(exact, key=exact.get)
    assert abs(hyps[0][1] - max(exact.values())) < 1e-5      # float32 input




# ---------------------------------------------------------------- batching
@given(seed=st.integers(0, 10_000), width=st.sampled_from([1, 3, 10]))
def test_ctc_beam_batch_equals_each_utterance_alone(seed, width):
    g = torch.Generator().manual_seed(seed)
    lp = random_log_probs(seed, 4, 12, 5, 2.0)
    lengths = torch.randint(0, 13, (4,), generator=g)
    batch = ctc_beam_search(lp, lengths, beam_width=width)
    for b in range(4):
        alone = ctc_beam_search(lp[b:b + 1, :int(lengths[b])], beam_width=width)[0]
        assert [s for s, _ in batch[b]] == [s for s, _ in alone]
        np.testing.assert_allclose([x for _, x in batch[b]], [x for _, x in alone], rtol=0, atol=TOL)


@settings(max_examples=30)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 12), C=st.integers(2, 6))
def test_ctc_beam_width_one_equals_greedy_on_peaky_posteriors(seed, T, C):
    # a prefix is scored by all of its alignments, so on flat posteriors a beam of one can differ
    # from the best path; when one class holds >= 0.95 of every frame the two must agree
    g = torch.Generator().manual_seed(seed)
    best = torch.randint(0, C, (3, T), generator=g)
    probs = torch.rand(3, T, C, generator=g, dtype=torch.float64)
    probs = 0.05 * probs / probs.sum(-1, keepdim=True)
    probs.scatter_add_(2, best[..., None], torch.full((3, T, 1), 0.95, dtype=torch.float64))
    lengths = torch.randint(0, T + 1, (3,), generator=g)
    hyps = ctc_beam_search(probs.log(), lengths, beam_width=1)
    assert [h[0][0] for h in hyps] == ctc_greedy_decode(probs.log(), lengths)


# ---------------------------------------------------------------- shallow fusion
def random_ngram(seed, C, order, smoothing="kneser_ney"):
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(1, C, size=rng.integers(0, 6)).tolist() for _ in range(12)]
    return NGramLM.train(sequences, vocab_size=C, order=order, smoothing=smoothing)


@given(seed=st.integers(0, 10_000), T=st.integers(1, 4), C=st.integers(2, 4), order=st.integers(1, 3),
       lm_weight=st.sampled_from([0.5, 2.0]), bonus=st.sampled_from([0.0, 0.7]))
def test_ctc_beam_with_ngram_fusion_wide_is_exact(seed, T, C, order, lm_weight, bonus):
    lp = random_log_probs(seed, 2, T, C, 2.0)
    lengths = torch.tensor([T, max(T - 1, 0)])
    lm = random_ngram(seed, C, order)
    hyps = ctc_beam_search(lp, lengths, beam_width=400, lm=lm, lm_weight=lm_weight, insertion_bonus=bonus,
                           **EXACT)
    for b in range(2):
        exact = {seq: score + lm_weight * lm.sequence_log_prob(seq) + bonus * len(seq)
                 for seq, score in brute_force_ctc(lp[b, :lengths[b]].numpy()).items()}
        assert len(hyps[b]) == len(exact)
        check_against_brute_force(hyps[b], exact)
        assert tuple(hyps[b][0][0]) == max(exact, key=exact.get)


def test_ctc_fusion_changes_the_ranking_where_it_must():
    # CTC alone: "1" (P = 0.55 per frame) beats "2" (0.45); the LM has only ever seen "2" and
    # gives "1" almost nothing: with weight 1 the fused best must be "2"
    lp = torch.tensor([[0.0, 0.55, 0.45]], dtype=torch.float64).clamp(min=1e-12).log()[None]
    lm = NGramLM.train([[2]] * 20, vocab_size=3, order=2)
    assert lm.sequence_log_prob([2]) - lm.sequence_log_prob([1]) > 2
    assert ctc_beam_search(lp, beam_width=4)[0][0][0] == [1]
    assert ctc_beam_search(lp, beam_width=4, lm=lm, lm_weight=1.0)[0][0][0] == [2]
    # a large insertion penalty prefers fewer tokens: the empty sequence needs a blank (1e-12)
    fused = ctc_beam_search(lp, beam_width=4, lm=lm, lm_weight=0.0, insertion_bonus=-40.0, **EXACT)[0][0]
    assert fused[0] == [] and abs(fused[1] - math.log(1e-12)) < 1e-6


class TinyCausalLM(torch.nn.Module):
    """Logits of the next token from an embedding of the sum of the history (causal, order-free)."""

    def __init__(self, V, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.nn.Parameter(torch.randn(V + 1, 8, generator=g, dtype=torch.float64))
        self.out = torch.nn.Parameter(torch.randn(8, V, generator=g, dtype=torch.float64))

    def forward(self, tokens):                                    # (N, t) -> (N, t, V)
        return torch.tanh(self.emb[tokens].cumsum(1)) @ self.out


def neural_sequence_log_prob(model, seq, sos, eos):
    tokens = torch.tensor([[sos] + list(seq)])
    lp = torch.log_softmax(model(tokens)[0].detach(), -1)
    return float(sum(lp[i, t] for i, t in enumerate(list(seq) + [eos])))


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 4), C=st.integers(3, 4))
def test_ctc_beam_with_neural_lm_fusion_wide_is_exact(seed, T, C):
    # the LM's vocabulary is the CTC classes; class C - 1 doubles as its eos, sos is an extra id
    model = TinyCausalLM(C, seed)
    lm = NeuralLM(model, sos=C, eos=C - 1, vocab_size=C)
    lp = random_log_probs(seed, 2, T, C, 2.0)
    lengths = torch.tensor([T, max(T - 2, 0)])
    hyps = ctc_beam_search(lp, lengths, beam_width=400, lm=lm, lm_weight=0.8, insertion_bonus=0.3, **EXACT)
    for b in range(2):
        exact = {seq: score + 0.8 * neural_sequence_log_prob(model, seq, C, C - 1) + 0.3 * len(seq)
                 for seq, score in brute_force_ctc(lp[b, :lengths[b]].numpy()).items()}
        check_against_brute_force(hyps[b], exact)
        assert len(hyps[b]) == len(exact)


def test_ctc_lm_vocabulary_mismatch_is_an_error():
    lm = NGramLM.train([[1, 2]], vocab_size=5, order=2)
    with pytest.raises(ValueError, match="5 tokens.*3 classes"):
        ctc_beam_search(torch.zeros(1, 2, 3), lm=lm, lm_weight=1.0)


# ---------------------------------------------------------------- pyctcdecode
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(2, 4))
def test_ctc_beam_equals_pyctcdecode_without_lm(seed, T, C):
    pyctcdecode = pytest.importorskip("pyctcdecode")
    labels = [""] + list("abc")[:C - 1]
    decoder = pyctcdecode.build_ctcdecoder(labels)
    lp = random_log_probs(seed, 1, T, C, 2.0)
    # both exact: pyctcdecode keeps (text, last symbol) pairs, at most 2 * 364 of them here
    theirs = decoder.decode_beams(lp[0].numpy(), beam_width=1000, beam_prune_logp=-1e9, token_min_logp=-1e9)
    ours = ctc_beam_search(lp, beam_width=400, **EXACT)[0]
    k = min(len(theirs), len(ours), 10)
    assert [[labels.index(ch) for ch in text] for text, *_ in theirs[:k]] == [s for s, _ in ours[:k]]
    np.testing.assert_allclose([beam[3] for beam in theirs[:k]], [s for _, s in ours[:k]], rtol=0, atol=1e-9)


def test_ctc_beam_best_matches_pyctcdecode_on_peaky_posteriors_at_width_10():
    pyctcdecode = pytest.importorskip("pyctcdecode")
    import logging
    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    labels = [""] + list("abcdefg")
    decoder = pyctcdecode.build_ctcdecoder(labels)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 60, 8, generator=g, dtype=torch.float64)
    path = torch.randint(0, 8, (6, 60, 1), generator=g)
    logits.scatter_add_(2, path, torch.full((6, 60, 1), 6.0, dtype=torch.float64))
    lp = torch.log_softmax(logits, -1)
    ours = ctc_beam_search(lp, beam_width=10)
    for b in range(6):
        text = decoder.decode_beams(lp[b].numpy(), beam_width=10, beam_prune_logp=-1e9, token_min_logp=-1e9)[0][0]
        assert [labels.index(ch) for ch in text] == ours[b][0][0]


# ---------------------------------------------------------------- pruning (the defaults and their switches)
def peaky_log_probs(seed, B, T, C, floor=1e-9):
    """A dominant class per frame (prob ~0.98) and the rest around ``floor``: below the default floor."""
    g = torch.Generator().manual_seed(seed)
    best = torch.randint(0, C, (B, T), generator=g)
    probs = floor * (1 + torch.rand(B, T, C, generator=g, dtype=torch.float64))
    probs.scatter_(2, best[..., None], 0.98)
    second = (best + 1 + torch.randint(0, C - 1, (B, T), generator=g)) % C     # a runner-up, above the floor
    probs.scatter_(2, second[..., None], 0.02)
    return (probs / probs.sum(-1, keepdim=True)).log()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 40), C=st.integers(3, 30), width=st.sampled_from([1, 4, 10]),
       batched=st.booleans())
def test_ctc_pruned_equals_unpruned_on_peaky_posteriors(seed, T, C, width, batched):
    lp = peaky_log_probs(seed, 3, T, C)
    lengths = torch.randint(0, T + 1, (3,), generator=torch.Generator().manual_seed(seed))
    pruned = ctc_beam_search(lp, lengths, beam_width=width, batched=batched)              # the defaults
    exact = ctc_beam_search(lp, lengths, beam_width=width, batched=batched, **EXACT)
    for p, e in zip(pruned, exact):
        # the same best sequence (its score may differ either way: the beams hold other prefixes)
        assert p[0][0] == e[0][0]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(2, 4), margin=st.sampled_from([-1.0, -3.0]),
       floor=st.sampled_from([None, math.log(0.05)]), batched=st.booleans())
def test_ctc_pruned_search_keeps_only_prefixes_within_the_margin(seed, T, C, margin, floor, batched):
    # against brute force: the pruned search never over-counts a prefix (its score <= the exact one),
    # and every prefix it returns scores, exactly, no lower than its best minus the margin
    lp = random_log_probs(seed, 1, T, C, 2.0)
    exact = brute_force_ctc(lp[0].numpy())
    hyps = ctc_beam_search(lp, beam_width=400, prune_log_prob=floor, beam_prune_log_prob=margin, batched=batched)[0]
    best = hyps[0][1]
    for seq, score in hyps:
        assert score <= exact[tuple(seq)] + TOL
        assert score >= best + margin - TOL
        assert exact[tuple(seq)] >= best + margin - TOL
    unpruned = ctc_beam_search(lp, beam_width=400, batched=batched, **EXACT)[0]
    assert len(unpruned) == len(exact) and len(hyps) <= len(exact)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 30), C=st.integers(6, 30), width=st.integers(1, 6),
       bonus=st.sampled_from([0.0, 0.7]))
def test_ctc_batched_equals_one_utterance_path_with_few_candidates(seed, T, C, width, bonus):
    # many classes, a narrow beam: the batched search tries only each frame's 2K best tokens, the
    # one-utterance path all of them (best first, stopping early); both are the same exact search
    lp = random_log_probs(seed, 3, T, C, 3.0)
    lengths = torch.randint(0, T + 1, (3,), generator=torch.Generator().manual_seed(seed))
    batch = ctc_beam_search(lp, lengths, beam_width=width, insertion_bonus=bonus, **EXACT)
    for b in range(3):
        alone = ctc_beam_search(lp[b:b + 1, :int(lengths[b])], beam_width=width, insertion_bonus=bonus,
                                batched=False, **EXACT)[0]
        assert [s for s, _ in batch[b]] == [s for s, _ in alone]
        np.testing.assert_allclose([x for _, x in batch[b]], [x for _, x in alone], rtol=0, atol=TOL)


def log_probs_with_blank_runs(seed, B, T, C, floor=-10.0):
    """Random posteriors where about half of the frames are blank-only (every other symbol below
    ``floor``), in runs; (B, T, C) float64 log probs and the blank-only mask."""
    g = torch.Generator().manual_seed(seed)
    lp = random_log_probs(seed, B, T, C, 2.0)
    blank_only = torch.rand(B, T, generator=g) < 0.6
    runs = floor - 3.0 - torch.rand(B, T, C, generator=g, dtype=torch.float64)
    runs[..., 0] = math.log1p(-(C - 1) * math.exp(floor - 3.0))                # about -1e-5 * (C - 1)
    return torch.where(blank_only[..., None], runs, lp), blank_only


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 30), C=st.integers(2, 6), width=st.sampled_from([1, 3, 10]),
       batched=st.booleans(), bonus=st.sampled_from([0.0, 0.5]))
def test_ctc_blank_only_runs_equal_one_summed_frame(seed, T, C, width, batched, bonus):
    # a run of frames where only the blank survives the floor is one step of the search: the same
    # hypotheses and scores as the input with each run written as one frame carrying the run's summed
    # blank log probability (an input with no two blank-only frames in a row: nothing to collapse)
    lp, blank_only = log_probs_with_blank_runs(seed, 3, T, C)
    lengths = torch.randint(0, T + 1, (3,), generator=torch.Generator().manual_seed(seed))
    runs = ctc_beam_search(lp, lengths, beam_width=width, batched=batched, insertion_bonus=bonus)
    for b in range(3):
        frames = []
        for t in range(int(lengths[b])):
            if blank_only[b, t] and t > 0 and blank_only[b, t - 1]:
                frames[-1][0] += lp[b, t, 0]
            else:
                frames.append(lp[b, t].clone())
        written = torch.stack(frames)[None] if frames else lp[b:b + 1, :0]
        alone = ctc_beam_search(written, beam_width=width, batched=batched, insertion_bonus=bonus)[0]
        assert [s for s, _ in runs[b]] == [s for s, _ in alone]
        np.testing.assert_allclose([x for _, x in runs[b]], [x for _, x in alone], rtol=0, atol=TOL)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 6), C=st.integers(2, 3), batched=st.booleans())
def test_ctc_blank_only_runs_against_brute_force(seed, T, C, batched):
    # the pruned search over the kept symbols (blank-only frames included) is exact at a wide beam
    lp, _ = log_probs_with_blank_runs(seed, 2, T, C)
    hyps = ctc_beam_search(lp, beam_width=400, batched=batched, beam_prune_log_prob=None)
    for b in range(2):
        frames = lp[b].numpy()
        allowed = frames >= -10.0
        allowed[np.arange(T), frames.argmax(1)] = True
        exact = brute_force_ctc(frames, allowed)
        assert len(hyps[b]) == len(exact)
        check_against_brute_force(hyps[b], exact)


def test_ctc_pruning_arguments_are_checked():
    with pytest.raises(ValueError, match="max_candidates"):
        ctc_beam_search(torch.zeros(1, 2, 3), max_candidates=0)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 12), width=st.sampled_from([1, 4]), batched=st.booleans())
def test_ctc_beam_with_cached_neural_lm_equals_uncached(seed, T, width, batched):
    # beams hold histories of different lengths: the cached LM batches its rows by length
    C = 5
    model = CachedAttentionLM(C + 1, seed, classes=C)            # inputs 0..C (C: sos), outputs the C classes
    lp = random_log_probs(seed, 2, T, C, 2.0)
    runs = [ctc_beam_search(lp, beam_width=width, lm=NeuralLM(model, sos=C, eos=C - 1, vocab_size=C, cached=cached),
                            lm_weight=0.8, batched=batched) for cached in (True, False)]
    for a, b in zip(*runs):
        assert [s for s, _ in a] == [s for s, _ in b]
        np.testing.assert_allclose([x for _, x in a], [x for _, x in b], rtol=0, atol=1e-9)
