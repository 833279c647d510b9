"""Batched continuation of prefixes: greedy, or sampled with temperature, top-k and nucleus.

The model is reached through one step function, as in ``common.speech.decoding.seq2seq``::

    step(tokens (N, t) long, state) -> (logits (N, V), state)

``tokens`` are all tokens so far (prefix and generated); ``state`` is None at the first call.
A model with a key/value cache (transformer) or a carried hidden state (RNN) reads the whole
prefix at the first call and only ``tokens[:, -1:]`` afterwards; a model without one reads
all of ``tokens`` every time. Both give the same tokens.

    continuation = generate(step, prefix, max_new_tokens=20, temperature=0.0)   # greedy
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["filter_logits", "sample_next", "generate"]


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit outside the ``top_k`` largest and outside the nucleus: the
    smallest set of most likely tokens whose probability reaches ``top_p``."""
    logits = logits.float()
    if top_k is not None and top_k > 0 and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]                    # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the tokens before it already reach top_p (the first is always kept)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of ``logits`` (N, V): the argmax when ``temperature`` is 0, else a
    draw from softmax(logits / temperature) restricted by ``top_k`` / ``top_p``."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    logits = filter_logits(logits / temperature, top_k, top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def generate(step: Callable, prefix: torch.Tensor, max_new_tokens: int = 20, *, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
             state=None) -> torch.Tensor:
    """Continue each row of ``prefix`` (N, L) by ``max_new_tokens`` tokens -> (N, max_new_tokens)."""
    if prefix.ndim != 2 or prefix.size(1) == 0:
        raise ValueError(f"prefix must be (N, L) token ids with L >= 1, got shape {tuple(prefix.shape)}")
    tokens = prefix
    for _ in range(max_new_tokens):
        logits, state = step(tokens, state)
        nxt = sample_next(logits, temperature, top_k, top_p, generator)                 # (N,)
        tokens = torch.cat([tokens, nxt[:, None].to(tokens.dtype)], dim=1)
    return tokens[:, prefix.size(1):]
