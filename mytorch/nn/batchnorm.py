"""Batch normalization over the feature axis of (N, C) inputs, as in the course's HW1P1."""
import numpy as np

from ..arrays import as_float_array

__all__ = ["BatchNorm1d"]


class BatchNorm1d:
    """``BatchNorm1d(num_features, alpha=0.9)``.

    Training: NZ = (Z - M) / sqrt(V + eps) with the batch mean M and the biased batch
    variance V, BZ = BW * NZ + Bb, and ``running = alpha * running + (1 - alpha) * batch``
    for the mean and the (biased) variance. Eval (``forward(Z, eval=True)``) uses the
    running statistics. Note: PyTorch's running variance uses the unbiased batch variance
    and ``momentum = 1 - alpha``; the course (and this layer) keeps the biased one.
    """

    param_grads = (("BW", "dLdBW"), ("Bb", "dLdBb"))
    buffers = ("running_M", "running_V")

    def __init__(self, num_features, alpha=0.9, dtype=np.float64):
        self.num_features = C = int(num_features)
        self.alpha = alpha
        self.eps = 1e-8
        self.BW = np.ones((1, C), dtype=dtype)
        self.Bb = np.zeros((1, C), dtype=dtype)
        self.dLdBW = np.zeros((1, C), dtype=dtype)
        self.dLdBb = np.zeros((1, C), dtype=dtype)
        self.running_M = np.zeros((1, C), dtype=dtype)
        self.running_V = np.ones((1, C), dtype=dtype)

    def forward(self, Z, eval=False):
        """Z (N, C) -> BZ (N, C)."""
        Z = as_float_array(Z)
        if Z.ndim != 2 or Z.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d expected input of shape (N, {self.num_features}), "
                             f"got shape {Z.shape}")
        self.Z, self.N = Z, Z.shape[0]
        if eval:
            self.NZ = None                                           # no backward in eval mode
            NZ = (Z - self.running_M) / np.sqrt(self.running_V + self.eps)
            return self.BW * NZ + self.Bb
        self.M = Z.mean(axis=0, keepdims=True)                       # (1, C)
        self.V = Z.var(axis=0, keepdims=True)                        # (1, C), biased
        self.inv_std = 1.0 / np.sqrt(self.V + self.eps)              # (1, C)
        self.NZ = (Z - self.M) * self.inv_std                        # (N, C)
        self.BZ = self.BW * self.NZ + self.Bb                        # (N, C)
        a = self.alpha
        self.running_M = a * self.running_M + (1 - a) * self.M
        self.running_V = a * self.running_V + (1 - a) * self.V
        return self.BZ

    def backward(self, dLdBZ):
        """dLdBZ (N, C) -> dLdZ (N, C); sets dLdBW, dLdBb (1, C). Training mode only."""
        if getattr(self, "NZ", None) is None:
            raise RuntimeError("BatchNorm1d.backward needs a training-mode forward (eval=False) first")
        if np.shape(dLdBZ) != self.Z.shape:
            raise ValueError(f"BatchNorm1d.backward expected dLdBZ of shape {self.Z.shape}, "
                             f"got shape {np.shape(dLdBZ)}")
        N = self.N
        self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)  # (1, C)
        self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)            # (1, C)
        dLdNZ = dLdBZ * self.BW                                      # (N, C)
        Zc = self.Z - self.M                                         # (N, C)
        dLdV = -0.5 * np.sum(dLdNZ * Zc, axis=0, keepdims=True) * self.inv_std ** 3
        dLdM = (-np.sum(dLdNZ, axis=0, keepdims=True) * self.inv_std
                - (2.0 / N) * dLdV * np.sum(Zc, axis=0, keepdims=True))
        return dLdNZ * self.inv_std + dLdV * (2.0 / N) * Zc + dLdM / N

    def __repr__(self):
        return f"BatchNorm1d({self.num_features}, alpha={self.alpha})"
