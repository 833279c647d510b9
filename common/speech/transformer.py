"""Pieces of the HW4P2 transformer that must be exactly right: positions, masks, attention.

The model itself (convolutional time reduction, encoder and decoder blocks, CTC head) is
written in ``hw4_transformer/hw4p2.ipynb``, where a student reads it; this file holds what the
notebook, its tests and ``benchmarks/hw4_decoding.py`` share:

- ``sinusoidal_positions``: the fixed position table (the same formula as HW4P1's LM, whose
  weights the HW4P2 decoder loads);
- ``causal_mask`` / ``attention_mask``: boolean masks in the convention of
  ``F.scaled_dot_product_attention`` (True = the key takes part), with padding and causality;
- ``manual_attention``: softmax(q k^T / sqrt(d)) v written out, the reference for SDPA and the
  way to read the attention weights (SDPA does not return them);
- ``conv_output_lengths``: frames left after stride-2 convolutions without padding.
"""
from __future__ import annotations

import math

import torch

__all__ = ["sinusoidal_positions", "causal_mask", "attention_mask", "manual_attention",
           "conv_output_lengths"]


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model): sin on even and cos on odd dimensions, wavelengths 2pi .. 10000 2pi
    (Vaswani et al. 2017): ``pe[p, 2i] = sin(p / 10000^(2i/d))``, ``pe[p, 2i+1] = cos(...)``."""
    if d_model % 2:
        raise ValueError(f"sinusoidal positions need an even d_model, got {d_model}")
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


def causal_mask(queries: int, keys: int | None = None, device=None) -> torch.Tensor:
    """(queries, keys) bool, True where query i may attend key j: ``j <= i + keys - queries``
    (the queries are the last ``queries`` positions of the ``keys``; with a key/value cache
    the earlier ``keys - queries`` positions are all visible)."""
    keys = queries if keys is None else keys
    if keys < queries:
        raise ValueError(f"causal_mask: {queries} queries cannot be the last positions of {keys} keys")
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(keys - queries)


def attention_mask(key_lengths: torch.Tensor | None, keys: int, queries: int = 1, *, causal: bool = False,
                   device=None) -> torch.Tensor | None:
    """The boolean ``attn_mask`` of SDPA: (B, 1, queries, keys) with ``key_lengths`` (B,) (keys
    ``j >= key_lengths[b]`` are padding and never attended), (1, 1, queries, keys) without;
    ``causal`` adds ``causal_mask``. None when nothing is masked (SDPA's fast path)."""
    mask = None
    if key_lengths is not None:
        device = key_lengths.device
        mask = (torch.arange(keys, device=device)[None, :] < key_lengths[:, None])[:, None, None, :]
        mask = mask.expand(-1, 1, queries, keys)
    if causal:
        c = causal_mask(queries, keys, device=device)[None, None]
        mask = c if mask is None else mask & c
    return mask


def manual_attention(q, k, v, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                     return_weights: bool = False):
    """``softmax(q k^T / sqrt(d) + mask) v`` written out: the same arguments and result as
    ``F.scaled_dot_product_attention`` (bool mask: True = attend). q (..., T, d), k/v (..., S, d).
    With ``return_weights`` also the (..., T, S) attention weights."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])                    # (..., T, S)
    if is_causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], device=q.device), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = torch.nn.functional.dropout(weights, dropout_p)
    out = weights @ v
    return (out, weights) if return_weights else out


def conv_output_lengths(lengths: torch.Tensor, layers: int = 2, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Frames after ``layers`` convolutions (no padding): ``L -> (L - kernel) // stride + 1`` each.
    An output frame then depends on input frames inside the utterance only, so padding never
    leaks into a shorter utterance of the batch."""
    for _ in range(layers):
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
    return lengths
