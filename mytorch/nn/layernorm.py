"""Layer normalisation over the last axis (the feature axis), as ``torch.nn.LayerNorm(D)``."""
import numpy as np

__all__ = ["LayerNorm"]


class LayerNorm:
    """y = W * (x - mean) / sqrt(var + eps) + b, statistics over the last axis of x (..., D).

    ``W`` ones and ``b`` zeros (D,); ``backward`` sets ``dLdW``, ``dLdb`` (summed over every
    leading axis) and returns dLdx. The variance is the biased one, as in torch.
    """

    def __init__(self, normalized_shape, eps=1e-5):
        if isinstance(normalized_shape, (tuple, list)):
            if len(normalized_shape) != 1:
                raise ValueError(f"LayerNorm normalises the last axis only: normalized_shape must "
                                 f"be an int or a 1-tuple, received {normalized_shape}")
            normalized_shape = normalized_shape[0]
        self.D, self.eps = int(normalized_shape), eps
        self.W = np.ones(self.D)
        self.b = np.zeros(self.D)
        self.dLdW = np.zeros(self.D)
        self.dLdb = np.zeros(self.D)

    param_grads = (("W", "dLdW"), ("b", "dLdb"))  # for mytorch.optim and state_dict

    def forward(self, x):
        if x.ndim < 1 or x.shape[-1] != self.D:
            raise ValueError(f"LayerNorm: expected input (..., {self.D}), received {x.shape}")
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std  # (..., D)
        return self.W * self.x_hat + self.b

    def backward(self, dLdy):
        if dLdy.shape != self.x_hat.shape:
            raise ValueError(f"LayerNorm backward: expected dLdy of shape {self.x_hat.shape}, "
                             f"received {dLdy.shape}")
        lead = tuple(range(dLdy.ndim - 1))
        self.dLdW = (dLdy * self.x_hat).sum(axis=lead)
        self.dLdb = dLdy.sum(axis=lead)
        dx_hat = dLdy * self.W
        # d/dx of (x - mean) * inv_std, through the mean and the variance
        return self.inv_std * (dx_hat - dx_hat.mean(axis=-1, keepdims=True)
                               - self.x_hat * (dx_hat * self.x_hat).mean(axis=-1, keepdims=True))
