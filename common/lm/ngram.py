"""``NGramLM``: Kneser-Ney (interpolated, one discount per order) or Witten-Bell n-gram over token
ids, trained from id sequences, a ``TokenScorer`` (``common.lm.scorer``) for shallow fusion.

Small vocabularies (phonemes, characters): the full next-token distribution of every context seen
in training is precomputed as one dense row, so a batch of histories is scored by one gather. Word
vocabularies: a sparse store of the seen n-grams only, each distribution built from them when asked
(``NGramLM.token_log_probs`` scores single tokens). ``store="auto"`` picks by the dense table's size.
"""
from __future__ import annotations

import numpy as np
import torch

from common.engine.files import atomic_write

__all__ = ["NGramLM", "DENSE_MAX_BYTES"]

DENSE_MAX_BYTES = 256 * 2**20     # store="auto": the dense table when it is at most this big


def _keys(windows: np.ndarray, base: int) -> np.ndarray:
    """(N, m) symbol ids -> (N,) int64 keys (base-``base`` digits); m = 0 gives zeros."""
    keys = np.zeros(len(windows), dtype=np.int64)
    for j in range(windows.shape[1]):
        keys = keys * base + windows[:, j]
    return keys


def _lookup(sorted_keys: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Position of each of ``keys`` in ``sorted_keys``, -1 where absent."""
    if len(sorted_keys) == 0:
        return torch.full_like(keys, -1)
    pos = torch.searchsorted(sorted_keys, keys).clamp(max=len(sorted_keys) - 1)
    return torch.where(sorted_keys[pos] == keys, pos, -1)


def _ngrams(sequences, order: int, V: int, caller: str) -> np.ndarray:
    """(N, order) int64 n-grams of every sentence: ``order - 1`` start symbols (id V) before it, the
    end (id V) after it; one n-gram per token and one per end, all sentences at once."""
    seqs = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    tokens = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
    bad = np.flatnonzero((tokens < 0) | (tokens >= V))
    if bad.size:
        i = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
        raise ValueError(f"{caller}: sequence {i} has ids outside [0, {V}): {seqs[i].tolist()[:20]}")
    def offsets(n):                                      # where each sentence's block starts
        return np.cumsum(n) - n

    padded = offsets(lengths + order)                    # sentence i: order - 1 starts, its tokens, the end
    stream = np.full(int(lengths.sum()) + order * len(seqs), V, dtype=np.int64)
    stream[np.repeat(padded + order - 1 - offsets(lengths), lengths) + np.arange(len(tokens))] = tokens
    n_grams = lengths + 1                                # one n-gram per token plus one for the end
    first = np.repeat(padded - offsets(n_grams), n_grams) + np.arange(int(n_grams.sum()))
    return stream[first[:, None] + np.arange(order)]


def _unique_grams(contexts: np.ndarray, words: np.ndarray, base: int):
    """Distinct (context key, word) pairs sorted by context then word, and the inverse: two 1-D sorts."""
    context_keys, context_index = np.unique(contexts, return_inverse=True)
    pairs, inverse = np.unique(context_index.reshape(-1) * base + words, return_inverse=True)
    return context_keys[pairs // base], pairs % base, inverse.reshape(-1)


class NGramLM:
    """N-gram language model over token ids ``0 .. vocab_size-1`` with sentence start and end.

    Trained with ``NGramLM.train``; the end of sentence is an outcome of its own (``final``), the
    start pads every history with ``order - 1`` start symbols. Probabilities of the next token
    plus the end sum to one for every history.

    Two stores of the same model (``store``): "dense", one precomputed row of ``V + 1``
    log-probabilities per context seen in training (a batch of histories is one gather: right for
    phonemes and characters), and "sparse", per order only the seen (context, word) pairs with
    their discounted mass and one interpolation weight per context, the unigram distribution dense
    (a word-level trigram over 33k words: ~0.1 GB instead of hundreds). The sparse store builds
    ``p_m = lambda_m(h) * p_{m-1} + mass_m(h, .)`` order by order for each history.

    >>> lm = NGramLM.train([[0, 1], [0, 1, 1], [1]], vocab_size=2, order=2)
    >>> state = lm.advance(lm.initial(1), torch.tensor([0]))
    >>> p = torch.cat([lm.log_probs(state), lm.final(state)[:, None]], 1).exp()
    >>> round(float(p.sum()), 6), bool(p[0, 1] > p[0, 0])
    (1.0, True)
    """

    def __init__(self, vocab_size: int, order: int, smoothing: str, context_keys: list[np.ndarray],
                 table: np.ndarray | None = None, sparse: dict | None = None):
        """context_keys: per context length m = 0..order-1, sorted int64 keys of the seen contexts.
        table: (contexts, V + 1) float64 log probs, rows in key order (dense store), or None.
        sparse: {"unigram": (V + 1,) probs, "weights": [per order m >= 2: (contexts,) lambda],
        "pair_keys": [per m >= 2: sorted int64 context index * (V + 1) + word], "mass": [per m >= 2:
        the discounted probability of each pair]} (sparse store), or None."""
        if table is None and sparse is None:
            raise ValueError("NGramLM: give a dense table or a sparse store")
        self.vocab_size, self.order, self.smoothing = vocab_size, order, smoothing
        self.context_keys, self.table, self.sparse = context_keys, table, sparse
        self.store = "dense" if table is not None else "sparse"
        self.offsets = np.cumsum([0] + [len(k) for k in context_keys])
        self._device_cache: dict = {}

    @property
    def nbytes(self) -> int:
        """Memory of the model's arrays (the dense table, or the sparse store), in bytes."""
        arrays = list(self.context_keys)
        if self.table is not None:
            arrays.append(self.table)
        else:
            arrays += [self.sparse["unigram"]] + [a for k in ("weights", "pair_keys", "mass") for a in self.sparse[k]]
        return sum(a.nbytes for a in arrays)

    # ---------------- training
    @classmethod
    def train(cls, sequences, vocab_size: int, order: int = 3, smoothing: str = "kneser_ney",
              store: str = "auto") -> NGramLM:
        """Count the n-grams of ``sequences`` (lists of ids in [0, vocab_size)) and smooth them.

        smoothing: "kneser_ney" (interpolated, discount n1 / (n1 + 2 n2) per order, continuation
        counts below the top order) or "witten_bell". The lowest order interpolates with the
        uniform distribution over the vocabulary plus the end, so no token has probability zero.
        store: "dense", "sparse", or "auto" (dense when its table takes at most DENSE_MAX_BYTES).
        """
        if order < 1:
            raise ValueError(f"NGramLM.train: order must be >= 1, got {order}")
        if smoothing not in ("kneser_ney", "witten_bell"):
            raise ValueError(f"NGramLM.train: smoothing must be 'kneser_ney' or 'witten_bell', got {smoothing!r}")
        if store not in ("auto", "dense", "sparse"):
            raise ValueError(f"NGramLM.train: store must be 'auto', 'dense' or 'sparse', got {store!r}")
        V, base = vocab_size, vocab_size + 1             # symbol V: start (in contexts) and end (as outcome)
        if base ** max(order - 1, 1) >= 2 ** 62:
            raise ValueError(f"NGramLM.train: order {order} with {vocab_size} tokens overflows 64-bit context keys")
        grams = _ngrams(sequences, order, V, "NGramLM.train")
        if len(grams) == 0:
            raise ValueError("NGramLM.train: no sequences to count")
        # counts per order m (context length m - 1), highest first: raw counts at the top order,
        # continuation counts (distinct left extensions) below it for Kneser-Ney
        counts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}   # m -> (ctx keys, words, count)
        ctx, words, inverse = _unique_grams(_keys(grams[:, :-1], base), grams[:, -1], base)
        counts[order] = (ctx, words, np.bincount(inverse, minlength=len(ctx)).astype(np.float64))
        for m in range(order - 1, 0, -1):
            short = counts[m + 1][0] % base ** (m - 1)     # drop the oldest symbol of each context
            ctx, words, inverse = _unique_grams(short, counts[m + 1][1], base)
            weights = None if smoothing == "kneser_ney" else counts[m + 1][2]   # KN: each longer n-gram once
            counts[m] = (ctx, words, np.bincount(inverse, weights=weights, minlength=len(ctx)).astype(np.float64))
        # per order: p(w | h) = mass(h, w) + weight(h) * p(w | shorter h), mass zero for unseen pairs
        context_keys, weights, pair_keys, masses = [], [], [], []
        for m in range(1, order + 1):
            ctx, words, c = counts[m]                     # sorted by (context, word)
            keys, inverse, n_words = np.unique(ctx, return_inverse=True, return_counts=True)
            inverse = inverse.reshape(-1)
            total = np.bincount(inverse, weights=c)
            distinct = n_words.astype(np.float64)
            if smoothing == "kneser_ney":
                n1, n2 = np.sum(c == 1), np.sum(c == 2)
                discount = n1 / (n1 + 2 * n2) if n1 > 0 else 0.5
                discount = min(max(discount, 0.05), 0.95)
                mass = np.maximum(c - discount, 0) / total[inverse]
                weight = discount * distinct / total
            else:
                mass = c / (total + distinct)[inverse]
                weight = distinct / (total + distinct)
            context_keys.append(keys)
            weights.append(weight)
            pair_keys.append(inverse.astype(np.int64) * base + words)
            masses.append(mass)
        unigram = weights[0][0] * np.full(base, 1.0 / base)   # interpolated with the uniform distribution
        unigram[pair_keys[0]] += masses[0]
        sparse = {"unigram": unigram, "weights": weights[1:], "pair_keys": pair_keys[1:], "mass": masses[1:]}
        dense_bytes = sum(len(k) for k in context_keys) * base * 8
        if store == "dense" or (store == "auto" and dense_bytes <= DENSE_MAX_BYTES):
            return cls(V, order, smoothing, context_keys, table=cls._dense_table(context_keys, sparse, base))
        return cls(V, order, smoothing, context_keys, sparse=sparse)

    @staticmethod
    def _dense_table(context_keys, sparse, base) -> np.ndarray:
        """The (contexts, V + 1) log-prob table of a sparse store, rows in key order per order."""
        rows = [sparse["unigram"][None, :]]
        for m in range(2, len(context_keys) + 1):
            keys = context_keys[m - 1]
            short = keys % (base ** (m - 2)) if m > 2 else np.zeros_like(keys)   # the seen suffix
            probs = sparse["weights"][m - 2][:, None] * rows[-1][np.searchsorted(context_keys[m - 2], short)]
            pairs = sparse["pair_keys"][m - 2]
            probs[pairs // base, pairs % base] += sparse["mass"][m - 2]
            rows.append(probs)
        return np.log(np.concatenate(rows))

    # ---------------- TokenScorer
    def _tensors(self, device) -> dict:
        device = torch.device(device) if device is not None else torch.device("cpu")
        if device not in self._device_cache:
            out = {"keys": [torch.as_tensor(k, device=device) for k in self.context_keys]}
            if self.table is not None:
                table = torch.as_tensor(self.table, device=device)
                out["table"], out["tokens"] = table, table[:, :self.vocab_size].contiguous()
                out["end"] = table[:, self.vocab_size].contiguous()
            else:
                base = self.vocab_size + 1
                out.update({k: [torch.as_tensor(a, device=device) for a in self.sparse[k]]
                            for k in ("weights", "pair_keys", "mass")})
                out["unigram"] = torch.as_tensor(self.sparse["unigram"], device=device)
                out["words"] = [p % base for p in out["pair_keys"]]
                out["starts"] = [torch.searchsorted(p, torch.arange(len(w) + 1, device=device) * base)
                                 for p, w in zip(out["pair_keys"], out["weights"])]
            self._device_cache[device] = out
        return self._device_cache[device]

    def _levels(self, context: torch.Tensor) -> torch.Tensor:
        """(rows, order-1) histories -> (rows, order-1) index of their suffix of length 1, 2, ...
        among the seen contexts of that length, -1 where unseen (seen suffixes are suffix-closed)."""
        keys = self._tensors(context.device)["keys"]
        base = self.vocab_size + 1
        levels = torch.full_like(context, -1)
        key = torch.zeros(context.shape[0], dtype=torch.long, device=context.device)
        for m in range(1, self.order):                   # suffix of length m: add one symbol to the left
            key = key + context[:, -m] * base ** (m - 1)
            levels[:, m - 1] = _lookup(keys[m], key)
        return levels

    def _state(self, context: torch.Tensor) -> dict:
        if self.table is None:
            return {"context": context, "levels": self._levels(context)}
        keys = self._tensors(context.device)["keys"]     # dense: the table row of the longest seen suffix
        base = self.vocab_size + 1
        row = torch.zeros(context.shape[0], dtype=torch.long, device=context.device)   # empty context
        key = torch.zeros(context.shape[0], dtype=torch.long, device=context.device)
        for m in range(1, self.order):
            key = key + context[:, -m] * base ** (m - 1)
            if len(keys[m]) == 0:                        # no longer context was seen either
                break
            pos = _lookup(keys[m], key)
            row = torch.where(pos >= 0, pos + int(self.offsets[m]), row)
        return {"context": context, "row": row}

    def _word_probs(self, levels: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """(rows,) probability of one word per row (sparse store): order lookups per row."""
        t = self._tensors(levels.device)
        base = self.vocab_size + 1
        p = t["unigram"][words]
        for m in range(2, self.order + 1):
            idx = levels[:, m - 2]
            found = idx >= 0
            pair = _lookup(t["pair_keys"][m - 2], idx * base + words)
            mass = torch.where(pair >= 0, t["mass"][m - 2][pair.clamp(min=0)], 0.0)
            step = t["weights"][m - 2][idx.clamp(min=0)] * p + mass
            p = torch.where(found, step, p)
        return p

    def _sparse_probs(self, levels: torch.Tensor) -> torch.Tensor:
        """(rows, V) next-token probabilities of each row (sparse store; the end is ``_word_probs``):
        the recursion p_m = lambda_m p_{m-1} + mass_m unrolled, p = (prod_m lambda_m) p_1 + sum_m
        (prod_{k>m} lambda_k) mass_m: the (rows, V) tensor is written once, the seen pairs of every
        order are added in one index_add."""
        t = self._tensors(levels.device)
        V = self.vocab_size
        scale = torch.ones(levels.shape[0], dtype=torch.float64, device=levels.device)
        flat, values = [], []
        for m in range(self.order, 1, -1):               # highest order first: scale = prod of lambdas above m
            rows = (levels[:, m - 2] >= 0).nonzero().flatten()
            if rows.numel() == 0:
                continue
            ctx = levels[rows, m - 2]
            start, n = t["starts"][m - 2][ctx], t["starts"][m - 2][ctx + 1] - t["starts"][m - 2][ctx]
            row_of = torch.repeat_interleave(rows, n)
            first = torch.repeat_interleave(start - (torch.cumsum(n, 0) - n), n)   # pair = first + flat index
            pair = first + torch.arange(len(row_of), device=levels.device)
            words = t["words"][m - 2][pair]
            keep = words < V                             # the end has its own call
            flat.append((row_of * V + words)[keep])
            values.append((t["mass"][m - 2][pair] * scale[row_of])[keep])
            scale[rows] *= t["weights"][m - 2][ctx]
        probs = scale[:, None] * t["unigram"][None, :V]
        if flat:
            probs.view(-1).index_add_(0, torch.cat(flat), torch.cat(values))
        return probs

    def initial(self, rows: int, device=None) -> dict:
        return self._state(torch.full((rows, self.order - 1), self.vocab_size, dtype=torch.long, device=device))

    def log_probs(self, state) -> torch.Tensor:
        if "row" in state:
            return self._tensors(state["row"].device)["tokens"].index_select(0, state["row"])
        return self._sparse_probs(state["levels"]).log_()          # in place: no second (rows, V) buffer

    def final(self, state) -> torch.Tensor:
        if "row" in state:
            return self._tensors(state["row"].device)["end"].index_select(0, state["row"])
        levels = state["levels"]
        end = torch.full((levels.shape[0],), self.vocab_size, dtype=torch.long, device=levels.device)
        return self._word_probs(levels, end).log()

    def token_log_probs(self, state, tokens: torch.Tensor) -> torch.Tensor:
        """(rows,) log P(tokens[i] | history of row i); ``vocab_size`` is the end. Only the asked
        entries: ``order`` lookups per row in the sparse store, one gather in the dense one."""
        if "row" in state:
            return self._tensors(state["row"].device)["table"][state["row"], tokens.to(state["row"].device)]
        return self._word_probs(state["levels"], tokens.to(state["levels"].device)).log()

    def advance(self, state, tokens: torch.Tensor) -> dict:
        context, tokens = state["context"], tokens.to(state["context"].device)
        grow = tokens >= 0
        if self.order > 1:
            shifted = torch.cat([context[:, 1:], tokens.clamp(min=0)[:, None]], dim=1)
            context = torch.where(grow[:, None], shifted, context)
        new = self._state(context)                       # rows that do not grow keep their row / levels
        return {k: v if k == "context" else torch.where(grow.view(-1, *[1] * (v.dim() - 1)), v, state[k])
                for k, v in new.items()}

    def select(self, state, index: torch.Tensor) -> dict:
        return {k: v[index] for k, v in state.items()}

    # ---------------- whole sequences
    def _symbol_log_probs(self, sequences) -> torch.Tensor:
        """log P of every token and of each end of ``sequences``, all at once: (tokens + ends,) float64."""
        grams = torch.from_numpy(_ngrams(sequences, self.order, self.vocab_size, "NGramLM"))
        return self.token_log_probs(self._state(grams[:, :-1]), grams[:, -1])

    def sequence_log_prob(self, seq) -> float:
        """Natural log probability of ``seq`` followed by the end of sentence."""
        return float(self._symbol_log_probs([seq]).sum())

    def perplexity(self, sequences) -> float:
        """exp of the mean negative log probability per predicted symbol (tokens plus one end each)."""
        log_probs = self._symbol_log_probs(sequences)
        return float(np.exp(-float(log_probs.sum()) / len(log_probs)))

    # ---------------- files
    def save(self, path) -> None:
        state = {"format": "idl-ngram", "version": 2, "vocab_size": self.vocab_size, "order": self.order,
                 "smoothing": self.smoothing, "store": self.store,
                 "context_keys": [torch.from_numpy(k) for k in self.context_keys]}
        if self.table is not None:
            state["table"] = torch.from_numpy(self.table)
        else:
            state["sparse"] = {k: torch.from_numpy(v) if k == "unigram" else [torch.from_numpy(a) for a in v]
                               for k, v in self.sparse.items()}
        with atomic_write(path, "wb") as f:
            torch.save(state, f)

    @classmethod
    def load(cls, path) -> NGramLM:
        """A model written by ``save``: version 2 (dense or sparse store) or version 1 (dense)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != "idl-ngram":
            raise ValueError(f"NGramLM.load: {path} is not an n-gram model written by NGramLM.save")
        if state.get("version", 1) > 2:
            raise ValueError(f"NGramLM.load: {path} has format version {state['version']}; this code reads 1 and 2")
        keys = [k.numpy() for k in state["context_keys"]]
        if "table" in state:
            return cls(state["vocab_size"], state["order"], state["smoothing"], keys, table=state["table"].numpy())
        sparse = {k: v.numpy() if k == "unigram" else [a.numpy() for a in v] for k, v in state["sparse"].items()}
        return cls(state["vocab_size"], state["order"], state["smoothing"], keys, sparse=sparse)
