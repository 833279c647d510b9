"""CTCPrefixScorer against brute-force summation over all alignments."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.speech.decoding import CTCPrefixScorer
from tests.common.test_ctc_decoding import brute_force_ctc


def brute_force(lp, blank):
    """lp (T, C) -> (prefix log prob function, whole-sequence log prob function) by enumeration."""
    sequences = brute_force_ctc(lp, blank=blank)                   # every alignment, collapsed and summed

    def prefix(h):
        values = [s for seq, s in sequences.items() if seq[:len(h)] == tuple(h)]
        return float(np.logaddexp.reduce(values)) if values else -np.inf

    def whole(h):
        return sequences.get(tuple(h), -np.inf)
    return prefix, whole


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), C=st.integers(2, 4), blank=st.integers(0, 3),
       width=st.integers(1, 3))
def test_prefix_scores_equal_brute_force(seed, T, C, blank, width):
    blank = blank % C
    g = torch.Generator().manual_seed(seed)
    lp = torch.log_softmax(2 * torch.randn(2, T, C, generator=g, dtype=torch.float64), -1)
    lengths = torch.tensor([T, max(T - 1, 1)])
    eos = C                                          # the decoder's eos is not a CTC class here
    scorer = CTCPrefixScorer(lp, lengths, blank=blank, eos=eos, beam_width=width, vocab_size=C + 1)
    labels = [c for c in range(C) if c != blank]
    refs = [brute_force(lp[b, :lengths[b]].numpy(), blank) for b in range(2)]
    # random hypotheses per row (repeats included), walked token by token
    rng = np.random.default_rng(seed)
    hyps = [rng.choice(labels, size=3).tolist() for _ in range(2 * width)]
    state = scorer.initial(2 * width)
    psi = np.zeros(2 * width)
    for step in range(4):
        scores = scorer.log_probs(state).numpy()                        # (rows, C + 1)
        for row in range(2 * width):
            prefix, whole = refs[row // width]
            h = hyps[row][:step]
            for c in labels:
                np.testing.assert_allclose(psi[row] + scores[row, c], prefix(h + [c]), atol=1e-9)
            assert scores[row, blank] == -np.inf
            np.testing.assert_allclose(psi[row] + scores[row, eos], whole(h), atol=1e-9)
            np.testing.assert_allclose(float(scorer.final(state)[row]), scores[row, eos], atol=1e-12)
        if step == 3:
            break
        tokens = torch.tensor([h[step] for h in hyps])
        psi = psi + scores[np.arange(2 * width), tokens.numpy()]
        state = scorer.advance(state, tokens)


def test_select_reorders_rows_and_negative_tokens_keep_them():
    lp = torch.log_softmax(torch.randn(1, 4, 3, dtype=torch.float64), -1)
    scorer = CTCPrefixScorer(lp, torch.tensor([4]), blank=0, eos=2, beam_width=2)
    state = scorer.advance(scorer.initial(2), torch.tensor([1, 2]))
    swapped = scorer.select(state, torch.tensor([1, 0]))
    torch.testing.assert_close(scorer.log_probs(swapped), scorer.log_probs(state)[[1, 0]])
    kept = scorer.advance(state, torch.tensor([-1, 1]))
    torch.testing.assert_close(kept["psi"][0], state["psi"][0])
    assert kept["length"].tolist() == [1, 2]


def test_unrolled_recursion_equals_frame_by_frame_on_long_utterances():
    # T = 600 frames: the cumulative sums reach thousands of nats; the recursion of the module
    # docstring, one frame at a time, must give the same forward variables and prefix scores
    g = torch.Generator().manual_seed(0)
    T, C, blank = 600, 6, 0
    lp = torch.log_softmax(3 * torch.randn(2, T, C, generator=g, dtype=torch.float64), -1)
    lengths = torch.tensor([T, 450])
    scorer = CTCPrefixScorer(lp, lengths, blank=blank, eos=C, beam_width=1, vocab_size=C + 1)
    state = scorer.initial(2)
    for step, tokens in enumerate([[1, 2], [1, 2], [3, 5], [3, 4]]):
        r_old, last = state["r"], state["last"]
        state = scorer.advance(state, torch.tensor(tokens))
        for row, c in enumerate(tokens):
            x = lp[row, :, c].clone()
            x[lengths[row]:] = -np.inf
            xb = lp[row, :, blank].clone()
            xb[lengths[row]:] = -np.inf
            phi = torch.logaddexp(r_old[row, :, 1], r_old[row, :, 0] if c != last[row] else torch.tensor(-np.inf))
            r_n = torch.full((T,), -np.inf, dtype=torch.float64)
            r_b = r_n.clone()
            r_n[0] = x[0] if step == 0 else -np.inf
            psi = r_n[0]
            for t in range(1, T):
                r_n[t] = torch.logaddexp(r_n[t - 1], phi[t - 1]) + x[t]
                r_b[t] = torch.logaddexp(r_b[t - 1], r_n[t - 1]) + xb[t]
                psi = torch.logaddexp(psi, phi[t - 1] + x[t])
            n = int(lengths[row])
            torch.testing.assert_close(state["r"][row, :n, 0], r_n[:n], rtol=1e-10, atol=1e-8)
            torch.testing.assert_close(state["r"][row, :n, 1], r_b[:n], rtol=1e-10, atol=1e-8)
            assert abs(float(state["psi"][row]) - float(psi)) < 1e-8


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 30), k=st.integers(1, 7))
def test_partial_scores_equal_the_full_ones_at_the_asked_tokens(seed, T, k):
    # pre-beam partial scoring (ESPnet): each row's own k tokens, eos and the blank included
    g = torch.Generator().manual_seed(seed)
    C = 6
    lp = torch.log_softmax(2 * torch.randn(2, T, C, generator=g, dtype=torch.float64), -1)
    scorer = CTCPrefixScorer(lp, torch.tensor([T, max(T - 3, 1)]), blank=0, eos=C, beam_width=2, vocab_size=C + 1)
    state = scorer.initial(4)
    for _ in range(4):
        full = scorer.log_probs(state)
        tokens = torch.randint(0, C + 1, (4, k), generator=g)
        part = scorer.partial_log_probs(state, tokens)
        expected = full.gather(1, tokens)
        assert torch.equal(part == -np.inf, expected == -np.inf)
        finite = expected > -np.inf
        torch.testing.assert_close(part[finite], expected[finite], rtol=0, atol=1e-9)
        state = scorer.advance(state, torch.randint(1, C, (4,), generator=g))
