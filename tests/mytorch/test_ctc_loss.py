"""CTCLoss value and gradient against torch.nn.functional.ctc_loss(log(probs),
reduction='sum') / N with autograd through the log, on random padded batches, float64:
convention="torch" equals it; the course's convention (the default) has the gradient N times
torch's and the value the course's divergence -sum gamma log y (checked by brute force over
all alignments).

torch's ctc_loss backward assumes a log_softmax upstream and returns exp(log_probs) - gamma
as the gradient of its log-probabilities; through log(probs) that adds exactly 1/N to every
entry inside the input lengths. The reference gradient below removes that term.
Tolerance: rtol=1e-9, atol=1e-10."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.nn import CTCLoss

TOL = {"rtol": 1e-9, "atol": 1e-10}


def torch_reference(probs, target, input_lengths, target_lengths):
    N = probs.shape[1]
    p = torch.tensor(probs, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(p.log(), torch.tensor(target), torch.tensor(input_lengths),
                                        torch.tensor(target_lengths), reduction="sum") / N
    loss.backward()
    inside = np.arange(probs.shape[0])[:, None] < np.asarray(input_lengths)          # (T, N)
    return loss.item(), p.grad.numpy() - inside[:, :, None] / N


@st.composite
def padded_batches(draw):
    T = draw(st.integers(1, 30))
    N = draw(st.integers(1, 5))
    C = draw(st.integers(2, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    input_lengths = rng.integers(1, T + 1, size=N)
    input_lengths[rng.integers(N)] = T                       # torch requires one full length
    # at most T_n // 2 symbols: always alignable, even with repeats
    target_lengths = np.array([rng.integers(0, t // 2 + 1) for t in input_lengths])
    L = max(int(target_lengths.max()), 1)
    target = rng.integers(0, C, size=(N, L))                  # padding may hold anything...
    for n, l in enumerate(target_lengths):
        target[n, :l] = rng.integers(1, C, size=l)            # ...but the targets are no blank
    peaky = draw(st.sampled_from([1.0, 4.0]))                 # flat or confident outputs
    logits = rng.normal(size=(T, N, C)) * peaky
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True), target, input_lengths, target_lengths


@given(padded_batches())
def test_ctc_loss_and_gradient_match_torch(batch):
    probs, _, input_lengths, _ = batch
    ref_loss, ref_grad = torch_reference(*batch)
    ctc = CTCLoss(BLANK=0, convention="torch")
    np.testing.assert_allclose(ctc.forward(*batch), ref_loss, **TOL)
    grad = ctc.backward()
    assert grad.shape == probs.shape
    np.testing.assert_allclose(grad, ref_grad, **TOL)
    course = CTCLoss(BLANK=0)                                 # the course's: not / N
    course.forward(*batch)
    np.testing.assert_allclose(course.backward(), ref_grad * probs.shape[1], **TOL)
    beyond = np.arange(probs.shape[0])[:, None] >= input_lengths
    assert not grad[beyond].any()                             # zero beyond the lengths
    for gamma in ctc.gammas:                                  # posteriors: one state per frame
        np.testing.assert_allclose(gamma.sum(axis=1), 1.0, rtol=1e-9)


def test_ctc_loss_blank_other_than_zero_matches_torch():
    rng = np.random.default_rng(3)
    T, N, C = 12, 2, 5
    probs = rng.dirichlet(np.ones(C), size=(T, N))
    target = np.array([[0, 1, 1], [2, 3, 0]])                 # blank is 4 here
    lengths = (np.array([12, 9]), np.array([3, 2]))
    p = torch.tensor(probs, requires_grad=True)
    ref = torch.nn.functional.ctc_loss(p.log(), torch.tensor(target), *map(torch.tensor, lengths),
                                       blank=4, reduction="sum") / N
    np.testing.assert_allclose(CTCLoss(BLANK=4, convention="torch").forward(probs, target,
                                                                            *lengths),
                               ref.item(), **TOL)


def test_impossible_alignment_gives_infinite_loss_like_torch():
    probs = np.full((2, 1, 3), 1 / 3)                         # 2 frames cannot emit "1 1"
    target, lengths = np.array([[1, 1]]), (np.array([2]), np.array([2]))
    ref = torch.nn.functional.ctc_loss(torch.tensor(probs).log(), torch.tensor(target),
                                       *map(torch.tensor, lengths), reduction="sum")
    assert np.isinf(ref.item())
    assert np.isinf(CTCLoss(convention="torch").forward(probs, target, *lengths))
    assert np.isinf(CTCLoss().forward(probs, target, *lengths))


def test_float32_probabilities_give_a_float32_gradient():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(4), size=(6, 2)).astype(np.float32)
    ctc = CTCLoss()
    ctc.forward(probs, np.array([[1, 2], [3, 0]]), np.array([6, 5]), np.array([2, 1]))
    assert ctc.backward().dtype == np.float32


def brute_force_divergence(y, target):
    """The course's divergence of one utterance by enumeration of every frame labelling:
    -sum_t sum_c q(t, c) log y_t(c), q(t, c) the posterior probability (given the target)
    that the alignment emits class c at frame t; and -log P."""
    T, C = y.shape
    q, P = np.zeros((T, C)), 0.0
    for path in itertools.product(range(C), repeat=T):
        collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
        if collapsed == list(target):
            prob = np.prod(y[np.arange(T), path])
            P += prob
            q[np.arange(T), path] += prob
    q /= P
    return -np.sum(q * np.log(y)), -np.log(P)


@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(1, 3))
def test_course_divergence_matches_brute_force(seed, T, N):
    rng = np.random.default_rng(seed)
    C = 3
    probs = rng.dirichlet(np.ones(C), size=(T, N))
    input_lengths = rng.integers(1, T + 1, size=N)
    target_lengths = np.array([rng.integers(0, t // 2 + 1) for t in input_lengths])
    target = rng.integers(1, C, size=(N, max(int(target_lengths.max()), 1)))
    divergences, nlls = zip(*(brute_force_divergence(probs[:input_lengths[n], n],
                                                     target[n, :target_lengths[n]])
                              for n in range(N)))
    ctc = CTCLoss()
    value = ctc.forward(probs, target, input_lengths, target_lengths)
    assert isinstance(value, np.floating) and value.round(4) == np.round(value, 4)
    np.testing.assert_allclose(value, np.mean(divergences), **TOL)
    np.testing.assert_allclose(CTCLoss(convention="torch").forward(
        probs, target, input_lengths, target_lengths), np.mean(nlls), **TOL)
    assert [len(e) for e in ctc.extended_symbols] == list(2 * target_lengths + 1)
    assert all(g.shape == (t, 2 * s + 1) for g, t, s in
               zip(ctc.gammas, input_lengths, target_lengths))


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="convention must be one of"):
        CTCLoss(convention="mean")


@pytest.mark.parametrize("args, message", [
    ((np.ones((5, 3)), np.ones((2, 2)), [5, 5], [2, 2]), r"\(T, N, C\), got \(5, 3\)"),
    ((np.ones((5, 2, 3)), np.ones((3, 2)), [5, 5], [2, 2]), r"target of shape \(2, L\), got \(3, 2\)"),
    ((np.ones((5, 2, 3)), np.ones((2, 2)), [5], [2, 2]), r"input_lengths of shape \(2,\), got \(1,\)"),
    ((np.ones((5, 2, 3)), np.ones((2, 2)), [6, 5], [2, 2]), r"input_lengths must lie in \[0, 5\]"),
    ((np.ones((5, 2, 3)), np.ones((2, 2)), [5, 5], [3, 2]), r"target_lengths must lie in \[0, 2\]"),
    ((np.ones((5, 2, 3)), np.array([[1, 3], [1, 1]]), [5, 5], [2, 2]), r"in \[0, 3\).*got values \[1, 3\]"),
])
def test_ctc_loss_shape_errors_name_expected_and_received(args, message):
    with pytest.raises(ValueError, match=message):
        CTCLoss().forward(*args)
