"""CTC recursions (alpha, beta, gamma) against brute-force enumeration of every alignment,
in probability and in log space; the log space against torch on a long input where the
probability space underflows. Tolerance: rtol=1e-9 (float64 sums of a few thousand terms)."""
import itertools

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.nn import CTC

TOL = {"rtol": 1e-9, "atol": 1e-12}


def brute_force_paths(y, target, blank=0):
    """Enumerate all C^T alignments; return P(target) and the unnormalised posterior
    sum over alignments of P(alignment) for each (frame, extended state) it passes."""
    T, C = y.shape
    S = 2 * len(target) + 1
    total, through = 0.0, np.zeros((T, S))
    for alignment in itertools.product(range(C), repeat=T):
        labels, states, prev = [], [], blank
        for k in alignment:
            if k != blank and k != prev:
                labels.append(k)                               # a new symbol starts
            states.append(2 * len(labels) if k == blank else 2 * len(labels) - 1)
            prev = k
        if labels != list(target):
            continue
        p = np.prod(y[np.arange(T), alignment])
        total += p
        through[np.arange(T), states] += p
    return total, through


def random_problem(data):
    T = data.draw(st.integers(1, 6), label="T")
    target = data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=3), label="target")
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    y = rng.dirichlet(np.ones(4), size=T)                      # (T, 4): blank + 3 symbols
    return y, np.array(target, dtype=np.int64)


def test_extend_target_with_blank_course_example():
    ext, skip = CTC(BLANK=0).extend_target_with_blank(np.array([1, 2, 2, 3]))
    np.testing.assert_array_equal(ext, [0, 1, 0, 2, 0, 2, 0, 3, 0])
    # a skip (r-2 -> r) is allowed into a symbol unlike the one two states before
    np.testing.assert_array_equal(skip, [0, 0, 0, 1, 0, 0, 0, 1, 0])


@given(st.data())
def test_posterior_matches_brute_force(data):
    y, target = random_problem(data)
    total, through = brute_force_paths(y, target)
    ctc = CTC()
    ext, skip = ctc.extend_target_with_blank(target)
    alpha = ctc.get_forward_probs(y, ext, skip)
    beta = ctc.get_backward_probs(y, ext, skip)
    # alpha * beta sums the probabilities of the alignments through (t, r)
    np.testing.assert_allclose(alpha * beta, through, **TOL)
    if total > 0:
        np.testing.assert_allclose(ctc.get_posterior_probs(alpha, beta), through / total, **TOL)
        log_y = np.log(y)
        log_gamma = ctc.get_posterior_log_probs(ctc.get_forward_log_probs(log_y, ext, skip),
                                                ctc.get_backward_log_probs(log_y, ext, skip))
        np.testing.assert_allclose(np.exp(log_gamma), through / total, **TOL)


def test_log_space_survives_long_inputs_where_probabilities_underflow():
    rng = np.random.default_rng(0)
    T, C, L = 1500, 41, 120
    logits = rng.normal(size=(T, C))
    log_y = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    target = rng.integers(1, C, size=L)
    ctc = CTC()
    ext, skip = ctc.extend_target_with_blank(target)
    assert not ctc.get_forward_probs(np.exp(log_y), ext, skip)[-1].any()   # all underflowed
    log_alpha = ctc.get_forward_log_probs(log_y, ext, skip)
    log_likelihood = np.logaddexp(log_alpha[-1, -1], log_alpha[-1, -2])
    ref = torch.nn.functional.ctc_loss(torch.tensor(log_y)[:, None], torch.tensor(target)[None],
                                       torch.tensor([T]), torch.tensor([L]), reduction="sum")
    np.testing.assert_allclose(-log_likelihood, ref.item(), rtol=1e-10)
    # and the log posterior still sums to one at every frame
    log_gamma = ctc.get_posterior_log_probs(log_alpha, ctc.get_backward_log_probs(log_y, ext, skip))
    np.testing.assert_allclose(np.exp(log_gamma).sum(axis=1), 1.0, rtol=1e-9)
