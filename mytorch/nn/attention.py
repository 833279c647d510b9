"""Attention: scaled dot-product attention, multi-head attention and the two mask helpers.

Mask convention (the course's, and ``torch.nn.MultiheadAttention``'s): a boolean mask in
which **True means "may NOT attend"** (a future position, a padding frame). Note that
``torch.nn.functional.scaled_dot_product_attention`` uses the opposite convention for a
boolean ``attn_mask`` (True = may attend): pass ``~mask`` there.

A masked score is replaced by a large negative number before the softmax, so a row in
which every key is masked gets uniform weights (finite, no NaN); torch's SDPA returns
zeros for such a row and ``torch.nn.MultiheadAttention`` returns NaN.
"""
import numpy as np

from .activation import Softmax

__all__ = ["MultiHeadAttention", "ScaledDotProductAttention", "causal_mask", "padding_mask"]

MASKED_SCORE = -1e9  # what a masked score becomes; exp(MASKED_SCORE - max) == 0 in float32 too


def causal_mask(L):
    """(L, L) boolean, True above the diagonal: position i may not attend to j > i."""
    return np.triu(np.ones((L, L), dtype=bool), k=1)


def padding_mask(lengths, S):
    """(N, S) boolean, True at the padding: key j of sequence n is masked when j >= lengths[n]."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"padding_mask: lengths must be 1-D (N,), received shape {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > S):
        raise ValueError(f"padding_mask: lengths must lie in [0, S={S}], received "
                         f"min {lengths.min()} and max {lengths.max()}")
    return np.arange(S)[None, :] >= lengths[:, None]


def _check_mask(mask, shape, name):
    """Raise ValueError unless ``mask`` is boolean and broadcastable to ``shape``."""
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"{name} must be boolean (True = may not attend), received dtype "
                         f"{mask.dtype}; for an additive float mask use mask != 0")
    try:
        ok = np.broadcast_shapes(mask.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must broadcast to {tuple(shape)}, received shape {mask.shape}")
    return mask


def _sum_to(grad, shape):
    """Sum a broadcast gradient back to ``shape`` (the leading batch axes of one input)."""
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


class ScaledDotProductAttention:
    """softmax(Q K^T / sqrt(E), over S) V, with masked scores set to ``MASKED_SCORE``.

    Q (..., L, E), K (..., S, E), V (..., S, Ev) -> (..., L, Ev); the leading axes broadcast.
    ``attention_weights`` (..., L, S) holds the softmax of the last forward (for plots).
    """

    param_grads = ()  # no parameters

    def __init__(self):
        self.softmax = Softmax(dim=-1)  # over the keys S

    def forward(self, Q, K, V, mask=None):
        if Q.ndim < 2 or K.ndim < 2 or V.ndim < 2:
            raise ValueError(f"attention: Q, K, V need at least 2 axes (..., L, E), received "
                             f"shapes {Q.shape}, {K.shape}, {V.shape}")
        if K.shape[-1] != Q.shape[-1]:
            raise ValueError(f"attention: K must have E={Q.shape[-1]} features like Q, "
                             f"received {K.shape[-1]} (K shape {K.shape})")
        if V.shape[-2] != K.shape[-2]:
            raise ValueError(f"attention: V must have S={K.shape[-2]} positions like K, "
                             f"received {V.shape[-2]} (V shape {V.shape})")
        try:
            np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
        except ValueError:
            raise ValueError(f"attention: leading axes of Q {Q.shape}, K {K.shape} and "
                             f"V {V.shape} do not broadcast") from None
        self.Q, self.K, self.V = Q, K, V
        self.scale = 1.0 / np.sqrt(Q.shape[-1])
        scores = (Q @ np.swapaxes(K, -1, -2)) * self.scale  # (..., L, S)
        self.mask = None
        if mask is not None:
            self.mask = _check_mask(mask, scores.shape, "attention mask")
            scores = np.where(self.mask, MASKED_SCORE, scores)
        self.attention_weights = self.softmax.forward(scores)  # (..., L, S)
        return self.attention_weights @ V  # (..., L, Ev)

    def backward(self, d_output):
        A, Q, K, V = self.attention_weights, self.Q, self.K, self.V
        expected = A.shape[:-1] + V.shape[-1:]
        if d_output.shape != expected:
            raise ValueError(f"attention backward: expected d_output of shape {expected}, "
                             f"received {d_output.shape}")
        dV = np.swapaxes(A, -1, -2) @ d_output  # (..., S, Ev)
        dA = d_output @ np.swapaxes(V, -1, -2)  # (..., L, S)
        d_scores = self.softmax.backward(dA)
        if self.mask is not None:  # a masked score is a constant: no gradient flows through it
            d_scores = np.where(self.mask, 0.0, d_scores)
        d_scores = d_scores * self.scale
        dQ = d_scores @ K
        dK = np.swapaxes(d_scores, -1, -2) @ Q
        return _sum_to(dQ, Q.shape), _sum_to(dK, K.shape), _sum_to(dV, V.shape)


class MultiHeadAttention:
    """Multi-head attention as ``torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)``.

    Weights W* (E, E) in ``Linear`` layout (out, in), biases b* (E,). Head h uses the
    features [h*D, (h+1)*D) of each projection, D = E / num_heads, as torch does.
    The weights start Xavier-uniform and the biases zero (torch's initialisation);
    ``rng`` (seed or ``np.random.Generator``) makes that reproducible.
    Masks: ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S), True = may not attend.
    """

    PARAMS = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")
    # (parameter, gradient) attribute pairs: what mytorch.optim updates and state_dict saves
    param_grads = tuple((name, "d" + name) for name in PARAMS)

    def __init__(self, embed_dim, num_heads, rng=None):
        if embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim={embed_dim} must be divisible by "
                             f"num_heads={num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        rng = np.random.default_rng(rng)
        bound = np.sqrt(6.0 / (2 * embed_dim))
        weights = [rng.uniform(-bound, bound, (embed_dim, embed_dim)) for _ in range(4)]
        biases = [np.zeros(embed_dim) for _ in range(4)]
        self.init_weights(*[a for pair in zip(weights, biases) for a in pair])
        self.attention = ScaledDotProductAttention()
        for name in self.PARAMS:
            setattr(self, "d" + name, np.zeros_like(getattr(self, name)))

    def init_weights(self, Wq, bq, Wk, bk, Wv, bv, Wo, bo):
        E = self.embed_dim
        for name, value in zip(self.PARAMS, (Wq, bq, Wk, bk, Wv, bv, Wo, bo)):
            value = np.array(value, dtype=np.float64)  # a copy: optimizers update it in place
            expected = (E, E) if name[0] == "W" else (E,)
            if value.shape != expected:
                raise ValueError(f"MultiHeadAttention.init_weights: {name} must have shape "
                                 f"{expected}, received {value.shape}")
            setattr(self, name, value)

    def _split(self, x):  # (N, T, E) -> (N, H, T, D)
        N, T, _ = x.shape
        return x.reshape(N, T, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge(self, x):  # (N, H, T, D) -> (N, T, E)
        N, _, T, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(N, T, self.embed_dim)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        E = self.embed_dim
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.ndim != 3 or x.shape[-1] != E:
                raise ValueError(f"MultiHeadAttention: {name} must have shape (N, T, {E}), "
                                 f"received {x.shape}")
        N, L, _ = query.shape
        S = key.shape[1]
        if key.shape[0] != N or value.shape[:2] != key.shape[:2]:
            raise ValueError(f"MultiHeadAttention: key and value must have shape ({N}, S, {E}) "
                             f"with the same S, received {key.shape} and {value.shape}")
        mask = None
        if key_padding_mask is not None:
            mask = _check_mask(key_padding_mask, (N, S), "key_padding_mask")
            if mask.shape != (N, S):
                raise ValueError(f"key_padding_mask must have shape ({N}, {S}), received {mask.shape}")
            mask = mask[:, None, None, :]  # (N, 1, 1, S)
        if attn_mask is not None:
            am = _check_mask(attn_mask, (L, S), "attn_mask")
            if am.shape != (L, S):
                raise ValueError(f"attn_mask must have shape ({L}, {S}), received {am.shape}")
            mask = am if mask is None else (mask | am)  # (N, 1, L, S) or (L, S)
        self.inputs = (query, key, value)
        q = self._split(query @ self.Wq.T + self.bq)  # (N, H, L, D)
        k = self._split(key @ self.Wk.T + self.bk)  # (N, H, S, D)
        v = self._split(value @ self.Wv.T + self.bv)  # (N, H, S, D)
        self.context = self._merge(self.attention.forward(q, k, v, mask))  # (N, L, E)
        return self.context @ self.Wo.T + self.bo

    @property
    def attention_weights(self):
        """(N, H, L, S) attention weights of the last forward."""
        return self.attention.attention_weights

    def backward(self, d_output):
        query, key, value = self.inputs
        if d_output.shape != query.shape:
            raise ValueError(f"MultiHeadAttention backward: expected d_output of shape "
                             f"{query.shape}, received {d_output.shape}")
        self.dWo = np.einsum("nlo,nli->oi", d_output, self.context)
        self.dbo = d_output.sum(axis=(0, 1))
        d_context = self._split(d_output @ self.Wo)  # (N, H, L, D)
        dq, dk, dv = (self._merge(g) for g in self.attention.backward(d_context))
        grads = []
        for x, d, W, b in ((query, dq, "Wq", "bq"), (key, dk, "Wk", "bk"), (value, dv, "Wv", "bv")):
            setattr(self, "d" + W, np.einsum("nto,nti->oi", d, x))
            setattr(self, "d" + b, d.sum(axis=(0, 1)))
            grads.append(d @ getattr(self, W))
        return tuple(grads)  # dquery, dkey, dvalue
