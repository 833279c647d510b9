"""The regularisers that make recurrent language models work (AWD-LSTM, Merity et al. 2017).

Three tiny modules, each one idea:

- ``LockedDropout``: one dropout mask per sequence, shared by every time step (variational
  dropout), for the inputs, outputs and the activations between recurrent layers.
- ``EmbeddingDropout``: drops whole words: a row of the embedding matrix is zeroed for the
  whole batch, so a dropped word vanishes everywhere it occurs.
- ``WeightDrop``: DropConnect on a recurrent layer's hidden-to-hidden weights: one mask on
  ``weight_hh`` per forward pass, shared by all time steps, so the cuDNN kernel still runs.

All three are the identity in ``eval()`` mode.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LockedDropout", "EmbeddingDropout", "WeightDrop"]


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared over time. ``x``: (B, T, D) (batch_first)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)  # (B, 1, D)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingDropout(nn.Module):
    """An ``nn.Embedding`` lookup whose rows (words) are dropped with probability ``p``."""

    def __init__(self, embedding: nn.Embedding, p: float = 0.1):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.embedding, self.p = embedding, p

    @property
    def weight(self) -> nn.Parameter:
        return self.embedding.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        weight = self.embedding.weight                                  # (V, D)
        if self.training and self.p > 0.0:
            keep = weight.new_empty(weight.size(0), 1).bernoulli_(1 - self.p) / (1 - self.p)  # (V, 1)
            weight = weight * keep
        return F.embedding(tokens, weight, self.embedding.padding_idx)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class WeightDrop(nn.Module):
    """DropConnect on the named weights of ``module`` (e.g. ``weight_hh_l0`` of an ``nn.LSTM``).

    The trained parameter is kept as ``<name>_raw``; every forward pass sets ``<name>`` to
    ``dropout(<name>_raw)`` (one mask for the whole sequence) and calls the wrapped module.
    """

    def __init__(self, module: nn.Module, weights=("weight_hh_l0",), p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.module, self.weights, self.p = module, tuple(weights), p
        for name in self.weights:
            if name not in module._parameters:
                raise ValueError(f"{type(module).__name__} has no parameter {name!r}; "
                                 f"it has {sorted(module._parameters)}")
            raw = module._parameters.pop(name)
            self.register_parameter(f"{name}_raw", nn.Parameter(raw.detach().clone()))
            setattr(module, name, raw.detach().clone())     # a plain tensor until the first forward
        if isinstance(module, nn.RNNBase):
            # the weights are no longer one contiguous cuDNN buffer: make flatten a no-op
            module.flatten_parameters = lambda: None

    def _set_weights(self) -> None:
        for name in self.weights:
            raw = getattr(self, f"{name}_raw")
            # a view, not the Parameter itself: assigning a Parameter would register it in the module
            dropped = self.training and self.p > 0
            setattr(self.module, name, F.dropout(raw, self.p, True) if dropped else raw.view_as(raw))

    def forward(self, *args, **kwargs):
        self._set_weights()
        return self.module(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"weights={list(self.weights)}, p={self.p}"
