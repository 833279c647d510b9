"""Resampling layers: the building blocks of strided and transposed convolutions.

The course's definitions, for an upsampling / downsampling factor k:
- ``Upsample1d``: W_out = k * (W_in - 1) + 1; the input samples land on every k-th output
  position and the k - 1 positions between them are zeros. ``backward`` keeps every k-th
  gradient (the zeros had no input to send gradient to).
- ``Downsample1d``: keeps every k-th sample, W_out = ceil(W_in / k). It remembers W_in,
  because several input widths give the same output width; ``backward`` scatters the
  gradient back onto the kept positions of a zero array of the input's shape.
The 2-D versions do the same along both H and W of an (N, C, H, W) array. A factor of 1
is the identity and hands its input (or gradient) on without a copy.
"""
import numpy as np

__all__ = ["Downsample1d", "Downsample2d", "Upsample1d", "Upsample2d"]


def check_factor(name, factor):
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"{name} factor must be a positive integer, got {factor}")
    return factor


def check_shape(layer, what, array, expected):
    """Raise a ValueError naming ``expected`` (None = any size) and the received shape."""
    shape = np.shape(array)
    if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
        wanted = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{layer} expected {what} of shape {wanted}, got shape {shape}")
    return np.asarray(array)


class _Resample:
    """Shared forward/backward over the last ``ndim`` axes; subclasses set the direction."""

    ndim, up = 1, True

    def __init__(self, factor):
        self.factor = check_factor(type(self).__name__, factor)
        # the course's attribute name: upsampling_factor or downsampling_factor
        setattr(self, "upsampling_factor" if self.up else "downsampling_factor", self.factor)
        self.input_shape = None

    def _grid(self):
        """Index of the kept / filled positions: every k-th along each spatial axis."""
        return (Ellipsis,) + (slice(None, None, self.factor),) * self.ndim

    def _scaled(self, shape):
        k, spatial = self.factor, shape[-self.ndim:]
        sizes = [k * (s - 1) + 1 for s in spatial] if self.up else [-(-s // k) for s in spatial]
        return (*shape[:-self.ndim], *sizes)

    def forward(self, A):
        """(N, C, *spatial) -> upsampled (zeros inserted) or downsampled (every k-th kept)."""
        A = check_shape(type(self).__name__, "A", A, (None,) * (2 + self.ndim))
        if min(A.shape[-self.ndim:]) < 1:
            raise ValueError(f"{type(self).__name__} got an empty input of shape {A.shape}")
        self.input_shape = A.shape
        if self.factor == 1:                       # identity: no copy (a strided conv with
            return A                               # stride 1 passes through for free)
        if not self.up:
            return A[self._grid()].copy()
        Z = np.zeros(self._scaled(A.shape), dtype=A.dtype)
        Z[self._grid()] = A
        return Z

    def backward(self, dLdZ):
        """dLdZ like the output -> dLdA like the input."""
        if self.input_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dLdZ = check_shape(type(self).__name__ + ".backward", "dLdZ", dLdZ,
                           self._scaled(self.input_shape))
        if self.factor == 1:
            return dLdZ
        if self.up:
            return dLdZ[self._grid()].copy()
        dLdA = np.zeros(self.input_shape, dtype=dLdZ.dtype)
        dLdA[self._grid()] = dLdZ
        return dLdA

    def __repr__(self):
        return f"{type(self).__name__}({self.factor})"


class Upsample1d(_Resample):
    """``Upsample1d(upsampling_factor)``: (N, C, W_in) -> (N, C, k * (W_in - 1) + 1)."""

    ndim, up = 1, True

    def __init__(self, upsampling_factor):
        super().__init__(upsampling_factor)


class Downsample1d(_Resample):
    """``Downsample1d(downsampling_factor)``: (N, C, W_in) -> (N, C, ceil(W_in / k))."""

    ndim, up = 1, False

    def __init__(self, downsampling_factor):
        super().__init__(downsampling_factor)


class Upsample2d(_Resample):
    """``Upsample2d(upsampling_factor)``: (N, C, H, W) -> (N, C, k(H-1)+1, k(W-1)+1)."""

    ndim, up = 2, True

    def __init__(self, upsampling_factor):
        super().__init__(upsampling_factor)


class Downsample2d(_Resample):
    """``Downsample2d(downsampling_factor)``: (N, C, H, W) -> (N, C, ceil(H/k), ceil(W/k))."""

    ndim, up = 2, False

    def __init__(self, downsampling_factor):
        super().__init__(downsampling_factor)
