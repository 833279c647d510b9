"""The verification pairs files (``val_pairs.txt``, ``test_pairs.txt``): ``read_pairs`` indexes the
unique images, so that each image is embedded once however many pairs name it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.layouts import HW2P2_HINT, visible

from .checks import check_images
from .folders import _check_image_name, _is_header, _resolve_image

__all__ = ["Pairs", "read_pairs"]


@dataclass
class Pairs:
    """A pairs file: ``images`` are the unique image paths, ``left``/``right`` index them."""
    images: list[Path]
    left: np.ndarray              # (P,) int64, index into images
    right: np.ndarray             # (P,) int64
    labels: np.ndarray | None     # (P,) int64 of 0/1, None for test pairs
    file: Path
    header: str | None = None     # a header line found (and skipped) at the top

    def __len__(self) -> int:
        return len(self.left)


def read_pairs(pairs_file, image_dir, labelled: bool | None = None, check: str | None = "fast") -> Pairs:
    """Read ``"a.jpg b.jpg [label]"`` lines; names resolve in ``image_dir`` or its parent.

    ``labelled``: True for val pairs (3 fields), False for test pairs (2 fields), None to
    take whichever the first line has. Every image must exist and pass ``check_images``
    (checked here, not mid-epoch). Fields may be separated by spaces, tabs or commas; a
    first line that names no image (a header such as ``img1 img2 label``) is skipped and
    reported; blank lines and a byte-order mark are skipped.
    """
    pairs_file, image_dir = Path(pairs_file), Path(image_dir)
    if not pairs_file.is_file():
        raise FileNotFoundError(f"pairs file {pairs_file} does not exist. {HW2P2_HINT}")
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder {image_dir} does not exist. {HW2P2_HINT}")
    folders = [image_dir, pairs_file.parent]
    index: dict[str, int] = {}
    images: list[Path] = []
    left, right, labels = [], [], []
    missing: list[tuple[int, str]] = []
    header = None
    for n, line in enumerate(pairs_file.read_text(encoding="utf-8-sig").splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if not left and not missing and header is None and _is_header(parts[:2], folders):
            header = line
            print(f"{pairs_file}: line {n} {line.strip()!r} is a header (it names no image), not a pair: "
                  "skipped. The course's pairs files have none; the pairs are the lines after it.")
            continue
        if labelled is None:
            labelled = len(parts) == 3
        want = 3 if labelled else 2
        if len(parts) != want:
            raise ValueError(f"{pairs_file}:{n}: expected {want} fields "
                             f"({'a.jpg b.jpg label' if labelled else 'a.jpg b.jpg'}), got {line!r}")
        ids = []
        for name in parts[:2]:
            if name not in index:
                path = _resolve_image(name, folders)
                if path is None:
                    missing.append((n, name))
                    index[name] = -1
                else:
                    _check_image_name(path, f"{pairs_file}:{n}")
                    index[name] = len(images)
                    images.append(path)
            ids.append(index[name])
        left.append(ids[0])
        right.append(ids[1])
        if labelled:
            if parts[2] not in ("0", "1"):
                raise ValueError(f"{pairs_file}:{n}: label must be 0 or 1, got {parts[2]!r}")
            labels.append(int(parts[2]))
    if missing:
        _missing_images(pairs_file, image_dir, missing, len(index))
    if not left:
        raise ValueError(f"{pairs_file} holds no pairs")
    check_images(images, check, str(pairs_file))
    return Pairs(images, np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64),
                 np.asarray(labels, dtype=np.int64) if labelled else None, pairs_file, header)


def _missing_images(pairs_file: Path, image_dir: Path, missing, named: int) -> None:
    n, name = missing[0]
    if len(missing) == named:
        held = sorted(p.name for p in visible(image_dir.iterdir()))[:5]
        raise FileNotFoundError(
            f"{pairs_file}:{n} names {name}, which is not in {image_dir}, and so does every other image the "
            f"file names ({named:,}); {image_dir} holds {held}. Is it the folder of the verification images "
            "(ver_data/)?")
    raise FileNotFoundError(
        f"{pairs_file}:{n} names {name}, which is not in {image_dir} ({len(missing):,} of the {named:,} images "
        "it names are missing): the unzip was incomplete, or the pairs file and ver_data/ come from different "
        "downloads; re-extract the data set.")
