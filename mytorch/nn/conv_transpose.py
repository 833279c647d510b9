"""Transposed convolutions, the course's definition: upsample, then a stride-1 convolution.

``ConvTranspose1d(in, out, k, upsampling_factor)`` inserts ``upsampling_factor - 1`` zeros
between input samples (``Upsample1d``) and applies ``Conv1d_stride1(in, out, k)`` with no
padding, so W_out = upsampling_factor * (W_in - 1) + 1 - k + 1. Its weight is (out, in, k)
and is applied as a plain convolution. This is not torch's ``conv_transpose1d``: that one
takes a weight (in, out, k), flipped along k, and pads the upsampled input by k - 1, i.e.
``conv_transpose1d(A, W.flip(-1).transpose(0, 1), stride=s, padding=k - 1)`` equals this
layer. The 2-D layer does the same along H and W.
"""
from .conv import Conv1d_stride1, Conv2d_stride1
from .resampling import Upsample1d, Upsample2d

__all__ = ["ConvTranspose1d", "ConvTranspose2d"]


class _UpsampleConv:
    """forward: upsample then stride-1 convolution; backward: the two in reverse."""

    upsample_cls, stride1_cls = Upsample2d, Conv2d_stride1
    part_names = ("upsample2d", "conv2d_stride1")          # the course's attribute names

    def __init__(self, in_channels, out_channels, kernel_size, upsampling_factor,
                 weight_init_fn=None, bias_init_fn=None):
        self.upsampling_factor = int(upsampling_factor)
        setattr(self, self.part_names[0], self.upsample_cls(self.upsampling_factor))
        setattr(self, self.part_names[1], self.stride1_cls(
            in_channels, out_channels, kernel_size, weight_init_fn, bias_init_fn))

    @property
    def _up(self):
        return getattr(self, self.part_names[0])

    @property
    def _conv(self):
        return getattr(self, self.part_names[1])

    def forward(self, A):
        """A (N, C_in, *spatial) -> Z (N, C_out, *(s * (spatial - 1) + 1 - k + 1))."""
        return self._conv.forward(self._up.forward(A))

    def backward(self, dLdZ):
        """dLdZ like Z -> dLdA like A; the convolution part stores dLdW, dLdb."""
        return self._up.backward(self._conv.backward(dLdZ))

    def __repr__(self):
        c = self._conv
        return (f"{type(self).__name__}({c.in_channels}, {c.out_channels}, kernel_size="
                f"{c.kernel_size}, upsampling_factor={self.upsampling_factor})")


class ConvTranspose1d(_UpsampleConv):
    """``ConvTranspose1d(in_channels, out_channels, kernel_size, upsampling_factor,
    weight_init_fn=None, bias_init_fn=None)``, parts ``upsample1d`` and ``conv1d_stride1``."""

    upsample_cls, stride1_cls = Upsample1d, Conv1d_stride1
    part_names = ("upsample1d", "conv1d_stride1")


class ConvTranspose2d(_UpsampleConv):
    """``ConvTranspose2d(in_channels, out_channels, kernel_size, upsampling_factor,
    weight_init_fn=None, bias_init_fn=None)``, parts ``upsample2d`` and ``conv2d_stride1``."""
