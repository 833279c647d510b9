"""Demo face data for HW2P2: procedurally drawn faces written in the Kaggle layout.

Each identity has fixed traits (head shape, skin tone, eye spacing/size/colour, brows, nose,
mouth, ears, hair style and colour, optional glasses, beard or a mole); each image varies
the pose (shift, rotation, scale, a little yaw), expression (smile, open mouth, blinking,
raised brows), background, lighting, blur, noise and JPEG quality. Identity is learnable
but not trivial: skin and hair palettes are shared by many identities and the lighting
moves the colours.

Layout written (F24, see ``shared/design/DATA.md``)::

    11-785-f24-hw2p2-verification/
      cls_data/train/<identity>/*.jpg   112x112 RGB
      cls_data/dev/<identity>/*.jpg
      ver_data/*.jpg                    random 8-letter names
      val_pairs.txt                     "a.jpg b.jpg 1"  (1 = same person)
      test_pairs.txt                    "a.jpg b.jpg"
      demo_truth/                       NOT a Kaggle file: labels of test_pairs.txt and
                                        the identity of every ver_data image, for tests

Verification identities never appear in ``cls_data`` (as in the competition); the pairs
are half positive, half negative. ``layout="s25"`` writes ``cls_data/{train,dev}/images/``
with a ``labels.txt`` per split instead (the S25 layout) so that readers can be tested on both.

Generation is deterministic under ``seed`` (numpy ``SeedSequence`` per identity and per
image) and idempotent: a marker written last records the size and seed; a folder that is
complete for the same arguments is left as it is.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from common.engine.files import atomic_folder

__all__ = [
    "F24_DIRNAME",
    "IMAGE_SIZE",
    "S25_DIRNAME",
    "SIZES",
    "FaceDemoSize",
    "draw_face",
    "sample_identity",
    "write_hw2p2",
]

F24_DIRNAME = "11-785-f24-hw2p2-verification"
S25_DIRNAME = "11-785-s25-hw2p2-verification"
IMAGE_SIZE = 112
_CANVAS = 2 * IMAGE_SIZE          # faces are drawn at 2x, then reduced (smoother edges)
_MARKER = ".demo_complete"        # written last: the folder is complete
_VERSION = 1                      # bump when the drawing changes


@dataclass(frozen=True)
class FaceDemoSize:
    train_identities: int
    train_per_identity: int
    dev_per_identity: int
    ver_identities: int
    ver_per_identity: int
    val_pairs: int
    test_pairs: int


SIZES = {
    "tiny": FaceDemoSize(48, 6, 2, 16, 4, 120, 100),
    "small": FaceDemoSize(96, 12, 3, 40, 6, 400, 400),
    "medium": FaceDemoSize(400, 20, 4, 200, 6, 2000, 2000),
}

_SKIN = np.array([(255, 226, 200), (241, 194, 150), (224, 172, 120), (198, 134, 80),
                  (150, 96, 52), (96, 60, 34)], dtype=np.float64)
_HAIR = np.array([(28, 24, 22), (70, 45, 28), (120, 80, 45), (205, 170, 105),
                  (160, 70, 30), (150, 150, 150), (225, 225, 220)], dtype=np.float64)
_IRIS = np.array([(70, 45, 25), (40, 90, 160), (60, 120, 70), (110, 110, 120),
                  (20, 20, 20)], dtype=np.float64)
_FRAMES = np.array([(15, 15, 15), (180, 140, 40), (150, 30, 30), (30, 50, 140)],
                   dtype=np.float64)
_HEADS = ("ellipse", "round_rect", "egg")
_HAIRSTYLES = ("bald", "short", "long", "bangs", "afro", "side")


def _colour(rgb) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.round(rgb), 0, 255))


def sample_identity(rng: np.random.Generator) -> dict:
    """The fixed traits of one identity (all lengths in canvas pixels, 2x the image)."""
    tone = rng.uniform(0, len(_SKIN) - 1)           # anywhere along the palette
    lo = int(tone)
    hi = min(lo + 1, len(_SKIN) - 1)
    skin = _SKIN[lo] + (tone - lo) * (_SKIN[hi] - _SKIN[lo]) + rng.normal(0, 8, 3)
    hair = _HAIR[rng.integers(len(_HAIR))] + rng.normal(0, 12, 3)
    return {
        "skin": skin,
        "head_shape": _HEADS[rng.integers(len(_HEADS))],
        "head_rx": rng.uniform(50, 64),
        "head_ry": rng.uniform(64, 80),
        "hair": hair,
        "hair_style": _HAIRSTYLES[rng.integers(len(_HAIRSTYLES))],
        "hair_height": rng.uniform(0.12, 0.3),
        "eye_dx": rng.uniform(17, 28),
        "eye_y": rng.uniform(-16, -2),
        "eye_rx": rng.uniform(6, 11),
        "eye_ry": rng.uniform(3.5, 7),
        "iris": _IRIS[rng.integers(len(_IRIS))] + rng.normal(0, 10, 3),
        "brow_thick": rng.uniform(2, 7),
        "brow_len": rng.uniform(12, 22),
        "brow_gap": rng.uniform(8, 16),
        "brow_slant": rng.uniform(-0.35, 0.35),
        "nose_len": rng.uniform(10, 26),
        "nose_w": rng.uniform(5, 16),
        "nose_style": int(rng.integers(3)),
        "mouth_y": rng.uniform(24, 40),
        "mouth_w": rng.uniform(16, 38),
        "lip": np.array([170, 70, 70]) * rng.uniform(0.6, 1.1) + rng.normal(0, 10, 3),
        "lip_thick": rng.uniform(2, 6),
        "ear": rng.uniform(7, 14),
        "glasses": int(rng.integers(3)) if rng.uniform() < 0.3 else 0,   # 0 none, 1 round, 2 square
        "frame": _FRAMES[rng.integers(len(_FRAMES))],
        "beard": int(rng.integers(1, 3)) if rng.uniform() < 0.3 else 0,  # 1 moustache, 2 full
        "mole": (rng.uniform(-30, 30), rng.uniform(-10, 40)) if rng.uniform() < 0.3 else None,
    }


def _sample_variation(rng: np.random.Generator) -> dict:
    """What changes from one image of a person to the next."""
    return {
        "smile": rng.uniform(-0.6, 1.0),
        "mouth_open": rng.uniform(0, 1) if rng.uniform() < 0.3 else 0.0,
        "eye_open": 1.0 if rng.uniform() < 0.85 else rng.uniform(0.15, 0.6),
        "brow_raise": rng.uniform(-2, 5),
        "yaw": rng.uniform(-1, 1),
        "angle": rng.uniform(-15, 15),
        "scale": rng.uniform(0.86, 1.12),
        "shift": rng.uniform(-7, 7, 2),
        "bg": rng.uniform(0, 255, (2, 3)),
        "bg_blobs": int(rng.integers(0, 4)),
        "clothes": rng.uniform(0, 255, 3),
        "gain": rng.uniform(0.7, 1.2),
        "light_dir": rng.uniform(0, 2 * np.pi),
        "light_strength": rng.uniform(0, 0.35),
        "cast": rng.uniform(0.92, 1.08, 3),
        "noise": rng.uniform(1, 7),
        "blur": rng.uniform(0.4, 1.1) if rng.uniform() < 0.2 else 0.0,
        "quality": int(rng.integers(70, 96)),
    }


def _ellipse(draw, cx, cy, rx, ry, **kw):
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), **kw)


def _draw_face_layer(t: dict, v: dict) -> Image.Image:
    """The face on a transparent 2x canvas, centred, before pose and lighting."""
    img = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    cx, cy = _CANVAS / 2, _CANVAS / 2 - 2
    rx, ry = t["head_rx"] * (1 - 0.08 * abs(v["yaw"])), t["head_ry"]
    skin, hair = _colour(t["skin"]), _colour(t["hair"])
    feat_dx = 7 * v["yaw"]                       # features slide sideways when the head turns
    style = t["hair_style"]

    if style == "long":                          # hair behind the head
        d.rounded_rectangle((cx - rx - 9, cy - ry - 8, cx + rx + 9, cy + ry * 0.9), 30, fill=hair)
    elif style == "afro":
        _ellipse(d, cx, cy - ry * 0.35, rx * 1.45, ry * 1.0, fill=hair)
    # neck and shoulders (clothes change from photo to photo)
    d.rectangle((cx - rx * 0.35, cy + ry * 0.6, cx + rx * 0.35, cy + ry * 1.3), fill=skin)
    d.chord((cx - rx * 2.2, cy + ry * 1.15, cx + rx * 2.2, cy + ry * 2.6), 180, 360,
            fill=_colour(v["clothes"]))
    # ears (the far ear hides when the head turns)
    for side in (-1, 1):
        e = t["ear"] * (1 - 0.5 * max(0.0, side * v["yaw"]))
        _ellipse(d, cx + side * rx * 0.98, cy + 2, e * 0.6, e, fill=skin)
    # head
    box = (cx - rx, cy - ry, cx + rx, cy + ry)
    if t["head_shape"] == "ellipse":
        d.ellipse(box, fill=skin)
    elif t["head_shape"] == "round_rect":
        d.rounded_rectangle(box, int(rx * 0.7), fill=skin)
    else:                                        # egg: wide forehead, narrow chin
        k = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        w = rx * (1 - 0.22 * (np.sin(k) > 0) * np.sin(k))
        d.polygon(list(zip(cx + w * np.cos(k), cy + ry * np.sin(k))), fill=skin)
    # hair in front
    top = cy - ry
    hh = ry * 2 * t["hair_height"]
    if style in ("short", "long", "afro"):
        d.chord((cx - rx - 3, top - 6, cx + rx + 3, top + 2 * hh), 180, 360, fill=hair)
    elif style == "bangs":
        d.chord((cx - rx - 3, top - 6, cx + rx + 3, top + 2.4 * hh), 180, 360, fill=hair)
        d.rectangle((cx - rx * 0.8, top + hh * 0.5, cx + rx * 0.8, top + hh * 1.05), fill=hair)
    elif style == "side":
        d.chord((cx - rx - 3, top - 6, cx + rx + 3, top + 2 * hh), 180, 360, fill=hair)
        d.polygon([(cx - rx, top + hh), (cx + rx * 0.2, top + 2), (cx + rx * 0.9, top + hh)], fill=hair)
    fx = cx + feat_dx
    # beard
    if t["beard"] == 2:
        d.chord((cx - rx, cy - ry * 0.2, cx + rx, cy + ry), 0, 180, fill=hair)
    # eyes: sclera, iris, pupil, lid (eye_open squashes them)
    ery = t["eye_ry"] * v["eye_open"]
    ey = cy + t["eye_y"]
    for side in (-1, 1):
        ex = fx + side * t["eye_dx"]
        _ellipse(d, ex, ey, t["eye_rx"], max(ery, 0.8), fill=(245, 245, 240))
        if v["eye_open"] > 0.3:
            ir = min(t["eye_rx"], t["eye_ry"]) * 0.75
            _ellipse(d, ex + 2 * v["yaw"], ey, ir, min(ir, ery), fill=_colour(t["iris"]))
            _ellipse(d, ex + 2 * v["yaw"], ey, ir * 0.45, min(ir * 0.45, ery), fill=(10, 10, 10))
        # brow: a thick slanted bar
        by = ey - t["brow_gap"] - v["brow_raise"]
        half = t["brow_len"] / 2
        slant = side * t["brow_slant"] * half
        brow = _colour(t["hair"] * 0.75) if style != "bald" else _colour(t["skin"] * 0.45)
        d.line((ex - half, by + slant, ex + half, by - slant), fill=brow,
               width=max(1, round(t["brow_thick"])))
    # nose
    ny = ey + 6
    nl, nw = t["nose_len"], t["nose_w"]
    dark = _colour(t["skin"] * 0.72)
    if t["nose_style"] == 0:
        d.polygon([(fx + 2 * v["yaw"], ny), (fx - nw / 2, ny + nl), (fx + nw / 2, ny + nl)], fill=dark)
    elif t["nose_style"] == 1:
        d.line((fx, ny, fx - nw / 3, ny + nl, fx + nw / 3, ny + nl), fill=dark, width=3)
    else:
        _ellipse(d, fx, ny + nl * 0.8, nw / 2, nl / 4, fill=dark)
    # moustache
    if t["beard"] == 1:
        d.line((fx - t["mouth_w"] / 2, cy + t["mouth_y"] - 7, fx + t["mouth_w"] / 2,
                cy + t["mouth_y"] - 7), fill=hair, width=6)
    # mouth: a parabola whose curvature is the smile; an open mouth is a dark ellipse
    my, mw = cy + t["mouth_y"], t["mouth_w"]
    lip = _colour(t["lip"])
    if v["mouth_open"] > 0.2:
        _ellipse(d, fx, my + 2, mw / 2.4, 3 + 7 * v["mouth_open"], fill=(60, 15, 20), outline=lip,
                 width=max(1, int(t["lip_thick"] / 2)))
    else:
        xs = np.linspace(-mw / 2, mw / 2, 12)
        ys = my + v["smile"] * 8 * (1 - (2 * xs / mw) ** 2)
        d.line(list(zip(fx + xs, ys)), fill=lip, width=max(2, round(t["lip_thick"])),
               joint="curve")
    # glasses
    if t["glasses"]:
        frame = _colour(t["frame"])
        gr = t["eye_rx"] + 5
        for side in (-1, 1):
            ex = fx + side * t["eye_dx"]
            b = (ex - gr, ey - gr * 0.8, ex + gr, ey + gr * 0.8)
            if t["glasses"] == 1:
                d.ellipse(b, outline=frame, width=3)
            else:
                d.rectangle(b, outline=frame, width=3)
        d.line((fx - t["eye_dx"] + gr, ey, fx + t["eye_dx"] - gr, ey), fill=frame, width=3)
    if t["mole"] is not None:
        _ellipse(d, fx + t["mole"][0], cy + t["mole"][1], 2.5, 2.5, fill=(50, 30, 20))
    return img


def _background(v: dict, rng: np.random.Generator) -> Image.Image:
    s = IMAGE_SIZE
    w = np.linspace(0, 1, s)[:, None, None] * np.ones((1, s, 1))          # vertical gradient
    arr = v["bg"][0] * (1 - w) + v["bg"][1] * w
    img = Image.fromarray(arr.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(v["bg_blobs"]):
        x, y = rng.uniform(0, s, 2)
        r = rng.uniform(8, 30)
        d.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng.uniform(0, 255, 3)))
    return img


def draw_face(traits: dict, rng: np.random.Generator) -> Image.Image:
    """One 112x112 RGB image of the identity ``traits`` with a random pose, light and noise."""
    v = _sample_variation(rng)
    face = _draw_face_layer(traits, v).reduce(2)                          # (112, 112) RGBA
    # pose: output pixel p -> face pixel c + R(angle) (p - c - shift) / scale
    th = math.radians(v["angle"])
    k = 1.0 / v["scale"]
    c = IMAGE_SIZE / 2
    ox, oy = c + v["shift"][0], c + v["shift"][1]
    a, b, dd, e = k * math.cos(th), -k * math.sin(th), k * math.sin(th), k * math.cos(th)
    face = face.transform((IMAGE_SIZE, IMAGE_SIZE), Image.Transform.AFFINE,
                          (a, b, c - a * ox - b * oy, dd, e, c - dd * ox - e * oy),
                          resample=Image.Resampling.BILINEAR)
    img = _background(v, rng)
    img.paste(face, (0, 0), face)
    # lighting: gain, a linear gradient in a random direction, a colour cast; then noise
    arr = np.asarray(img, dtype=np.float32)
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) / IMAGE_SIZE - 0.5
    light = v["gain"] * (1 + v["light_strength"] * 2 * (xs * math.cos(v["light_dir"])
                                                         + ys * math.sin(v["light_dir"])))
    arr = arr * light[..., None] * v["cast"].astype(np.float32)
    arr += rng.normal(0, v["noise"], arr.shape).astype(np.float32)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if v["blur"] > 0:
        img = img.filter(ImageFilter.GaussianBlur(v["blur"]))
    img.info["quality"] = v["quality"]
    return img


def _resolve_size(size) -> FaceDemoSize:
    if isinstance(size, FaceDemoSize):
        return size
    if isinstance(size, dict):
        return FaceDemoSize(**size)
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}: use one of {sorted(SIZES)}, "
                         "a FaceDemoSize or a dict of its fields")
    return SIZES[size]


def _random_names(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    names: list[str] = []
    seen = set()
    while len(names) < n:
        name = "".join(letters[rng.integers(len(letters), size=8)])
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _pairs(rng: np.random.Generator, ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of image indices, half same identity, half different, shuffled."""
    by_id = {i: np.flatnonzero(ids == i) for i in np.unique(ids)}
    multi = [i for i, idx in by_id.items() if len(idx) >= 2]
    if not multi or len(by_id) < 2:
        raise ValueError("verification pairs need >= 2 identities and >= 2 images of one")
    n_pos = n // 2
    out, lab = [], []
    for j in range(n):
        if j < n_pos:
            who = multi[rng.integers(len(multi))]
            a, b = rng.choice(by_id[who], 2, replace=False)
        else:
            a = rng.integers(len(ids))
            b = rng.choice(np.flatnonzero(ids != ids[a]))
        out.append((a, b))
        lab.append(int(j < n_pos))
    order = rng.permutation(n)
    return np.array(out)[order], np.array(lab)[order]


def _save(img: Image.Image, path: Path) -> None:
    img.save(path, "JPEG", quality=img.info.get("quality", 90))


def write_hw2p2(base_dir, size="tiny", seed: int = 0, layout: str = "f24") -> Path:
    """Write the demo HW2P2 data set under ``base_dir`` and return its root folder.

    ``size``: "tiny" (tests, a second or two), "small" (``make demo``), "medium", a
    ``FaceDemoSize`` or a dict of its fields. ``layout``: "f24" (ImageFolder) or "s25"
    (``images/`` + ``labels.txt``). Test labels go to ``root/demo_truth/``.
    """
    if layout not in ("f24", "s25"):
        raise ValueError(f"layout must be 'f24' or 's25', not {layout!r}")
    sz = _resolve_size(size)
    root = Path(base_dir) / (F24_DIRNAME if layout == "f24" else S25_DIRNAME)
    stamp = {"version": _VERSION, "seed": int(seed), "layout": layout, "size": asdict(sz)}
    marker = root / _MARKER
    if marker.exists() and json.loads(marker.read_text()) == stamp:
        return root
    if root.exists() and not marker.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} exists and is not demo data written by write_hw2p2; refusing to "
            "overwrite it. Point base_dir somewhere else (or delete the folder).")
    with atomic_folder(root) as tmp:              # our demo data (or nothing) is replaced whole
        _fill(tmp, sz, int(seed), layout)
        (tmp / _MARKER).write_text(json.dumps(stamp))
    return root


def _fill(root: Path, sz: FaceDemoSize, seed: int, layout: str) -> None:
    """Write the whole data set into the (empty) folder ``root``."""
    seeds = np.random.SeedSequence(seed).spawn(4)
    id_seeds = seeds[0].spawn(sz.train_identities + sz.ver_identities)
    traits = [sample_identity(np.random.default_rng(s)) for s in id_seeds]

    # classification data: identities 0..train_identities-1
    n_cls = sz.train_identities
    names = [f"n{i:06d}" for i in range(n_cls)]
    split_seeds = seeds[1].spawn(2)
    for split, per, split_seed in (("train", sz.train_per_identity, split_seeds[0]),
                                   ("dev", sz.dev_per_identity, split_seeds[1])):
        split_dir = root / "cls_data" / split
        img_rng = np.random.default_rng(split_seed)
        lines = []
        if layout == "s25":
            (split_dir / "images").mkdir(parents=True)
        for i in range(n_cls):
            folder = split_dir / names[i]
            if layout == "f24":
                folder.mkdir(parents=True)
            for j in range(per):
                img = draw_face(traits[i], img_rng)
                if layout == "f24":
                    _save(img, folder / f"{split}_{i:06d}_{j:04d}.jpg")
                else:
                    rel = f"images/{i * per + j:07d}.jpg"
                    _save(img, split_dir / rel)
                    lines.append(f"{rel} {i}")
        if layout == "s25":
            (split_dir / "labels.txt").write_text("\n".join(lines) + "\n")

    # verification data: identities never seen in cls_data
    ver_rng = np.random.default_rng(seeds[2])
    ver_dir = root / "ver_data"
    ver_dir.mkdir()
    ver_ids = np.repeat(np.arange(sz.ver_identities), sz.ver_per_identity)
    ver_names = [f"{s}.jpg" for s in _random_names(ver_rng, len(ver_ids))]
    for name, who in zip(ver_names, ver_ids):
        _save(draw_face(traits[n_cls + who], ver_rng), ver_dir / name)

    pair_rng = np.random.default_rng(seeds[3])
    val, val_lab = _pairs(pair_rng, ver_ids, sz.val_pairs)
    test, test_lab = _pairs(pair_rng, ver_ids, sz.test_pairs)
    (root / "val_pairs.txt").write_text("".join(
        f"{ver_names[a]} {ver_names[b]} {y}\n" for (a, b), y in zip(val, val_lab)))
    (root / "test_pairs.txt").write_text("".join(
        f"{ver_names[a]} {ver_names[b]}\n" for a, b in test))
    truth = root / "demo_truth"
    truth.mkdir()
    (truth / "test_pairs_labels.txt").write_text("".join(f"{y}\n" for y in test_lab))
    (truth / "ver_identities.txt").write_text("".join(
        f"{name} v{who:06d}\n" for name, who in zip(ver_names, ver_ids)))
