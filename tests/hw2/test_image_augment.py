"""Batched augmentation ops: shapes, ranges, geometry of the crop, flips, per-sample
independence, determinism under a seed, channels_last."""
import math

import pytest
import torch

from common.faces.augment import (
    FaceAugment,
    color_jitter,
    cutmix,
    grayscale,
    horizontal_flip,
    mixup,
    normalize,
    prepare_eval,
    random_erasing,
    random_resized_crop,
    to_float,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(b=8, h=32, w=32, seed=0):
    return torch.randint(0, 256, (b, 3, h, w), dtype=torch.uint8, generator=gen(seed))


def test_to_float_and_normalize():
    x = images()
    f = to_float(x)
    assert f.dtype == torch.float32 and f.min() >= 0 and f.max() <= 1
    torch.testing.assert_close(f * 255, x.float())
    n = normalize(x, (0.5, 0.4, 0.3), (0.5, 0.2, 0.1))
    torch.testing.assert_close(n[:, 1], (f[:, 1] - 0.4) / 0.2)
    with pytest.raises(TypeError):
        to_float(x.long())


def test_crop_full_image_is_identity_and_flip_is_flip():
    x = images(h=24, w=24)
    same = random_resized_crop(x, 24, scale=(1, 1), ratio=(1, 1), generator=gen())
    torch.testing.assert_close(same, to_float(x), atol=1e-5, rtol=0)
    flipped = random_resized_crop(x, 24, scale=(1, 1), ratio=(1, 1), flip_p=1.0, generator=gen())
    torch.testing.assert_close(flipped, to_float(x).flip(-1), atol=1e-5, rtol=0)


def test_crop_geometry_on_coordinate_ramps():
    """Channel 0 holds the column coordinate, channel 1 the row coordinate: bilinear sampling
    of a linear ramp is exact, so every output pixel must hold the coordinate the crop box
    (centre cx, cy and size w, h in normalised units) maps it to."""
    b, hin, win, s = 16, 40, 60, 20
    cols = torch.arange(win, dtype=torch.float64).expand(hin, win)
    rows = torch.arange(hin, dtype=torch.float64)[:, None].expand(hin, win)
    x = torch.stack([cols, rows, cols * 0], 0).expand(b, 3, hin, win).contiguous()
    out, p = random_resized_crop(x, s, scale=(0.2, 0.9), ratio=(0.5, 2.0), flip_p=0.5,
                                 generator=gen(1), return_params=True)
    assert out.shape == (b, 3, s, s)
    u = (2 * torch.arange(s, dtype=torch.float64) + 1) / s - 1          # output pixel centres
    sign = torch.where(p["flip"], -1.0, 1.0).double()
    gx = p["cx"].double()[:, None] + sign[:, None] * p["w"].double()[:, None] * u[None]   # (B, S)
    gy = p["cy"].double()[:, None] + p["h"].double()[:, None] * u[None]
    want_col = ((gx + 1) * win - 1) / 2
    want_row = ((gy + 1) * hin - 1) / 2
    torch.testing.assert_close(out[:, 0], want_col[:, None, :].expand(b, s, s), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[:, 1], want_row[:, :, None].expand(b, s, s), atol=1e-3, rtol=0)
    # the box stays inside the image; its area is in the asked range unless clipped
    assert ((p["cx"].abs() + p["w"]) <= 1 + 1e-6).all() and ((p["cy"].abs() + p["h"]) <= 1 + 1e-6).all()
    area = p["w"] * p["h"]
    assert (area <= 0.9 + 1e-5).all() and (area > 0.05).all()
    # independent per sample: all boxes different, both flip outcomes occur
    assert len(set(p["cx"].tolist())) == b and 0 < int(p["flip"].sum()) < b


def test_determinism_and_independence():
    aug = FaceAugment(size=24, erase_p=0.5)
    x = images(16, 32, 32)
    a, b = aug(x, gen(7)), aug(x, gen(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, aug(x, gen(8)))
    # the same image 16 times: every sample is augmented differently
    same = x[:1].expand(16, -1, -1, -1).contiguous()
    out = aug(same, gen(3)).flatten(1)
    assert torch.cdist(out, out).add(torch.eye(16) * 1e9).min() > 1e-3


def test_pipeline_dtype_range_and_channels_last():
    aug = FaceAugment(size=28, mean=(0.5,) * 3, std=(0.5,) * 3)
    x = images(4, 32, 32).contiguous(memory_format=torch.channels_last)
    out = aug(x, gen())
    assert out.shape == (4, 3, 28, 28) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
    # uint8 input and the same images as float in [0, 1] give the same batch
    torch.testing.assert_close(aug(to_float(x), gen()), out)


def test_horizontal_flip_per_sample():
    x = images(64)
    out, mask = horizontal_flip(x, 0.5, gen(), return_mask=True)
    assert torch.equal(out[mask], x[mask].flip(-1))
    assert torch.equal(out[~mask], x[~mask])
    assert 10 < int(mask.sum()) < 54


def test_color_jitter_relations():
    x = to_float(images()) * 0.4 + 0.3                      # mid-range: no clamping
    out, p = color_jitter(x, brightness=0.3, generator=gen(), return_params=True)
    torch.testing.assert_close(out, x * p["brightness"][:, None, None, None])
    assert p["brightness"].min() >= 0.7 and p["brightness"].max() <= 1.3
    # contrast keeps each image's mean grey; saturation keeps grey images grey
    out = color_jitter(x, contrast=0.2, generator=gen())
    torch.testing.assert_close(grayscale(out).mean((1, 2, 3)), grayscale(x).mean((1, 2, 3)))
    grey = grayscale(x).expand(-1, 3, -1, -1)
    torch.testing.assert_close(color_jitter(grey, saturation=0.5, generator=gen()), grey)
    # hue rotates chroma around the grey axis: luma unchanged, colours changed
    out, p = color_jitter(x, hue=0.1, generator=gen(), return_params=True)
    torch.testing.assert_close(grayscale(out), grayscale(x), atol=1e-4, rtol=0)
    assert (out - x).abs().amax() > 0.01
    big = color_jitter(torch.ones(4, 3, 8, 8), brightness=0.9, generator=gen())
    assert big.max() <= 1.0


def test_color_jitter_equals_the_four_steps_one_after_another():
    """The fused per-sample affine map against the plain sequence of operations."""
    x = to_float(images(6, 12, 12))
    out, p = color_jitter(x, 0.4, 0.4, 0.4, 0.1, generator=gen(4), return_params=True)
    ref = x * p["brightness"].view(-1, 1, 1, 1)
    m = grayscale(ref).mean((1, 2, 3), keepdim=True)
    ref = (ref - m) * p["contrast"].view(-1, 1, 1, 1) + m
    g = grayscale(ref)
    ref = (ref - g) * p["saturation"].view(-1, 1, 1, 1) + g
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    for i in range(6):
        a = 2 * math.pi * float(p["hue"][i])
        rot = torch.tensor([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        q = torch.linalg.inv(yiq) @ rot @ yiq
        ref[i] = torch.einsum("ij,jhw->ihw", q, ref[i])
    torch.testing.assert_close(out, ref.clamp(0, 1), atol=1e-5, rtol=0)


def test_random_erasing_is_one_rectangle():
    x = torch.randn(32, 3, 20, 30, generator=gen())
    out, mask = random_erasing(x, p=1.0, scale=(0.05, 0.2), value=0.0, generator=gen(), return_mask=True)
    assert torch.equal(out[mask.expand_as(x)], torch.zeros(int(mask.sum()) * 3))
    assert torch.equal(out[~mask.expand_as(x)], x[~mask.expand_as(x)])
    for m in mask[:, 0]:
        r, c = m.any(1).nonzero().squeeze(1), m.any(0).nonzero().squeeze(1)
        assert int(m.sum()) == len(r) * len(c)                # a full rectangle
        assert torch.equal(r, torch.arange(int(r[0]), int(r[-1]) + 1))
        assert 1 <= int(m.sum()) <= 0.2 * 600 + 1
    assert torch.equal(random_erasing(x, p=0.0, generator=gen()), x)
    noisy = random_erasing(x, p=1.0, value="random", generator=gen())
    assert not torch.equal(noisy, x)


def test_mixup_and_cutmix_mix_labels_as_pixels():
    # each image is the constant value of its label: the pixels show what was mixed
    y = torch.arange(8)
    x = y.float().view(8, 1, 1, 1).expand(8, 3, 16, 16) / 10
    out, ya, yb, lam = mixup(x, y, alpha=0.4, generator=gen())
    assert torch.equal(ya, y) and sorted(yb.tolist()) == y.tolist()
    torch.testing.assert_close(out, (lam * ya + (1 - lam) * yb).float().view(8, 1, 1, 1).expand_as(x) / 10)
    out, ya, yb, lam = cutmix(x, y, alpha=1.0, generator=gen(1))
    for i in range(8):
        if yb[i] != ya[i]:
            share_b = (out[i, 0] == yb[i] / 10).float().mean()
            assert share_b.item() == pytest.approx(1 - lam)
    assert 0.0 <= lam <= 1.0
    a = mixup(x, y, 0.4, gen(5))
    b = mixup(x, y, 0.4, gen(5))
    assert torch.equal(a[0], b[0]) and a[3] == b[3]


def test_prepare_eval_resizes_and_normalises():
    x = images(2, 40, 40)
    out = prepare_eval(x, size=20, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert out.shape == (2, 3, 20, 20) and out.is_contiguous(memory_format=torch.channels_last)
    same = prepare_eval(x, size=40, mean=(0.5,) * 3, std=(0.25,) * 3)
    torch.testing.assert_close(same, (to_float(x) - 0.5) / 0.25)
    assert math.isclose(float(prepare_eval(torch.full((1, 3, 4, 4), 255, dtype=torch.uint8), 4).mean()), 1.0)
