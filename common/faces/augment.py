"""Batched image augmentation as torch ops on the device (no torchvision).

The DataLoader workers only decode JPEGs into uint8 tensors; everything else happens here,
on whole batches on the GPU: random resized crop (+ horizontal flip, folded into the same
sampling grid), colour jitter, normalisation, random erasing, and optionally mixup/cutmix.

- Every sample of a batch gets its own random parameters (as a per-image pipeline would).
- All randomness comes from ``generator`` (a ``torch.Generator``) when given, so a seed
  reproduces a batch exactly. The generator may live on the CPU or on the images' device;
  parameters are drawn on the generator's device and moved (a few numbers per image).
- Input: uint8 in [0, 255] or float in [0, 1], shape ``(B, C, H, W)``; channels_last
  memory is kept (element-wise ops preserve it; the pipeline returns channels_last).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "FaceAugment",
    "color_jitter",
    "cutmix",
    "grayscale",
    "horizontal_flip",
    "mixup",
    "normalize",
    "prepare_eval",
    "random_erasing",
    "random_resized_crop",
    "to_float",
]


def _rand(shape, generator, device) -> torch.Tensor:
    """Uniform [0, 1) numbers from ``generator`` (on its own device), moved to ``device``."""
    if generator is None:
        return torch.rand(shape, device=device)
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _uniform(n, lo, hi, generator, device) -> torch.Tensor:
    return lo + (hi - lo) * _rand((n,), generator, device)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floating input is returned as it is."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)        # .float() keeps channels_last strides
    if not x.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, not {x.dtype}")
    return x


_LUMA = (0.299, 0.587, 0.114)          # ITU-R 601


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, ``(B, 1, H, W)``."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def random_resized_crop(x, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p: float = 0.0,
                        generator=None, return_params: bool = False):
    """Crop a random box of each image and resize it to ``size`` (bilinear), in one grid_sample.

    Box area ~ U(scale) of the image, aspect ratio log-uniform in ``ratio``, clipped to the
    image; position uniform. ``flip_p``: probability of mirroring the crop (free: it negates
    the grid's x axis). Returns ``(B, C, size, size)`` float; with ``return_params`` also a
    dict of per-sample ``w``, ``h`` (fractions of the side), ``cx``, ``cy`` (centre in
    [-1, 1]) and ``flip``.
    """
    x = to_float(x)
    b, _, h_in, w_in = x.shape
    size = (size, size) if isinstance(size, int) else tuple(size)
    dev = x.device
    area = _uniform(b, scale[0], scale[1], generator, dev)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), generator, dev)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r * h_in / w_in).clamp(max=1.0)       # fraction of the width
    h = torch.sqrt(area / r * w_in / h_in).clamp(max=1.0)
    cx = (1 - w) * (2 * _rand((b,), generator, dev) - 1)
    cy = (1 - h) * (2 * _rand((b,), generator, dev) - 1)
    flip = _rand((b,), generator, dev) < flip_p
    sx = torch.where(flip, -w, w)
    zero = torch.zeros_like(w)
    theta = torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, (b, x.shape[1], *size), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if return_params:
        return out, {"w": w, "h": h, "cx": cx, "cy": cy, "flip": flip}
    return out


def horizontal_flip(x, p: float = 0.5, generator=None, return_mask: bool = False):
    """Mirror each image with probability ``p`` (independently per sample)."""
    flip = _rand((x.shape[0],), generator, x.device) < p
    out = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return (out, flip) if return_mask else out


_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_FROM_YIQ = np.linalg.inv(_TO_YIQ)     # once, on the host: no solver call (and sync) on the GPU


def _yiq_hue_matrices(angle: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 3)`` RGB->RGB matrices that rotate the chroma plane (I, Q) by ``angle``."""
    to_yiq = torch.tensor(_TO_YIQ, dtype=angle.dtype, device=angle.device)
    from_yiq = torch.tensor(_FROM_YIQ, dtype=angle.dtype, device=angle.device)
    c, s = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(angle.shape[0], 3, 3, dtype=angle.dtype, device=angle.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -s, s, c
    return from_yiq @ rot @ to_yiq


def color_jitter(x, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0,
                 hue: float = 0.0, generator=None, return_params: bool = False):
    """Per-sample colour jitter on float images in [0, 1] (result clamped to [0, 1]).

    Factors are uniform in ``[1 - a, 1 + a]`` for brightness (scale), contrast (blend with
    the image's mean grey) and saturation (blend with its grey image), applied in that
    order; ``hue`` in turns (0.5 = half a turn), a rotation of the YIQ chroma plane (a
    linear stand-in for torchvision's HSV hue shift).

    All four are linear in the colour, so their composition is one per-sample affine map
    ``x -> A x + t`` (A 3x3, t grey), applied in a single pass over the pixels:
    brightness b I, contrast c x + (1 - c) mean, saturation s I + (1 - s) 1 w^T (w the luma
    weights), hue H; grey stays grey under saturation and hue, so t = (1 - c) b mean(w.x).
    """
    x = to_float(x)
    b, dev = x.shape[0], x.device
    params = {}
    eye = torch.eye(3, device=dev)
    one = torch.ones(b, device=dev)
    f_b = _uniform(b, 1 - brightness, 1 + brightness, generator, dev) if brightness else one
    f_c = _uniform(b, 1 - contrast, 1 + contrast, generator, dev) if contrast else one
    f_s = _uniform(b, 1 - saturation, 1 + saturation, generator, dev) if saturation else one
    for name, on, f in (("brightness", brightness, f_b), ("contrast", contrast, f_c),
                        ("saturation", saturation, f_s)):
        if on:
            params[name] = f
    w = torch.tensor(_LUMA, device=dev)
    sat = f_s[:, None, None] * eye + (1 - f_s)[:, None, None] * w[None, None, :]   # (B, 3, 3)
    mat = (f_b * f_c)[:, None, None] * sat
    if hue:
        f_h = _uniform(b, -hue, hue, generator, dev)
        mat = _yiq_hue_matrices(2 * math.pi * f_h) @ mat
        params["hue"] = f_h
    out = torch.einsum("bij,bjhw->bihw", mat.to(x.dtype), x)
    if contrast:
        mean_grey = grayscale(x).mean(dim=(1, 2, 3))                                # (B,)
        out = out + ((1 - f_c) * f_b * mean_grey).to(x.dtype)[:, None, None, None]
    out = out.clamp(0.0, 1.0)
    return (out, params) if return_params else out


def random_erasing(x, p: float = 0.25, scale=(0.02, 0.2), ratio=(0.3, 3.3), value=0.0,
                   generator=None, return_mask: bool = False):
    """Erase one random rectangle per image with probability ``p`` (Zhong et al. 2017).

    Area ~ U(scale) of the image, aspect log-uniform in ``ratio``; ``value``: a number
    (0 after normalisation is the mean colour) or ``"random"`` (standard normal noise).
    """
    b, _, h, w = x.shape
    dev = x.device
    area = _uniform(b, scale[0], scale[1], generator, dev) * h * w
    r = torch.exp(_uniform(b, math.log(ratio[0]), math.log(ratio[1]), generator, dev))
    eh = torch.sqrt(area * r).clamp(1, h).floor()
    ew = torch.sqrt(area / r).clamp(1, w).floor()
    top = ((h - eh + 1) * _rand((b,), generator, dev)).floor()
    left = ((w - ew + 1) * _rand((b,), generator, dev)).floor()
    on = _rand((b,), generator, dev) < p
    rows = torch.arange(h, device=dev)[None, :]
    cols = torch.arange(w, device=dev)[None, :]
    in_r = (rows >= top[:, None]) & (rows < (top + eh)[:, None])        # (B, H)
    in_c = (cols >= left[:, None]) & (cols < (left + ew)[:, None])      # (B, W)
    mask = (in_r[:, :, None] & in_c[:, None, :] & on[:, None, None])[:, None]   # (B, 1, H, W)
    if isinstance(value, str):
        if value != "random":
            raise ValueError(f"value must be a number or 'random', not {value!r}")
        if generator is None:
            fill = torch.randn(x.shape, device=dev, dtype=x.dtype)
        else:
            fill = torch.randn(x.shape, generator=generator, device=generator.device,
                               dtype=x.dtype).to(dev)
    else:
        fill = torch.as_tensor(value, dtype=x.dtype, device=dev)
    out = torch.where(mask, fill, x)
    return (out, mask) if return_mask else out


def normalize(x, mean, std) -> torch.Tensor:
    """``(x - mean) / std`` per channel; ``x`` float in [0, 1] (uint8 is converted first)."""
    x = to_float(x)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def _beta_and_perm(n, alpha, generator, device):
    """One mixing weight ~ Beta(alpha, alpha) and a partner permutation, both seeded."""
    gdev = generator.device if generator is not None else "cpu"
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=gdev))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(n, generator=generator, device=gdev).to(device)
    return lam, perm


def mixup(x, y, alpha: float = 0.2, generator=None):
    """Mixup (Zhang et al. 2018): ``lam * x + (1 - lam) * x[perm]``.

    Returns ``(x_mixed, y, y[perm], lam)``; the loss is ``lam * L(y) + (1 - lam) * L(y[perm])``.
    """
    lam, perm = _beta_and_perm(x.shape[0], alpha, generator, x.device)
    x = to_float(x)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


def cutmix(x, y, alpha: float = 1.0, generator=None):
    """CutMix (Yun et al. 2019): paste one box of ``x[perm]`` into every image.

    The box area is ``1 - lam`` of the image (clipped at the borders); the returned ``lam``
    is the exact share of the original image left, for the loss as in ``mixup``.
    """
    lam, perm = _beta_and_perm(x.shape[0], alpha, generator, x.device)
    x = to_float(x)
    _, _, h, w = x.shape
    cut = math.sqrt(1 - lam)
    ch, cw = int(h * cut), int(w * cut)
    gdev = generator.device if generator is not None else "cpu"
    cy = int(torch.randint(0, h, (1,), generator=generator, device=gdev))
    cx = int(torch.randint(0, w, (1,), generator=generator, device=gdev))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    out = x.clone()
    out[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, y, y[perm], lam


@dataclass
class FaceAugment:
    """The training augmentation of the HW2P2 notebook, applied to a uint8 batch on its device.

    crop (+flip) -> colour jitter -> normalise -> random erasing (erased = mean colour).
    """
    size: int = 112
    crop_scale: tuple = (0.7, 1.0)
    crop_ratio: tuple = (0.85, 1.18)
    flip_p: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.02
    erase_p: float = 0.25
    erase_scale: tuple = (0.02, 0.15)
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    channels_last: bool = True

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        x = random_resized_crop(x, self.size, self.crop_scale, self.crop_ratio, self.flip_p,
                                generator=generator)
        x = color_jitter(x, self.brightness, self.contrast, self.saturation, self.hue,
                         generator=generator)
        x = normalize(x, self.mean, self.std)
        if self.erase_p > 0:
            x = random_erasing(x, self.erase_p, self.erase_scale, generator=generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def prepare_eval(x, size: int = 112, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                 channels_last: bool = True) -> torch.Tensor:
    """Evaluation input: float, resized to ``size`` when needed (antialiased), normalised."""
    x = to_float(x)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    x = normalize(x, mean, std)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
