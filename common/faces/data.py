"""Face image data for HW2P2: folder readers, JPEG decoding, pairs files, a P x K sampler.

- ``scan_split`` reads a classification split in either layout and says which it found:
  F24 ImageFolder (``cls_data/train/<identity>/*.jpg``) or S25 (``cls_data/train/images/``
  plus ``labels.txt`` with lines ``img_path label``).
- ``FaceImages`` decodes JPEGs with Pillow in the DataLoader workers into uint8 tensors;
  ``collate_images`` stacks them as a channels_last ``(B, 3, H, W)`` uint8 batch, so the
  copy to the GPU is 4x smaller than float and all augmentation happens there
  (``common.faces.augment``).
- ``read_pairs`` reads ``val_pairs.txt`` / ``test_pairs.txt`` and indexes the unique images,
  so that each image is embedded once however many pairs name it.
- ``IdentityBatchSampler`` yields P identities x K images per batch for triplet mining.

Every mistake a user can make with the folders raises an error that names the file and the fix,
before training: ``common.layouts.check_hw2p2_root`` finds the layout one level up or down (or says
which other homework's data DATA_ROOT holds), and every scan checks each image file (``check="fast"``: JPEG
start and end-of-image markers, so a truncated file is found in seconds, not by a worker in the
middle of an epoch; ``check="full"`` decodes every image, in ``common.faces.checks``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from common.engine.distributed import ShardedBatchSampler
from common.layouts import HW2P2_HINT, visible

from .checks import check_images

__all__ = [
    "IMAGE_EXTENSIONS",
    "FaceImages",
    "IdentityBatchSampler",
    "ImageList",
    "Pairs",
    "collate_images",
    "decode_jpeg",
    "default_workers",
    "make_loader",
    "read_pairs",
    "scan_split",
    "scan_test_split",
]

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


def decode_jpeg(path, size: int | None = None) -> torch.Tensor:
    """Decode ``path`` into a uint8 ``(3, H, W)`` tensor (a channels_last view of HWC memory).

    ``size``: resize (bilinear, Pillow) when the image is not ``size`` x ``size``.
    Raises ``ValueError`` naming the file when it is not a readable JPEG.
    """
    try:
        with Image.open(path) as im:
            if im.format not in ("JPEG", "MPO"):
                raise ValueError(f"{path} is a {im.format} image, not a JPEG: HW2P2 expects "
                                 "JPEG files; convert or delete it.")
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.array(im)                          # (H, W, 3) uint8, writable
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path} is not a readable JPEG ({err}); the file is probably corrupt "
                         "or truncated: re-extract the data set or delete the file.") from err
    return torch.from_numpy(arr).permute(2, 0, 1)          # (3, H, W), HWC memory


class FaceImages(torch.utils.data.Dataset):
    """``(image uint8 (3, H, W), label)`` per item; decoding runs in the DataLoader worker."""

    def __init__(self, paths, labels=None, size: int | None = None):
        self.paths = [Path(p) for p in paths]
        self.labels = (np.full(len(self.paths), -1, dtype=np.int64) if labels is None
                       else np.asarray(labels, dtype=np.int64))
        if len(self.labels) != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels")
        self.size = size

    @classmethod
    def from_list(cls, images: ImageList, size: int | None = None) -> FaceImages:
        return cls(images.paths, images.labels, size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        return decode_jpeg(self.paths[i], self.size), int(self.labels[i])


def collate_images(batch):
    """Stack ``[(uint8 (3, H, W), label), ...]`` into uint8 ``(B, 3, H, W)`` channels_last + labels.

    Decoded images are HWC in memory, so stacking them along a new leading dim of an NHWC
    buffer is a plain copy; in a worker the buffer lives in shared memory (as in
    torch's default_collate) so that it is not copied again on its way to the main process.
    """
    images, labels = zip(*batch)
    c, h, w = images[0].shape
    for im in images:
        if im.shape != (c, h, w):
            raise ValueError(f"images of different sizes in one batch: {tuple(im.shape)} vs "
                             f"{(c, h, w)}; pass size= to FaceImages to resize them")
    out = torch.empty((len(images), h, w, c), dtype=torch.uint8)
    if torch.utils.data.get_worker_info() is not None:
        out = out.share_memory_()
    torch.stack([im.permute(1, 2, 0) for im in images], out=out)
    return out.permute(0, 3, 1, 2), torch.as_tensor(labels, dtype=torch.int64)


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


def _is_header(names: list[str], folders) -> bool:
    """A first line whose file fields have no image extension and name no file: a header."""
    return (not any(p.lower().endswith(IMAGE_EXTENSIONS) for p in names)
            and all(_resolve_image(p, folders) is None for p in names))


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


class IdentityBatchSampler(torch.utils.data.Sampler):
    """Batches of ``identities_per_batch`` (P) identities x ``images_per_identity`` (K) images.

    Batch-hard triplet mining needs positives in every batch: a random batch of 256 from
    8,631 identities rarely holds two images of a person. Identities with fewer than K
    images are sampled with replacement. One epoch has about ``len(labels) / (P * K)``
    batches (``num_batches`` overrides); each ``__iter__`` draws a new, seeded order.
    ``set_epoch`` / ``state_dict`` / ``load_state_dict``: pass it to ``fit(stateful=...)`` and a
    resumed run draws the same batches as an uninterrupted one.
    """

    def __init__(self, labels, identities_per_batch: int, images_per_identity: int,
                 num_batches: int | None = None, seed: int = 0):
        labels = np.asarray(labels)
        self.by_id = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if identities_per_batch > len(self.by_id):
            raise ValueError(f"identities_per_batch={identities_per_batch} but the data has only "
                             f"{len(self.by_id)} identities")
        self.p, self.k = identities_per_batch, images_per_identity
        self.num_batches = num_batches or max(1, len(labels) // (self.p * self.k))
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return self.num_batches

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        n_ids = len(self.by_id)
        order = rng.permutation(n_ids)
        pos = 0
        for _ in range(self.num_batches):
            if pos + self.p > n_ids:              # walk through identities, reshuffle at the end
                order, pos = rng.permutation(n_ids), 0
            batch = []
            for c in order[pos:pos + self.p]:
                idx = self.by_id[c]
                batch.extend(rng.choice(idx, self.k, replace=len(idx) < self.k).tolist())
            pos += self.p
            yield batch


def make_loader(dataset, batch_size: int, *, shuffle: bool = False, workers: int = 0,
                device=None, batch_sampler=None, drop_last: bool = False, seed: int = 0,
                prefetch_factor: int = 4):
    """A DataLoader with the settings that keep a GPU fed.

    uint8 batches from ``collate_images``; pinned memory only when ``device`` is CUDA (so
    ``.to(device, non_blocking=True)`` overlaps the copy); persistent workers; a seeded
    generator for the shuffle order. In data-parallel training (``fit`` under
    ``common.engine.distributed``) each process loads only its share of every batch
    (``ShardedBatchSampler``; an ``IdentityBatchSampler``'s identities stay whole).
    """
    cuda = device is not None and torch.device(device).type == "cuda"
    kw = {"num_workers": workers, "collate_fn": collate_images, "pin_memory": cuda,
          "persistent_workers": workers > 0}
    if workers > 0:
        kw["prefetch_factor"] = prefetch_factor
    g = None
    if batch_sampler is None:
        g = torch.Generator().manual_seed(seed)
        sampler = (torch.utils.data.RandomSampler(dataset, generator=g) if shuffle
                   else torch.utils.data.SequentialSampler(dataset))
        batch_sampler = torch.utils.data.BatchSampler(sampler, batch_size, drop_last)
    # data-parallel training: each rank decodes only its part of every batch (P x K: whole identities)
    batch_sampler = ShardedBatchSampler(batch_sampler, group=getattr(batch_sampler, "k", 1))
    return torch.utils.data.DataLoader(dataset, batch_sampler=batch_sampler, generator=g, **kw)


def default_workers() -> int:
    """DataLoader workers: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        n = os.cpu_count() or 1
    return max(0, min(8, n))

