"""Connectionist Temporal Classification: the forward-backward recursions and the loss.

A target (L symbols) is extended with blanks to S = 2L + 1 states ``[b, y1, b, y2, ..., b]``.
With y_t(k) the probability of class k at frame t:

    alpha[t, r] = (alpha[t-1, r] + alpha[t-1, r-1] + skip[r] alpha[t-1, r-2]) y_t(ext[r])
    beta[t, r]  = beta[t+1, r] y_{t+1}(ext[r]) + beta[t+1, r+1] y_{t+1}(ext[r+1])
                  + skip[r+2] beta[t+1, r+2] y_{t+1}(ext[r+2])        (frame t excluded)
    gamma[t, r] = alpha[t, r] beta[t, r] / sum_r' alpha[t, r'] beta[t, r']

``skip[r]`` is 1 where state r may be entered from r-2 (a symbol that differs from the
previous symbol). The same recursion runs in probability space (the course's form, which
underflows after a few hundred frames) and in log space (used by ``CTCLoss``): only the
meaning of "+" and "x" changes, so one batched implementation serves both (a semiring).
Batched arrays are (T, N, S); only the time loop is in Python.
"""
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["CTC", "CTCLoss"]


class Semiring(NamedTuple):
    zero: float                                   # "no path": 0 or log 0
    one: float                                    # "empty path": 1 or log 1
    add: Callable                                 # sum over paths
    mul: Callable                                 # extend a path by a frame


PROB = Semiring(0.0, 1.0, np.add, np.multiply)
LOG = Semiring(-np.inf, 0.0, np.logaddexp, np.add)


def shift(a, k, fill):
    """out[..., r] = a[..., r - k] (k > 0: to the right, k < 0: to the left), ``fill`` elsewhere."""
    out = np.full_like(a, fill)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


def extend_targets_with_blank(targets, target_lengths, blank=0):
    """targets (N, L) padded, target_lengths (N,) -> extended (N, 2L+1) with blanks between,
    around and after each target, skip (N, 2L+1) bool, and extended lengths 2 L_n + 1."""
    targets = np.asarray(targets).astype(np.int64, copy=False)
    target_lengths = np.asarray(target_lengths, dtype=np.int64)
    N, L = targets.shape
    valid = np.arange(L) < target_lengths[:, None]                    # (N, L)
    symbols = np.where(valid, targets, blank)
    extended = np.full((N, 2 * L + 1), blank, dtype=np.int64)
    extended[:, 1::2] = symbols
    skip = np.zeros((N, 2 * L + 1), dtype=bool)
    skip[:, 3::2] = valid[:, 1:] & (symbols[:, 1:] != symbols[:, :-1])
    return extended, skip, 2 * target_lengths + 1


def ctc_forward_recursion(y_ext, skip, sr=LOG):
    """y_ext (T, N, S): y_t(ext[n, r]) in ``sr`` (``sr.zero`` at padded states);
    skip (N, S) bool -> alpha (T, N, S)."""
    skip_w = np.where(skip, sr.one, sr.zero)
    alpha = np.full(y_ext.shape, sr.zero)
    alpha[0, :, :2] = y_ext[0, :, :2]                                 # start in b or y1
    for t in range(1, len(y_ext)):
        a = alpha[t - 1]
        paths = sr.add(sr.add(a, shift(a, 1, sr.zero)), sr.mul(shift(a, 2, sr.zero), skip_w))
        alpha[t] = sr.mul(paths, y_ext[t])
    return alpha


def ctc_backward_recursion(y_ext, skip, input_lengths, ext_lengths, sr=LOG):
    """beta (T, N, S), frame t excluded; item n ends at frame input_lengths[n] - 1 in one of
    its last two states, and is ``sr.zero`` from input_lengths[n] on."""
    T, N, S = y_ext.shape
    last_t = np.asarray(input_lengths) - 1
    ext_lengths = np.asarray(ext_lengths)
    ends = np.arange(S) >= (ext_lengths - 2)[:, None]
    ends &= np.arange(S) < ext_lengths[:, None]                       # the last two states
    init = np.where(ends, sr.one, sr.zero)                            # (N, S)
    skip_next = shift(np.where(skip, sr.one, sr.zero), -2, sr.zero)   # skip[r + 2]
    beta = np.full((T, N, S), sr.zero)
    for t in reversed(range(T)):
        if t < T - 1:
            b = sr.mul(beta[t + 1], y_ext[t + 1])
            paths = sr.add(sr.add(b, shift(b, -1, sr.zero)),
                           sr.mul(shift(b, -2, sr.zero), skip_next))
        else:
            paths = np.full((N, S), sr.zero)
        beta[t] = np.where((last_t == t)[:, None], init, paths)
    return beta


class CTC:
    """The course's CTC helper for ONE utterance: ``logits`` are probabilities (T, C)."""

    def __init__(self, BLANK=0):
        self.BLANK = BLANK

    def extend_target_with_blank(self, target):
        """target (L,) -> extended_symbols (2L+1,), skip_connect (2L+1,) of 0/1."""
        target = np.asarray(target).reshape(1, -1)
        extended, skip, _ = extend_targets_with_blank(target, [target.shape[1]], self.BLANK)
        return extended[0], skip[0].astype(np.int64)

    def _y_ext(self, y, extended_symbols, skip_connect, name):
        extended_symbols = np.asarray(extended_symbols, dtype=np.int64)
        if np.ndim(y) != 2 or np.shape(skip_connect) != extended_symbols.shape \
                or extended_symbols.ndim != 1 or extended_symbols.max() >= np.shape(y)[1]:
            raise ValueError(f"CTC: expected {name} (T, C) with C > {extended_symbols.max()} "
                             f"and skip_connect of shape {extended_symbols.shape}, got {name} "
                             f"{np.shape(y)} and skip_connect {np.shape(skip_connect)}")
        y_ext = np.asarray(y, dtype=np.float64)[:, extended_symbols][:, None, :]   # (T, 1, S)
        return y_ext, np.asarray(skip_connect, dtype=bool)[None]

    def get_forward_probs(self, logits, extended_symbols, skip_connect):
        """alpha (T, S)."""
        y_ext, skip = self._y_ext(logits, extended_symbols, skip_connect, "logits")
        return ctc_forward_recursion(y_ext, skip, PROB)[:, 0]

    def get_backward_probs(self, logits, extended_symbols, skip_connect):
        """beta (T, S), frame t excluded."""
        y_ext, skip = self._y_ext(logits, extended_symbols, skip_connect, "logits")
        T, _, S = y_ext.shape
        return ctc_backward_recursion(y_ext, skip, [T], [S], PROB)[:, 0]

    def get_posterior_probs(self, alpha, beta):
        """gamma (T, S): the probability of being in state r at frame t given the target."""
        gamma = alpha * beta
        return gamma / gamma.sum(axis=1, keepdims=True)

    def get_forward_log_probs(self, log_probs, extended_symbols, skip_connect):
        """log alpha (T, S) from log-probabilities (T, C); no underflow on long inputs."""
        y_ext, skip = self._y_ext(log_probs, extended_symbols, skip_connect, "log_probs")
        return ctc_forward_recursion(y_ext, skip, LOG)[:, 0]

    def get_backward_log_probs(self, log_probs, extended_symbols, skip_connect):
        """log beta (T, S), frame t excluded."""
        y_ext, skip = self._y_ext(log_probs, extended_symbols, skip_connect, "log_probs")
        T, _, S = y_ext.shape
        return ctc_backward_recursion(y_ext, skip, [T], [S], LOG)[:, 0]

    def get_posterior_log_probs(self, log_alpha, log_beta):
        """log gamma (T, S)."""
        log_gamma = log_alpha + log_beta
        return log_gamma - np.logaddexp.reduce(log_gamma, axis=1, keepdims=True)


class CTCLoss:
    """``CTCLoss(BLANK=0, convention="course")``.

    ``forward(logits, target, input_lengths, target_lengths)``: logits are probabilities
    (T, N, C) after a softmax, target (N, L) padded, lengths (N,) -> a NumPy scalar.
    ``backward()`` -> dL/dlogits (T, N, C), zero beyond each input length. Per item the
    posteriors gamma (T_n, S_n) of the extended target are kept (``gammas``, after forward).

    Where the course departs from PyTorch (its HW3P1 autograder checks the course's form):

    - ``convention="course"`` (the default): ``forward`` returns the course's divergence,
      the batch mean of -sum_t sum_r gamma(t, r) log y_t(ext[r]) (the expected log
      probability of the aligned symbols under the posterior, not -log P), and ``backward``
      returns -sum_r gamma(t, r) / y_t(ext[r]) per item, NOT divided by the batch size N:
      it is the gradient of sum_n -log P_n, i.e. N times torch's gradient (on the
      probabilities) of the mean -log P.
    - ``convention="torch"``: ``forward`` returns the batch mean of -log P(target | x)
      (``torch.nn.functional.ctc_loss(log y, reduction="sum") / N``) and ``backward`` its
      exact gradient, the same sum divided by N.

    An impossible alignment (input too short) gives an infinite loss in both, as in PyTorch.
    """

    CONVENTIONS = ("course", "torch")

    def __init__(self, BLANK=0, convention="course"):
        if convention not in self.CONVENTIONS:
            raise ValueError(f"CTCLoss: convention must be one of {self.CONVENTIONS}, "
                             f"got {convention!r}")
        self.BLANK = BLANK
        self.convention = convention

    def __call__(self, logits, target, input_lengths, target_lengths):
        return self.forward(logits, target, input_lengths, target_lengths)

    def _check(self, logits, target, input_lengths, target_lengths):
        if np.ndim(logits) != 3:
            raise ValueError(f"CTCLoss: expected logits of shape (T, N, C), got {np.shape(logits)}")
        T, N, C = np.shape(logits)
        if np.ndim(target) != 2 or np.shape(target)[0] != N:
            raise ValueError(f"CTCLoss: expected target of shape ({N}, L), got {np.shape(target)}")
        for name, lengths, limit in [("input_lengths", input_lengths, T),
                                     ("target_lengths", target_lengths, np.shape(target)[1])]:
            if np.shape(lengths) != (N,):
                raise ValueError(f"CTCLoss: expected {name} of shape ({N},), "
                                 f"got {np.shape(lengths)}")
            if np.any(np.asarray(lengths) > limit) or np.any(np.asarray(lengths) < 0):
                raise ValueError(f"CTCLoss: {name} must lie in [0, {limit}], got "
                                 f"{np.asarray(lengths).tolist()}")
        if np.any(np.asarray(input_lengths) < 1):
            raise ValueError(f"CTCLoss: input_lengths must be >= 1, got {list(input_lengths)}")
        target = np.asarray(target)
        used = target[np.arange(target.shape[1]) < np.asarray(target_lengths)[:, None]]
        if used.size and (used.min() < 0 or used.max() >= C or np.any(used == self.BLANK)):
            raise ValueError(f"CTCLoss: target symbols must lie in [0, {C}) and differ from the "
                             f"blank {self.BLANK}, got values {sorted(set(used.tolist()))}")

    def forward(self, logits, target, input_lengths, target_lengths):
        self._check(logits, target, input_lengths, target_lengths)
        logits = np.asarray(logits)
        T, N, _ = logits.shape
        self.logits_shape, self.logits_dtype = logits.shape, logits.dtype
        self.input_lengths = np.asarray(input_lengths, dtype=np.int64)
        self.extended, skip, self.ext_lengths = extend_targets_with_blank(
            target, target_lengths, self.BLANK)                           # (N, S)
        S = self.extended.shape[1]
        with np.errstate(divide="ignore"):
            log_y = np.log(logits.astype(np.float64, copy=False))
        y_ext = log_y[:, np.arange(N)[:, None], self.extended]            # (T, N, S)
        inside = (np.arange(T)[:, None, None] < self.input_lengths[:, None]) \
            & (np.arange(S) < self.ext_lengths[:, None])                  # (T, N, S)
        self.y_ext = np.where(inside, y_ext, -np.inf)
        self.skip = skip
        self.log_alpha = ctc_forward_recursion(self.y_ext, skip, LOG)

        n = np.arange(N)
        last = self.log_alpha[self.input_lengths - 1, n]                  # (N, S)
        end_blank = last[n, self.ext_lengths - 1]
        end_symbol = np.where(self.ext_lengths > 1, last[n, np.maximum(self.ext_lengths - 2, 0)],
                              -np.inf)
        self.log_likelihood = np.logaddexp(end_blank, end_symbol)         # (N,)
        log_beta = ctc_backward_recursion(self.y_ext, self.skip, self.input_lengths,
                                          self.ext_lengths, LOG)
        with np.errstate(invalid="ignore"):                   # -inf - -inf where unreachable
            self.log_gamma = self.log_alpha + log_beta - self.log_likelihood[:, None]
        self.reached = np.isfinite(self.log_gamma)                         # (T, N, S)
        if self.convention == "torch":
            return np.float64(-self.log_likelihood.mean())
        gamma_log_y = np.where(self.reached, np.exp(np.where(self.reached, self.log_gamma, 0.0))
                               * np.where(self.reached, self.y_ext, 0.0), 0.0)
        divergence = -gamma_log_y.sum(axis=(0, 2))                         # (N,)
        divergence[~np.isfinite(self.log_likelihood)] = np.inf
        return np.float64(divergence.mean())

    def backward(self):
        """dL/dlogits (T, N, C): each state r adds -gamma[t, r] / y_t(ext[r]); divided by N
        only with ``convention="torch"``."""
        _, N, C = self.logits_shape
        reached = self.reached
        ratio = np.exp(np.where(reached, self.log_gamma - np.where(reached, self.y_ext, 0.0),
                                -np.inf))                                 # gamma / y
        one_hot = np.zeros((N, self.extended.shape[1], C))                # (N, S, C)
        n, s = np.nonzero(np.arange(self.extended.shape[1]) < self.ext_lengths[:, None])
        one_hot[n, s, self.extended[n, s]] = 1.0
        dY = -(ratio.transpose(1, 0, 2) @ one_hot)                        # (N, T, C)
        if self.convention == "torch":
            dY /= N
        return dY.transpose(1, 0, 2).astype(self.logits_dtype, copy=False)

    @property
    def gammas(self):
        """Per item n, gamma (T_n, S_n) in probability space (the course's ``gammas`` list)."""
        return [np.exp(self.log_gamma[:t, n, :s])
                for n, (t, s) in enumerate(zip(self.input_lengths, self.ext_lengths))]

    @property
    def extended_symbols(self):
        """Per item n, the extended target (S_n,) (the course's ``extended_symbols`` list)."""
        return [self.extended[n, :s] for n, s in enumerate(self.ext_lengths)]
