"""The ``TokenScorer`` interface through which every decoder fuses a language model.

Every decoder (CTC prefix beam search, seq2seq greedy and beam search) fuses scorers through the
same five calls on a batch of hypotheses ("rows")::

    state = lm.initial(rows)              # empty history: sentence start
    lm.log_probs(state)                   # (rows, vocab_size) log P(next token | history)
    state = lm.advance(state, tokens)     # append one token per row; a token < 0 leaves the row as it is
    state = lm.select(state, index)       # reorder / duplicate rows when beams are reselected
    lm.final(state)                       # (rows,) log P(end of sentence | history)

``NGramLM`` (``common.lm.ngram``): the n-gram model, dense or sparse.
``NeuralLM`` (``common.lm.neural``): adapter over a causal torch LM.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["TokenScorer"]


@runtime_checkable
class TokenScorer(Protocol):
    """Scores next tokens of a batch of histories (see the module docstring)."""

    vocab_size: int

    def initial(self, rows: int, device=None) -> Any: ...

    def log_probs(self, state) -> torch.Tensor: ...

    def advance(self, state, tokens: torch.Tensor) -> Any: ...

    def select(self, state, index: torch.Tensor) -> Any: ...

    def final(self, state) -> torch.Tensor: ...
