"""Convolutions (the course's cross-correlation, as in every deep learning library).

Stride-1 layers do the work; the strided layers are the course's composition
``zero padding -> stride-1 convolution -> Downsample``, and expose those parts.

How the stride-1 convolution is computed (no Python loop over batch, channels or positions):
the input is laid out channels-last as rows X (N*H*W, C_in), one row per pixel. For the
kernel offset (i, j), output pixel q reads input pixel q + s with s = i*W + j, so

    Z_rows[q] = sum_(i,j) X[q + s] @ W[:, :, i, j].T        (one GEMM per kernel offset)

Rows q whose window would cross the right or bottom edge are computed and thrown away
(an (H - kh + 1) x (W - kw + 1) corner of each image is kept). The backward pass uses the
same shifts: dLdW[:, :, i, j] = (X[s:].T @ G[:M-s]).T and dLdX[s:] += G[:M-s] @ W[:, :, i, j],
with G the output gradient placed in an (N*H*W, C_out) array of zeros. 1-D layers are the
2-D computation with H = 1.
"""
import numpy as np

from .resampling import Downsample1d, Downsample2d, check_shape

__all__ = ["Conv1d", "Conv1d_stride1", "Conv2d", "Conv2d_stride1"]


def correlate(A, W):
    """Valid cross-correlation. A (N, C, H, Wd), W (O, C, kh, kw) -> (Z (N, O, Ho, Wo), X rows)."""
    N, C, H, Wd = A.shape
    O, _, kh, kw = W.shape
    dtype = np.result_type(A.dtype, W.dtype)
    X = np.ascontiguousarray(A.transpose(0, 2, 3, 1), dtype=dtype).reshape(-1, C)  # (M, C)
    Wk = np.ascontiguousarray(W.transpose(2, 3, 1, 0), dtype=dtype)               # (kh, kw, C, O)
    M = X.shape[0]
    Z = X @ Wk[0, 0]                                                               # (M, O)
    buf = np.empty_like(Z)
    for i in range(kh):
        for j in range(kw):
            s = i * Wd + j
            if s:
                np.matmul(X[s:], Wk[i, j], out=buf[:M - s])
                Z[:M - s] += buf[:M - s]
    Z = Z.reshape(N, H, Wd, O)[:, :H - kh + 1, :Wd - kw + 1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(Z), X


def correlate_backward(X, A_shape, W, dLdZ):
    """Gradients of ``correlate``: X rows from forward, dLdZ (N, O, Ho, Wo) -> (dLdA, dLdW)."""
    N, C, H, Wd = A_shape
    O, _, kh, kw = W.shape
    M, dtype = X.shape[0], X.dtype
    G = np.zeros((N, H, Wd, O), dtype=dtype)
    G[:, :H - kh + 1, :Wd - kw + 1] = dLdZ.transpose(0, 2, 3, 1)
    G = G.reshape(M, O)                                                            # (M, O)
    Wk = np.ascontiguousarray(W.transpose(2, 3, 0, 1), dtype=dtype)               # (kh, kw, O, C)
    dLdW = np.empty((kh, kw, C, O), dtype=dtype)
    dX = np.zeros((M, C), dtype=dtype)
    buf = np.empty_like(dX)
    for i in range(kh):
        for j in range(kw):
            s = i * Wd + j
            np.matmul(X[s:].T, G[:M - s], out=dLdW[i, j])
            np.matmul(G[:M - s], Wk[i, j], out=buf[s:])
            dX[s:] += buf[s:]
    dLdA = dX.reshape(N, H, Wd, C).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(dLdA), np.ascontiguousarray(dLdW.transpose(3, 2, 0, 1))


class _ConvStride1:
    """Stride-1 convolution over the last ``ndim`` (1 or 2) axes; W (out, in, *k), b (out,)."""

    ndim = 2
    param_grads = (("W", "dLdW"), ("b", "dLdb"))

    def __init__(self, in_channels, out_channels, kernel_size, weight_init_fn=None,
                 bias_init_fn=None):
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = int(kernel_size)
        if min(self.in_channels, self.out_channels, self.kernel_size) < 1:
            raise ValueError(f"{type(self).__name__} needs positive sizes, got in_channels="
                             f"{in_channels}, out_channels={out_channels}, kernel_size={kernel_size}")
        w_shape = (self.out_channels, self.in_channels) + (self.kernel_size,) * self.ndim
        if weight_init_fn is None:
            self.W = np.random.normal(0, 1.0, w_shape)
        else:
            self.W = check_shape(type(self).__name__, "weight_init_fn output",
                                 weight_init_fn(*w_shape), w_shape)
        if bias_init_fn is None:
            self.b = np.zeros(self.out_channels)
        else:
            self.b = check_shape(type(self).__name__, "bias_init_fn output",
                                 bias_init_fn(self.out_channels), (self.out_channels,))
        self.dLdW = np.zeros_like(self.W)
        self.dLdb = np.zeros_like(self.b)
        self.A = None

    def _as_2d(self, x):
        """(N, C, W) -> (N, C, 1, W) for the 1-D layers; 2-D arrays pass through."""
        return x[:, :, None, :] if self.ndim == 1 else x

    def forward(self, A):
        """A (N, C_in, *spatial) -> Z (N, C_out, *(spatial - k + 1))."""
        name, k = type(self).__name__, self.kernel_size
        A = check_shape(name, "A", A, (None, self.in_channels) + (None,) * self.ndim)
        if min(A.shape[2:]) < k or A.shape[0] < 1:
            raise ValueError(f"{name} expected A with N >= 1 and every spatial size >= "
                             f"kernel_size {k}, got shape {A.shape}")
        self.A = A
        Z, self._X = correlate(self._as_2d(A), self._as_2d(self.W))
        Z = Z.reshape(A.shape[0], self.out_channels, *(n - k + 1 for n in A.shape[2:]))
        Z += self.b.reshape(-1, *(1,) * self.ndim)        # in place: Z keeps its dtype
        return Z

    def backward(self, dLdZ):
        """dLdZ like Z -> dLdA like A; sets dLdW like W and dLdb like b."""
        if self.A is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        k = self.kernel_size
        expected = (self.A.shape[0], self.out_channels, *(n - k + 1 for n in self.A.shape[2:]))
        dLdZ = check_shape(type(self).__name__ + ".backward", "dLdZ", dLdZ, expected)
        dLdA, dLdW = correlate_backward(self._X, self._as_2d(self.A).shape,
                                        self._as_2d(self.W), self._as_2d(dLdZ))
        self.dLdW = dLdW.reshape(self.W.shape)
        self.dLdb = dLdZ.sum(axis=(0, *range(2, 2 + self.ndim)))
        return dLdA.reshape(self.A.shape)

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size})")


class Conv1d_stride1(_ConvStride1):
    """``Conv1d_stride1(in_channels, out_channels, kernel_size, weight_init_fn=None,
    bias_init_fn=None)``: W (out, in, k) from ``weight_init_fn(out, in, k)`` (default
    N(0, 1)), b (out,) from ``bias_init_fn(out)`` (default zeros).
    A (N, C_in, W_in) -> Z (N, C_out, W_in - k + 1)."""

    ndim = 1


class Conv2d_stride1(_ConvStride1):
    """``Conv2d_stride1(in_channels, out_channels, kernel_size, weight_init_fn=None,
    bias_init_fn=None)``: W (out, in, k, k) from ``weight_init_fn(out, in, k, k)``.
    A (N, C_in, H, W) -> Z (N, C_out, H - k + 1, W - k + 1)."""

    ndim = 2


class _PadConvDownsample:
    """The course's strided convolution: zero-pad, stride-1 convolution, downsample."""

    ndim = 2
    stride1_cls, downsample_cls = Conv2d_stride1, Downsample2d
    part_names = ("conv2d_stride1", "downsample2d")        # the course's attribute names

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 weight_init_fn=None, bias_init_fn=None):
        if callable(padding):
            # the course's S24 call form Conv(in, out, k, stride, weight_init_fn, bias_init_fn):
            # its layers had no padding, so the 5th and 6th positional arguments are the init fns
            if bias_init_fn is not None:
                raise TypeError(f"{type(self).__name__}: got weight_init_fn as the 5th positional "
                                "argument and three init functions; pass padding by keyword")
            padding, weight_init_fn, bias_init_fn = 0, padding, weight_init_fn
        self.stride, self.pad = int(stride), int(padding)
        if self.pad < 0:
            raise ValueError(f"{type(self).__name__} padding must be >= 0, got {padding}")
        conv = self.stride1_cls(in_channels, out_channels, kernel_size, weight_init_fn,
                                bias_init_fn)
        setattr(self, self.part_names[0], conv)
        setattr(self, self.part_names[1], self.downsample_cls(self.stride))

    @property
    def _conv(self):
        return getattr(self, self.part_names[0])

    @property
    def _down(self):
        return getattr(self, self.part_names[1])

    def forward(self, A):
        """A (N, C_in, *spatial) -> Z (N, C_out, *((spatial + 2p - k) // stride + 1))."""
        A = check_shape(type(self).__name__, "A", A,
                        (None, self._conv.in_channels) + (None,) * self.ndim)
        self.input_shape = A.shape
        if self.pad:
            A = np.pad(A, [(0, 0), (0, 0)] + [(self.pad, self.pad)] * self.ndim)
        return self._down.forward(self._conv.forward(A))

    def backward(self, dLdZ):
        """dLdZ like Z -> dLdA like A (the padding's gradient is dropped)."""
        dLdA = self._conv.backward(self._down.backward(dLdZ))
        if self.pad:
            dLdA = dLdA[(Ellipsis,) + (slice(self.pad, -self.pad),) * self.ndim]
        return dLdA

    def __repr__(self):
        c = self._conv
        return (f"{type(self).__name__}({c.in_channels}, {c.out_channels}, kernel_size="
                f"{c.kernel_size}, stride={self.stride}, padding={self.pad})")


class Conv1d(_PadConvDownsample):
    """``Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    weight_init_fn=None, bias_init_fn=None)``, with parts ``conv1d_stride1`` and
    ``downsample1d``. A (N, C_in, W_in) -> (N, C_out, (W_in + 2p - k) // stride + 1).
    Both of the course's call forms work: F24/F25 pass ``padding`` (by keyword) before the
    init functions; S24 passes the init functions as the 5th and 6th positional arguments
    (``Conv1d(in, out, k, stride, weight_init_fn, bias_init_fn)``): a callable in the
    ``padding`` slot is taken as ``weight_init_fn``."""

    ndim = 1
    stride1_cls, downsample_cls = Conv1d_stride1, Downsample1d
    part_names = ("conv1d_stride1", "downsample1d")


class Conv2d(_PadConvDownsample):
    """``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    weight_init_fn=None, bias_init_fn=None)``, with parts ``conv2d_stride1`` and
    ``downsample2d``. A (N, C_in, H, W) -> (N, C_out, (H + 2p - k) // s + 1, (W + 2p - k) // s + 1).
    Accepts the S24 call form ``Conv2d(in, out, k, stride, weight_init_fn, bias_init_fn)``
    too (see ``Conv1d``)."""

    ndim = 2
