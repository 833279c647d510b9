"""Language models for shallow fusion: the ``TokenScorer`` interface, an n-gram model, a neural-LM adapter.

Every decoder (CTC prefix beam search, seq2seq greedy and beam search) fuses scorers through the
same five calls on a batch of hypotheses ("rows")::

    state = lm.initial(rows)              # empty history: sentence start
    lm.log_probs(state)                   # (rows, vocab_size) log P(next token | history)
    state = lm.advance(state, tokens)     # append one token per row; a token < 0 leaves the row as it is
    state = lm.select(state, index)       # reorder / duplicate rows when beams are reselected
    lm.final(state)                       # (rows,) log P(end of sentence | history)

``NGramLM``: Kneser-Ney (interpolated, one discount per order) or Witten-Bell n-gram over token
ids, trained from id sequences; the full next-token distribution of every context seen in training
is precomputed as one dense row, so a batch of histories is scored by one gather.
``NeuralLM``: adapter over a causal torch LM ``model(tokens (N, t)) -> logits (N, t, V)``.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from common.files import atomic_write

__all__ = ["TokenScorer", "NGramLM", "NeuralLM"]


@runtime_checkable
class TokenScorer(Protocol):
    """Scores next tokens of a batch of histories (see the module docstring)."""

    vocab_size: int

    def initial(self, rows: int, device=None) -> Any: ...

    def log_probs(self, state) -> torch.Tensor: ...

    def advance(self, state, tokens: torch.Tensor) -> Any: ...

    def select(self, state, index: torch.Tensor) -> Any: ...

    def final(self, state) -> torch.Tensor: ...


# ---------------------------------------------------------------- n-gram model
def _keys(windows: np.ndarray, base: int) -> np.ndarray:
    """(N, m) symbol ids -> (N,) int64 keys (base-``base`` digits); m = 0 gives zeros."""
    keys = np.zeros(len(windows), dtype=np.int64)
    for j in range(windows.shape[1]):
        keys = keys * base + windows[:, j]
    return keys


class NGramLM:
    """N-gram language model over token ids ``0 .. vocab_size-1`` with sentence start and end.

    Trained with ``NGramLM.train``; the end of sentence is an outcome of its own (``final``), the
    start pads every history with ``order - 1`` start symbols. Probabilities of the next token
    plus the end sum to one for every history.

    >>> lm = NGramLM.train([[0, 1], [0, 1, 1], [1]], vocab_size=2, order=2)
    >>> state = lm.advance(lm.initial(1), torch.tensor([0]))
    >>> p = torch.cat([lm.log_probs(state), lm.final(state)[:, None]], 1).exp()
    >>> round(float(p.sum()), 6), bool(p[0, 1] > p[0, 0])
    (1.0, True)
    """

    def __init__(self, vocab_size: int, order: int, smoothing: str, context_keys: list[np.ndarray],
                 table: np.ndarray):
        self.vocab_size, self.order, self.smoothing = vocab_size, order, smoothing
        self.context_keys = context_keys          # per context length m = 0..order-1: sorted int64 keys
        self.table = table                        # (rows, vocab_size + 1) float64 log probs, rows in key order
        self.offsets = np.cumsum([0] + [len(k) for k in context_keys])
        self._device_cache: dict = {}

    # ---------------- training
    @classmethod
    def train(cls, sequences, vocab_size: int, order: int = 3, smoothing: str = "kneser_ney") -> NGramLM:
        """Count the n-grams of ``sequences`` (lists of ids in [0, vocab_size)) and smooth them.

        smoothing: "kneser_ney" (interpolated, discount n1 / (n1 + 2 n2) per order, continuation
        counts below the top order) or "witten_bell". The lowest order interpolates with the
        uniform distribution over the vocabulary plus the end, so no token has probability zero.
        """
        if order < 1:
            raise ValueError(f"NGramLM.train: order must be >= 1, got {order}")
        if smoothing not in ("kneser_ney", "witten_bell"):
            raise ValueError(f"NGramLM.train: smoothing must be 'kneser_ney' or 'witten_bell', got {smoothing!r}")
        V, base = vocab_size, vocab_size + 1             # symbol V: start (in contexts) and end (as outcome)
        if base ** max(order - 1, 1) >= 2 ** 62:
            raise ValueError(f"NGramLM.train: order {order} with {vocab_size} tokens overflows 64-bit context keys")
        windows = []                                     # (N, order) n-grams of every sentence
        for i, seq in enumerate(sequences):
            seq = np.asarray(seq, dtype=np.int64).reshape(-1)
            if seq.size and (seq.min() < 0 or seq.max() >= V):
                raise ValueError(f"NGramLM.train: sequence {i} has ids outside [0, {V}): {seq.tolist()[:20]}")
            padded = np.concatenate([np.full(order - 1, V), seq, [V]])
            windows.append(np.lib.stride_tricks.sliding_window_view(padded, order))
        grams = np.concatenate(windows) if windows else np.zeros((0, order), dtype=np.int64)
        # counts per order m (context length m - 1), highest first: raw counts at the top order,
        # continuation counts (distinct left extensions) below it for Kneser-Ney
        counts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}   # m -> (ctx keys, words, count)
        top_unique, top_counts = np.unique(grams, axis=0, return_counts=True)
        level, level_counts = top_unique, top_counts
        for m in range(order, 0, -1):
            counts[m] = (_keys(level[:, :-1], base), level[:, -1], level_counts.astype(np.float64))
            if m == 1:
                break
            suffix = level[:, 1:]
            if smoothing == "kneser_ney":                 # each distinct longer n-gram counts once
                level, level_counts = np.unique(suffix, axis=0, return_counts=True)
            else:                                         # raw counts of the shorter n-grams
                level, inverse = np.unique(suffix, axis=0, return_inverse=True)
                level_counts = np.bincount(inverse.reshape(-1), weights=counts[m][2])
        # the sentence-start padding gives contexts made only of start symbols at every order
        uniform = np.full(base, 1.0 / base)
        context_keys, rows = [], []
        lower_keys, lower_rows = None, None
        for m in range(1, order + 1):
            ctx, words, c = counts[m]
            keys, inverse = np.unique(ctx, return_inverse=True)
            dense = np.zeros((len(keys), base))
            np.add.at(dense, (inverse.reshape(-1), words), c)
            total = dense.sum(1, keepdims=True)
            distinct = (dense > 0).sum(1, keepdims=True).astype(np.float64)
            if m == 1:
                lower = uniform[None, :]
            else:                                         # longest seen suffix of each context
                short = keys % (base ** (m - 2)) if m > 2 else np.zeros_like(keys)
                pos = np.searchsorted(lower_keys, short)
                lower = lower_rows[pos]
            if smoothing == "kneser_ney":
                n1, n2 = np.sum(c == 1), np.sum(c == 2)
                discount = n1 / (n1 + 2 * n2) if n1 > 0 else 0.5
                discount = min(max(discount, 0.05), 0.95)
                probs = np.maximum(dense - discount, 0) / total + discount * distinct / total * lower
            else:
                probs = (dense + distinct * lower) / (total + distinct)
            context_keys.append(keys)
            rows.append(probs)
            lower_keys, lower_rows = keys, probs
        return cls(V, order, smoothing, context_keys, np.log(np.concatenate(rows)))

    # ---------------- TokenScorer
    def _tensors(self, device):
        device = torch.device(device) if device is not None else torch.device("cpu")
        if device not in self._device_cache:
            table = torch.as_tensor(self.table, device=device)
            self._device_cache[device] = (
                (table[:, :self.vocab_size].contiguous(), table[:, self.vocab_size].contiguous()),
                [torch.as_tensor(k, device=device) for k in self.context_keys],
            )
        return self._device_cache[device]

    def _rows(self, context: torch.Tensor) -> torch.Tensor:
        """(rows, order-1) histories -> (rows,) table rows of their longest seen suffix."""
        _, keys = self._tensors(context.device)
        base = self.vocab_size + 1
        row = torch.zeros(context.shape[0], dtype=torch.long, device=context.device)   # empty context
        key = torch.zeros(context.shape[0], dtype=torch.long, device=context.device)
        for m in range(1, self.order):                   # suffix of length m: add one symbol to the left
            key = key + context[:, -m] * base ** (m - 1)
            if len(keys[m]) == 0:
                break
            pos = torch.searchsorted(keys[m], key).clamp(max=len(keys[m]) - 1)
            found = keys[m][pos] == key
            row = torch.where(found, pos + int(self.offsets[m]), row)
        return row

    def initial(self, rows: int, device=None) -> dict:
        context = torch.full((rows, self.order - 1), self.vocab_size, dtype=torch.long, device=device)
        return {"context": context, "row": self._rows(context)}

    def log_probs(self, state) -> torch.Tensor:
        (tokens, _), _ = self._tensors(state["row"].device)
        return tokens.index_select(0, state["row"])

    def final(self, state) -> torch.Tensor:
        (_, end), _ = self._tensors(state["row"].device)
        return end.index_select(0, state["row"])

    def advance(self, state, tokens: torch.Tensor) -> dict:
        context, tokens = state["context"], tokens.to(state["context"].device)
        grow = tokens >= 0
        if self.order > 1:
            shifted = torch.cat([context[:, 1:], tokens.clamp(min=0)[:, None]], dim=1)
            context = torch.where(grow[:, None], shifted, context)
        return {"context": context, "row": torch.where(grow, self._rows(context), state["row"])}

    def select(self, state, index: torch.Tensor) -> dict:
        return {k: v[index] for k, v in state.items()}

    # ---------------- whole sequences
    def sequence_log_prob(self, seq) -> float:
        """Natural log probability of ``seq`` followed by the end of sentence."""
        state = self.initial(1)
        total = 0.0
        for token in seq:
            total += float(self.log_probs(state)[0, int(token)])
            state = self.advance(state, torch.tensor([int(token)]))
        return total + float(self.final(state)[0])

    def perplexity(self, sequences) -> float:
        """exp of the mean negative log probability per predicted symbol (tokens plus one end each)."""
        log_prob = sum(self.sequence_log_prob(s) for s in sequences)
        count = sum(len(s) + 1 for s in sequences)
        return float(np.exp(-log_prob / count))

    # ---------------- files
    def save(self, path) -> None:
        state = {"format": "idl-ngram", "version": 1, "vocab_size": self.vocab_size, "order": self.order,
                 "smoothing": self.smoothing, "table": torch.from_numpy(self.table),
                 "context_keys": [torch.from_numpy(k) for k in self.context_keys]}
        with atomic_write(path, "wb") as f:
            torch.save(state, f)

    @classmethod
    def load(cls, path) -> NGramLM:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != "idl-ngram":
            raise ValueError(f"NGramLM.load: {path} is not an n-gram model written by NGramLM.save")
        return cls(state["vocab_size"], state["order"], state["smoothing"],
                   [k.numpy() for k in state["context_keys"]], state["table"].numpy())


# ---------------------------------------------------------------- neural LM adapter
class NeuralLM:
    """A causal torch LM as a ``TokenScorer``: ``model(tokens (N, t)) -> logits (N, t, V)``.

    Uncached: every ``advance`` reruns the model over the whole history of the rows that grew
    (histories start with ``sos``; ``final`` is the log probability of ``eos``).

    >>> torch.manual_seed(0) and None
    >>> emb = torch.nn.Embedding(5, 5)
    >>> lm = NeuralLM(emb, sos=4, eos=3)
    >>> state = lm.advance(lm.initial(2), torch.tensor([1, -1]))
    >>> torch.allclose(lm.log_probs(state)[0], emb.weight[1].log_softmax(-1))
    True
    """

    def __init__(self, model, sos: int, eos: int, vocab_size: int | None = None):
        self.model, self.sos, self.eos = model, sos, eos
        if vocab_size is None:
            param = next(iter(model.parameters()), None)
            device = param.device if param is not None else None
            vocab_size = self._run(torch.tensor([[sos]], device=device), torch.tensor([1], device=device)).shape[-1]
        self.vocab_size = vocab_size

    @torch.no_grad()
    def _run(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self.model(tokens)                                       # (N, t, V)
        last = logits[torch.arange(len(tokens), device=logits.device), lengths.to(logits.device) - 1]
        return torch.log_softmax(last.to(torch.promote_types(last.dtype, torch.float32)), dim=-1)

    def initial(self, rows: int, device=None) -> dict:
        tokens = torch.full((rows, 1), self.sos, dtype=torch.long, device=device)
        lengths = torch.ones(rows, dtype=torch.long, device=device)
        first = self._run(tokens[:1], lengths[:1]).to(device)
        return {"tokens": tokens, "lengths": lengths, "log_probs": first.expand(rows, -1).clone()}

    def log_probs(self, state) -> torch.Tensor:
        return state["log_probs"]

    def final(self, state) -> torch.Tensor:
        return state["log_probs"][:, self.eos]

    def advance(self, state, tokens: torch.Tensor) -> dict:
        history, lengths, log_probs = state["tokens"], state["lengths"], state["log_probs"]
        tokens = tokens.to(history.device)
        grow = (tokens >= 0).nonzero().flatten()
        if grow.numel() == 0:
            return state
        new_lengths = lengths.clone()
        new_lengths[grow] += 1
        width = int(new_lengths.max())
        if width > history.shape[1]:                                      # right-pad with eos
            history = torch.cat([history, history.new_full((len(history), width - history.shape[1]), self.eos)], 1)
        else:
            history = history.clone()
        history[grow, new_lengths[grow] - 1] = tokens[grow]
        log_probs = log_probs.clone()
        rows_len = new_lengths[grow]
        log_probs[grow] = self._run(history[grow, :int(rows_len.max())], rows_len).to(log_probs.device)
        return {"tokens": history, "lengths": new_lengths, "log_probs": log_probs}

    def select(self, state, index: torch.Tensor) -> dict:
        return {k: v[index] for k, v in state.items()}
