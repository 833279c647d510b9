"""A pre-norm transformer encoder layer built from ``mytorch.nn`` layers.

    x = x + MHA(LN1(x))          (self-attention sublayer, residual)
    y = x + FFN(LN2(x))          FFN = Linear(d_model, d_ff), ReLU, Linear(d_ff, d_model)

The same block as ``torch.nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout=0,
batch_first=True, norm_first=True)``; the sublayers carry torch's attribute names.
"""
import numpy as np

from ..nn.activation import ReLU
from ..nn.attention import MultiHeadAttention
from ..nn.layernorm import LayerNorm
from ..nn.linear import Linear

__all__ = ["TransformerEncoderLayer"]


class TransformerEncoderLayer:
    """``forward(x, key_padding_mask=None, attn_mask=None)`` x (N, T, d_model) -> (N, T, d_model);
    ``backward(dy)`` -> dx, setting the gradients of every sublayer.

    Linear layers start as torch's (uniform in +-1/sqrt(fan_in)), the attention Xavier-uniform,
    LayerNorm at ones/zeros; ``rng`` (seed or ``np.random.Generator``) makes it reproducible.
    ``mytorch.optim`` optimizers find all parameters (``Adam(layer, lr)``).
    """

    def __init__(self, d_model, num_heads, d_ff, rng=None):
        rng = np.random.default_rng(rng)
        self.d_model = d_model
        self.norm1 = LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, num_heads, rng=rng)
        self.norm2 = LayerNorm(d_model)
        self.linear1 = Linear(d_model, d_ff)
        self.activation = ReLU()
        self.linear2 = Linear(d_ff, d_model)
        for layer in (self.linear1, self.linear2):
            bound = 1.0 / np.sqrt(layer.in_features)
            layer.W = rng.uniform(-bound, bound, layer.W.shape)
            layer.b = rng.uniform(-bound, bound, layer.b.shape)

    def forward(self, x, key_padding_mask=None, attn_mask=None):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"TransformerEncoderLayer: expected x of shape (N, T, {self.d_model}), "
                             f"received {x.shape}")
        h = self.norm1.forward(x)
        x = x + self.self_attn.forward(h, h, h, key_padding_mask=key_padding_mask,
                                       attn_mask=attn_mask)
        h = self.linear1.forward(self.norm2.forward(x))  # (N, T, d_ff)
        return x + self.linear2.forward(self.activation.forward(h))

    __call__ = forward

    def backward(self, dy):
        """dL/dy (N, T, d_model) -> dL/dx; each residual adds the identity path."""
        d_ffn = self.linear1.backward(self.activation.backward(self.linear2.backward(dy)))
        dx = dy + self.norm2.backward(d_ffn)  # gradient at the attention sublayer's output
        dq, dk, dv = self.self_attn.backward(dx)
        return dx + self.norm1.backward(dq + dk + dv)  # query, key and value are all LN1(x)

    @property
    def attention_weights(self):
        """(N, H, T, T) self-attention weights of the last forward."""
        return self.self_attn.attention_weights
