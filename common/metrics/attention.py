"""How well an attention map aligns: the one definition of ``attention_diagonality`` that LAS and
HW4P2 report (and their ``metrics.json`` key of that name)."""
from __future__ import annotations

import torch

__all__ = ["attention_diagonality"]


def attention_diagonality(weights, in_len: int | None = None, out_len: int | None = None,
                          band: float = 0.1) -> tuple[float, float]:
    """(share of attention mass near the diagonal, the share a uniform attention would give).

    ``weights`` (L, T) (tensor or array; rows = output steps, columns = input frames), cut to
    ``out_len`` x ``in_len`` (default: all). "Near" is within ``band * T'`` frames (at least 1) of the
    straight line from the first to the last frame. 1.0: every step attends on the line; the chance
    level is the line's share of the map (a monotonic alignment of speech scores near 1 whatever the
    lengths; attention stuck on a few fixed frames scores near the chance level).

    >>> attention_diagonality(torch.eye(10))[0]
    1.0
    >>> [round(x, 2) for x in attention_diagonality(torch.full((10, 10), 0.1))]   # uniform = the chance level
    [0.28, 0.28]
    """
    w = torch.as_tensor(weights).float().cpu()
    out_len = w.shape[0] if out_len is None else int(out_len)
    in_len = w.shape[1] if in_len is None else int(in_len)
    steps = torch.arange(out_len, dtype=torch.float32)[:, None]
    frames = torch.arange(in_len, dtype=torch.float32)[None, :]
    near = (frames + 0.5 - (steps + 0.5) * in_len / out_len).abs() <= max(1.0, band * in_len)   # (L, T')
    return float((w[:out_len, :in_len] * near).sum() / out_len), float(near.float().mean())
