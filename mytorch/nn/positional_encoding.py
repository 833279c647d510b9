"""Sinusoidal positional encoding of "Attention Is All You Need" (Vaswani et al., 2017)."""
import numpy as np

__all__ = ["PositionalEncoding"]


class PositionalEncoding:
    """Adds PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)) to x.

    ``pe`` (max_len, d_model) is fixed (no parameters); x is (N, T, d_model) or any
    (..., T, d_model) with T <= max_len. ``backward`` passes the gradient through.
    """

    param_grads = ()  # fixed, not trained

    def __init__(self, d_model, max_len=5000):
        self.d_model, self.max_len = d_model, max_len
        position = np.arange(max_len)[:, None]  # (max_len, 1)
        div = 10000.0 ** (np.arange(0, d_model, 2) / d_model)  # 10000^(2i/d), (ceil(d/2),)
        self.pe = np.zeros((max_len, d_model))
        self.pe[:, 0::2] = np.sin(position / div)
        self.pe[:, 1::2] = np.cos(position / div[: d_model // 2])

    def forward(self, x):
        if x.ndim < 2 or x.shape[-1] != self.d_model:
            raise ValueError(f"PositionalEncoding: expected input (..., T, {self.d_model}), "
                             f"received {x.shape}")
        T = x.shape[-2]
        if T > self.max_len:
            raise ValueError(f"PositionalEncoding: sequence length T={T} exceeds "
                             f"max_len={self.max_len}; build it with a larger max_len")
        return x + self.pe[:T]

    def backward(self, dLdy):
        return dLdy
