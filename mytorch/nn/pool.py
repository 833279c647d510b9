"""2-D pooling, the course's layers: stride-1 pooling, and pooling with a stride as
stride-1 pooling followed by ``Downsample2d``.

A window is k x k; the stride-1 output is (N, C, H - k + 1, W - k + 1). Windows are read with
``sliding_window_view`` (no copy). Backward loops over the k*k offsets inside the window
(never over batch, channels or positions): offset (i, j) of every window sends its share of
dLdZ to the input pixels dLdA[:, :, i:i+Ho, j:j+Wo]; overlapping windows add up.
Max pooling sends the whole gradient to the window's first maximum (np.argmax's order,
the same as torch's), mean pooling sends 1/k^2 of it to every pixel.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .resampling import Downsample2d, check_shape

__all__ = ["MaxPool2d", "MaxPool2d_stride1", "MeanPool2d", "MeanPool2d_stride1"]


class _Pool2dStride1:
    def __init__(self, kernel):
        self.kernel = int(kernel)
        if self.kernel < 1:
            raise ValueError(f"{type(self).__name__} kernel must be >= 1, got {kernel}")
        self.A_shape = None

    def forward(self, A):
        """A (N, C, H, W) -> Z (N, C, H - k + 1, W - k + 1)."""
        k, name = self.kernel, type(self).__name__
        A = check_shape(name, "A", A, (None, None, None, None))
        if min(A.shape[2:]) < k:
            raise ValueError(f"{name} expected A with H and W >= kernel {k}, got shape {A.shape}")
        self.A_shape = A.shape
        windows = sliding_window_view(A, (k, k), axis=(2, 3))      # (N, C, Ho, Wo, k, k)
        return self._reduce(windows.reshape(*windows.shape[:4], k * k))

    def backward(self, dLdZ):
        """dLdZ (N, C, Ho, Wo) -> dLdA (N, C, H, W)."""
        if self.A_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        k, (N, C, H, W) = self.kernel, self.A_shape
        Ho, Wo = H - k + 1, W - k + 1
        dLdZ = check_shape(type(self).__name__ + ".backward", "dLdZ", dLdZ, (N, C, Ho, Wo))
        dLdA = np.zeros(self.A_shape, dtype=np.result_type(dLdZ.dtype, np.float32))
        for i in range(k):
            for j in range(k):
                dLdA[:, :, i:i + Ho, j:j + Wo] += self._share(dLdZ, i * k + j)
        return dLdA

    def __repr__(self):
        return f"{type(self).__name__}({self.kernel})"


class MaxPool2d_stride1(_Pool2dStride1):
    """``MaxPool2d_stride1(kernel)``: the maximum of every k x k window."""

    def _reduce(self, windows):                                    # (N, C, Ho, Wo, k*k)
        self.argmax = windows.argmax(axis=-1)                      # (N, C, Ho, Wo)
        return np.take_along_axis(windows, self.argmax[..., None], axis=-1)[..., 0]

    def _share(self, dLdZ, offset):
        return np.where(self.argmax == offset, dLdZ, 0)


class MeanPool2d_stride1(_Pool2dStride1):
    """``MeanPool2d_stride1(kernel)``: the mean of every k x k window."""

    def _reduce(self, windows):
        return windows.mean(axis=-1)

    def _share(self, dLdZ, offset):
        return dLdZ / self.kernel ** 2


class _PoolDownsample:
    """Stride-1 pooling then ``Downsample2d(stride)``; backward in reverse."""

    stride1_cls, pool_name = MaxPool2d_stride1, "maxpool2d_stride1"

    def __init__(self, kernel, stride):
        self.kernel, self.stride = int(kernel), int(stride)
        setattr(self, self.pool_name, self.stride1_cls(self.kernel))
        self.downsample2d = Downsample2d(self.stride)

    @property
    def _pool(self):
        return getattr(self, self.pool_name)

    def forward(self, A):
        """A (N, C, H, W) -> Z (N, C, (H - k) // stride + 1, (W - k) // stride + 1)."""
        return self.downsample2d.forward(self._pool.forward(A))

    def backward(self, dLdZ):
        return self._pool.backward(self.downsample2d.backward(dLdZ))

    def __repr__(self):
        return f"{type(self).__name__}({self.kernel}, stride={self.stride})"


class MaxPool2d(_PoolDownsample):
    """``MaxPool2d(kernel, stride)``, parts ``maxpool2d_stride1`` and ``downsample2d``."""


class MeanPool2d(_PoolDownsample):
    """``MeanPool2d(kernel, stride)``, parts ``meanpool2d_stride1`` and ``downsample2d``."""

    stride1_cls, pool_name = MeanPool2d_stride1, "meanpool2d_stride1"
