"""The HW2P2 image folders: ``scan_split`` reads a classification split in either layout and says
which it found (F24 ImageFolder ``cls_data/train/<identity>/*.jpg``, or S25 ``cls_data/train/images/``
plus ``labels.txt`` with lines ``img_path label``); ``scan_test_split`` an unlabelled one. Every file is
checked before training (``common.faces.checks``); where DATA_ROOT is: ``common.layouts``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.layouts import HW2P2_HINT, visible

from .checks import check_images

__all__ = ["IMAGE_EXTENSIONS", "ImageList", "scan_split", "scan_test_split"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg")


@dataclass
class ImageList:
    """The images of one split: ``paths[i]`` has class index ``labels[i]`` (-1: unlabelled)."""
    paths: list[Path]
    labels: np.ndarray            # (N,) int64
    classes: list[str]            # class index -> identity name
    layout: str                   # "f24" (ImageFolder) or "s25" (images/ + labels.txt)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}


def _check_image_name(path: Path, where: str) -> None:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"{path} in {where} is not a .jpg file: the HW2P2 folders hold only "
                         "JPEG images; move or delete it.")


def scan_split(split_dir, class_to_idx: dict[str, int] | None = None, check: str | None = "fast") -> ImageList:
    """Read a classification split in the F24 or S25 layout (detected, not asked).

    ``check``: how every image file is checked before training (``check_images``: "fast",
    "full" or None).

    ``class_to_idx``: the mapping of the training split, so that dev labels agree with it;
    a dev identity unknown to training is an error. ``None`` builds the mapping from this
    split (sorted identity names, as torchvision's ImageFolder does; integer labels of an
    S25 ``labels.txt`` are kept as they are).
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"split folder {split_dir} does not exist. {HW2P2_HINT}")
    if (split_dir / "labels.txt").is_file() and (split_dir / "images").is_dir():
        images = _scan_s25(split_dir, class_to_idx)
    else:
        images = _scan_imagefolder(split_dir, class_to_idx)
    check_images(images.paths, check, str(split_dir))
    return images


def _scan_imagefolder(split_dir: Path, class_to_idx) -> ImageList:
    entries = visible(sorted(split_dir.iterdir()))
    stray = [p for p in entries if not p.is_dir()]
    if stray:
        raise ValueError(f"{stray[0]} is a file directly in {split_dir}: the F24 layout has one "
                         "folder per identity (cls_data/train/<identity>/*.jpg) and the S25 "
                         "layout has images/ plus labels.txt; move the file into its identity folder.")
    if not entries:
        raise ValueError(f"{split_dir} holds no identity folders (expected <identity>/*.jpg "
                         f"or images/ + labels.txt). {HW2P2_HINT}")
    names = [p.name for p in entries]
    if class_to_idx is None:
        class_to_idx = {n: i for i, n in enumerate(names)}
    paths, labels = [], []
    for folder in entries:
        if folder.name not in class_to_idx:
            raise ValueError(f"identity folder {folder} is not among the training identities; "
                             "dev identities must also appear in cls_data/train.")
        files = visible(sorted(folder.iterdir()))
        if not files:
            raise ValueError(f"identity folder {folder} is empty: every identity needs at least "
                             "one .jpg image; delete the folder or re-extract the data set.")
        for f in files:
            _check_image_name(f, str(folder))
        paths.extend(files)
        labels.extend([class_to_idx[folder.name]] * len(files))
    classes = _classes_from(class_to_idx)
    return ImageList(paths, np.asarray(labels, dtype=np.int64), classes, "f24")


def _classes_from(class_to_idx: dict[str, int]) -> list[str]:
    classes = [""] * (max(class_to_idx.values()) + 1)
    for name, i in class_to_idx.items():
        classes[i] = name
    return classes


def _scan_s25(split_dir: Path, class_to_idx) -> ImageList:
    labels_file = split_dir / "labels.txt"
    rows = []
    for n, line in enumerate(labels_file.read_text(encoding="utf-8-sig").splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if not rows and _is_header(parts[:1], [split_dir, split_dir / "images"]):
            print(f"{labels_file}: line {n} {line.strip()!r} is a header (it names no image), not an image: skipped")
            continue
        if len(parts) != 2:
            raise ValueError(f"{labels_file}:{n}: expected 'img_path label', got {line!r}")
        rows.append((n, *parts))
    if not rows:
        raise ValueError(f"{labels_file} lists no images. {HW2P2_HINT}")
    tokens = [lab for _, _, lab in rows]
    if class_to_idx is None:
        if all(t.lstrip("-").isdigit() for t in tokens):
            class_to_idx = {str(i): i for i in range(max(int(t) for t in tokens) + 1)}
        else:
            class_to_idx = {t: i for i, t in enumerate(sorted(set(tokens)))}
    paths, labels = [], []
    for n, rel, tok in rows:
        path = _resolve_image(rel, [split_dir, split_dir / "images"])
        if path is None:
            raise FileNotFoundError(f"{labels_file}:{n} names {rel}, which is neither in "
                                    f"{split_dir} nor in {split_dir / 'images'}; re-extract the data.")
        _check_image_name(path, str(labels_file))
        key = str(int(tok)) if tok.lstrip("-").isdigit() else tok
        if key not in class_to_idx:
            raise ValueError(f"{labels_file}:{n}: label {tok} is not a training identity")
        paths.append(path)
        labels.append(class_to_idx[key])
    return ImageList(paths, np.asarray(labels, dtype=np.int64), _classes_from(class_to_idx), "s25")


def scan_test_split(split_dir, check: str | None = "fast") -> ImageList:
    """An unlabelled classification test split: flat ``*.jpg`` or ``images/`` (S25), sorted."""
    split_dir = Path(split_dir)
    folder = split_dir / "images" if (split_dir / "images").is_dir() else split_dir
    if not folder.is_dir():
        raise FileNotFoundError(f"test folder {split_dir} does not exist")
    files = [p for p in visible(sorted(folder.iterdir())) if p.is_file()]
    files = [p for p in files if p.name != "labels.txt"]
    if not files:
        raise ValueError(f"{folder} holds no images")
    for f in files:
        _check_image_name(f, str(folder))
    check_images(files, check, str(folder))
    return ImageList(files, np.full(len(files), -1, dtype=np.int64), [],
                     "s25" if folder != split_dir else "f24")


def _resolve_image(name: str, folders) -> Path | None:
    for folder in folders:
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def _is_header(names: list[str], folders) -> bool:
    """A first line whose file fields have no image extension and name no file: a header."""
    return (not any(p.lower().endswith(IMAGE_EXTENSIONS) for p in names)
            and all(_resolve_image(p, folders) is None for p in names))
