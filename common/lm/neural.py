"""``NeuralLM``: a ``TokenScorer`` (``common.lm.scorer``) over a causal torch LM, for shallow fusion.

Two ways to run the model:

- cached (a key/value cache, the transformers of HW4P1 and HW4P2): a step function
  ``step(tokens (N, t), cache) -> (logits (N, t, V), cache)`` whose tokens continue the positions the
  cache holds (``cache=None``: from the start). Each ``advance`` feeds only the new token of every
  row that grew. The cache of each row is kept apart (rows of a CTC beam hold histories of
  different lengths, and a cache has one offset): the rows that grow are batched by history
  length, their caches concatenated along dim 0, one step run per length, and the result split
  back into rows (``select`` only reorders a list).
- uncached: ``model(tokens (N, t)) -> logits (N, t, V)`` (or ``(logits, ...)``) reruns the whole
  history of the rows that grew at every ``advance`` (a history of L tokens costs L positions, not 1).

By default a model whose ``forward`` takes a ``cache`` argument is run cached with the course's
convention: ``model(tokens, cache=cache)`` returns the logits (HW4P2's ``Decoder``) or
``(logits, cache)`` (HW4P1's ``TransformerLM``), the cache is ``model.new_cache()`` when the model
has one, else ``{"offset": 0, "layers": [{} for _ in model.layers]}``, updated in place.
"""
from __future__ import annotations

import inspect

import torch

__all__ = ["NeuralLM"]


def _course_step(model):
    def step(tokens, cache):
        if cache is None:
            cache = model.new_cache() if hasattr(model, "new_cache") else {"offset": 0,
                                                                            "layers": [{} for _ in model.layers]}
        out = model(tokens, cache=cache)
        return (out[0] if isinstance(out, tuple) else out), cache
    return step


def _takes_cache(model) -> bool:
    try:
        return "cache" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def _cat(caches: list):
    """One cache of len(caches) rows from caches of one row each (new containers throughout: the
    step function may update them in place)."""
    first = caches[0]
    if isinstance(first, torch.Tensor):
        return first if len(caches) == 1 else torch.cat(caches, 0)
    if isinstance(first, dict):
        return {k: _cat([c[k] for c in caches]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_cat([c[i] for c in caches]) for i in range(len(first)))
    return first                                                   # offsets: equal within a group


def _split(cache, rows: int) -> list:
    """The inverse of ``_cat``: ``rows`` caches of one row (views, no copies)."""
    if isinstance(cache, torch.Tensor):
        return list(cache.split(1, 0))
    if isinstance(cache, dict):
        parts = {k: _split(v, rows) for k, v in cache.items()}
        return [{k: parts[k][r] for k in cache} for r in range(rows)]
    if isinstance(cache, (list, tuple)):
        parts = [_split(v, rows) for v in cache]
        return [type(cache)(p[r] for p in parts) for r in range(rows)]
    return [cache] * rows


class NeuralLM:
    """A causal torch LM as a ``TokenScorer`` (histories start with ``sos``; ``final`` is the log
    probability of ``eos``). See the module docstring for ``step`` and the cached/uncached modes.

    model: the LM; step: ``step(tokens, cache) -> (logits, cache)`` (default: the course's
    convention when ``model.forward`` takes ``cache``); cached: False forces the uncached mode
    (``model(tokens) -> logits``), True requires a cache. vocab_size: default from one run.

    >>> torch.manual_seed(0) and None
    >>> emb = torch.nn.Embedding(5, 5)
    >>> lm = NeuralLM(emb, sos=4, eos=3)
    >>> state = lm.advance(lm.initial(2), torch.tensor([1, -1]))
    >>> torch.allclose(lm.log_probs(state)[0], emb.weight[1].log_softmax(-1))
    True
    """

    def __init__(self, model, sos: int, eos: int, vocab_size: int | None = None, *, step=None,
                 cached: bool | None = None):
        self.model, self.sos, self.eos = model, sos, eos
        if step is None and cached is not False and _takes_cache(model):
            step = _course_step(model)
        if cached and step is None:
            raise ValueError(f"NeuralLM(cached=True): {type(model).__name__}.forward takes no cache argument; "
                             "pass step=lambda tokens, cache: (logits, cache) or cached=False")
        self.step = None if cached is False else step
        param = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
        self.device = param.device if param is not None else None
        if vocab_size is None:
            vocab_size = self._first(1)[0].shape[-1]
        self.vocab_size = vocab_size

    def _plain(self, tokens: torch.Tensor) -> torch.Tensor:
        """Uncached: the logits (N, t, V) of ``model(tokens)`` (or of its first output: HW4P1's LMs
        return (logits, state))."""
        out = self.model(tokens)
        return out[0] if isinstance(out, tuple) else out

    @staticmethod
    def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)

    @torch.no_grad()
    def _first(self, rows: int):
        """log P(. | sos) (1, V) and the cache after sos (None uncached)."""
        sos = torch.tensor([[self.sos]], device=self.device)
        if self.step is None:
            return self._log_softmax(self._plain(sos)[:, -1]), None
        logits, cache = self.step(sos, None)
        return self._log_softmax(logits[:, -1]), cache

    def initial(self, rows: int, device=None) -> dict:
        first, cache = self._first(rows)
        state = {"lengths": torch.ones(rows, dtype=torch.long), "log_probs": first.to(device).expand(rows, -1).clone()}
        if self.step is None:
            state["tokens"] = torch.full((rows, 1), self.sos, dtype=torch.long)
        else:
            state["caches"] = [cache] * rows
        return state

    def log_probs(self, state) -> torch.Tensor:
        return state["log_probs"]

    def final(self, state) -> torch.Tensor:
        return state["log_probs"][:, self.eos]

    @torch.no_grad()
    def advance(self, state, tokens: torch.Tensor) -> dict:
        tokens = tokens.detach().to("cpu", torch.long)
        grow = (tokens >= 0).nonzero().flatten()
        if grow.numel() == 0:
            return state
        lengths = state["lengths"].clone()
        lengths[grow] += 1
        log_probs = state["log_probs"].clone()
        new = dict(state, lengths=lengths, log_probs=log_probs)
        if self.step is None:
            history = state["tokens"]
            width = int(lengths.max())
            if width > history.shape[1]:                                   # right-pad with eos
                history = torch.cat([history, history.new_full((len(history), width - history.shape[1]), self.eos)], 1)
            else:
                history = history.clone()
            history[grow, lengths[grow] - 1] = tokens[grow]
            rows_len = lengths[grow]
            logits = self._plain(history[grow, :int(rows_len.max())].to(self.device))
            last = logits[torch.arange(len(grow), device=logits.device), rows_len.to(logits.device) - 1]
            log_probs[grow] = self._log_softmax(last).to(log_probs)
            new["tokens"] = history
            return new
        caches = list(state["caches"])
        old = state["lengths"][grow]
        for length in old.unique().tolist():                              # one step per history length
            rows = grow[old == length]
            cache = _cat([caches[r] for r in rows.tolist()])
            logits, cache = self.step(tokens[rows][:, None].to(self.device), cache)
            log_probs[rows] = self._log_softmax(logits[:, -1]).to(log_probs)
            for r, c in zip(rows.tolist(), _split(cache, len(rows))):
                caches[r] = c
        new["caches"] = caches
        return new

    def select(self, state, index: torch.Tensor) -> dict:
        index = torch.as_tensor(index).to("cpu", torch.long)
        out = {k: v[index.to(v.device)] for k, v in state.items() if isinstance(v, torch.Tensor)}
        if "caches" in state:
            caches = state["caches"]
            out["caches"] = [caches[i] for i in index.tolist()]
        return out
