"""The Kaggle layouts of the course's data (DATA.md): locate and check a DATA_ROOT, and name the
homework a folder holds.

- ``LAYOUTS`` / ``locate_data_root(root, "hw1p2" | "hw3p2" | "hw4p2")``: the speech homeworks; every
  speech reader calls it first, and so does each speech notebook's Data cell;
- ``check_hw2p2_root(root)``: the HW2P2 faces (``cls_data/``, ``ver_data/``, the pairs files);
- ``detect_layout(folder)``: which speech homework a folder holds (``_other_homework`` says it in
  words, for the HW2P2 message).
A DATA_ROOT one or two levels off is an error that names the folder to use; one that holds another
homework's data says which; a missing one says how to download it. ``DataFormatError`` is the error
of every reader of these layouts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataFormatError", "Layout", "LAYOUTS", "SPLITS", "require_dir", "visible", "detect_layout",
           "locate_data_root", "check_hw2p2_root", "HW2P2_HINT"]

SPLITS = ("train-clean-100", "dev-clean", "test-clean")


class DataFormatError(ValueError):
    """A data folder or file that does not match the competition layout."""


@dataclass(frozen=True)
class Layout:
    name: str          # "HW1P2"
    features: str      # sub-folder of each split holding the features
    labels: str        # sub-folder holding transcripts
    folder: str        # name of the unzipped Kaggle folder
    download: str      # how to get it

    def hint(self, root) -> str:
        return (f"Expected the {self.name} layout {root}/train-clean-100/{self.features}/*.npy (and "
                f"{self.labels}/): {self.download}, or set DEMO=True.")


LAYOUTS = {
    "hw1p2": Layout("HW1P2", "mfcc", "transcript", "11-785-f24-hw1p2",
                    "download it with `kaggle competitions download -c 11785-hw1p2-f24` and unzip"),
    "hw3p2": Layout("HW3P2", "mfcc", "transcript", "11-785-f24-hw3p2",
                    "download it with `kaggle competitions download -c hw3p2-785-f24` and unzip"),
    "hw4p2": Layout("HW4P2", "fbank", "text", "hw4p2",
                    "download it with `kaggle competitions download -c 11785-hw4p2-f24` and unzip"),
}


def require_dir(path, hint: str = "") -> Path:
    """``path`` as a Path if it is a folder, else a DataFormatError naming it and ``hint``."""
    path = Path(path)
    if not path.is_dir():
        raise DataFormatError(f"folder {path} does not exist. {hint}".strip())
    return path


def visible(entries):
    """Entries whose names do not start with "." (macOS ._* files, .DS_Store)."""
    return [p for p in entries if not p.name.startswith(".")]


def _split_dirs(folder: Path, features: str) -> list[Path]:
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []
    return [c for c in children if (c / features).is_dir()]


def _phoneme_kind(folder: Path) -> str | None:
    """"hw1p2" (frame labels: T + 2 per transcript), "hw3p2" (phoneme sequences, far shorter
    than the frames) or None (undecided) for a folder with mfcc/ and transcript/ splits."""
    votes = []
    for split in _split_dirs(folder, "mfcc"):
        if (split / "random_submission.csv").exists():
            return "hw3p2"
        labels = split / "transcript"
        if not labels.is_dir():
            continue
        names = sorted(p.name for p in labels.iterdir() if p.suffix == ".npy" and not p.name.startswith("._"))
        for name in names[:3]:
            try:
                t = np.load(split / "mfcc" / name, mmap_mode="r").shape[0]
                n = len(np.load(labels / name, allow_pickle=False))
            except Exception:  # noqa: BLE001 (unreadable files get their own error later)
                continue
            votes.append("hw1p2" if n == t + 2 else "hw3p2" if n < t / 2 else None)
        if votes:
            break
    if "hw1p2" in votes:
        return "hw1p2"
    if votes and all(v == "hw3p2" for v in votes):
        return "hw3p2"
    name = folder.name.lower()
    return "hw1p2" if "hw1p2" in name else "hw3p2" if "hw3p2" in name else None


def detect_layout(folder) -> str | None:
    """The homework whose layout ``folder`` holds: "hw1p2", "hw3p2", "hw4p2", "hw1p2|hw3p2"
    (mfcc and transcripts, undecided), or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if _split_dirs(folder, "fbank"):
        return "hw4p2"
    if _split_dirs(folder, "mfcc"):
        return _phoneme_kind(folder) or "hw1p2|hw3p2"
    return None


def _matches(found: str | None, homework: str) -> bool:
    return found is not None and homework in found.split("|")


def locate_data_root(root, homework: str, split: str | None = None) -> Path:
    """``root`` as a Path if it holds ``homework``'s layout ("hw1p2" | "hw3p2" | "hw4p2").

    ``split`` only names the folder in the message when nothing is found.

    Otherwise a DataFormatError that says what is there: the layout found one level up or
    down (and the DATA_ROOT to use), another homework's layout, or how to download the data.
    """
    if homework not in LAYOUTS:
        raise ValueError(f"homework must be one of {sorted(LAYOUTS)}, got {homework!r}")
    root, layout = Path(root), LAYOUTS[homework]
    found = detect_layout(root)
    if _matches(found, homework):
        return root
    if found is not None:
        others = " or ".join(LAYOUTS[h].name for h in found.split("|"))
        raise DataFormatError(
            f"DATA_ROOT {root} holds the {others} layout ({LAYOUTS[found.split('|')[0]].features}/ and "
            f"{LAYOUTS[found.split('|')[0]].labels}/ per split), not {layout.name}'s. Point it at the "
            f"{layout.name} download (folder {layout.folder}/). {layout.hint(root)}")
    candidates = [("one level up", root.parent), ("two levels up", root.parent.parent)]   # a split, its mfcc/
    if root.is_dir():
        below = sorted(p for p in root.iterdir() if p.is_dir())[:100]
        below += [q for p in below if p.name == layout.folder or p.name.startswith(("hw", "11"))
                  for q in sorted(p.iterdir()) if q.is_dir()][:100]
        candidates += [("one level down" if c.parent == root else "two levels down", c) for c in below]
    for where, folder in candidates:
        if _matches(detect_layout(folder), homework):
            inside = (f" (DATA_ROOT is the folder that holds {', '.join(s + '/' for s in SPLITS)} not a split or "
                      f"its {layout.features}/ folder)") if "up" in where else ""
            raise DataFormatError(
                f"DATA_ROOT {root} does not hold the {layout.name} layout, but it was found {where} at "
                f"{folder}: set DATA_ROOT = {str(folder)!r}{inside}")
    if not root.is_dir():
        raise DataFormatError(f"folder {root} does not exist. {layout.hint(root)}")
    missing = root / (split or "train-clean-100") / layout.features
    raise DataFormatError(f"folder {missing} does not exist ({root} holds no split folder with "
                          f"{layout.features}/). {layout.hint(root)}")


# --- HW2P2 (faces) --------------------------------------------------------------------------------

HW2P2_HINT = ("Download it with the Kaggle CLI: `kaggle competitions download -c "
               "11785-hw-2-p-2-face-verification-fall-2024` and unzip it, then set DATA_ROOT to "
               "the folder that holds cls_data/ (or set DEMO=True to use generated demo faces).")


def check_hw2p2_root(root) -> dict[str, Path]:
    """The paths of an HW2P2 data folder; a clear error when one is missing.

    A DATA_ROOT one or two levels too high, or one level too low (``cls_data/``, ``ver_data/``,
    ``cls_data/train``), is an error that names the folder where the layout was found; a
    DATA_ROOT holding another homework's data says which.
    """
    root = Path(root)
    if not root.is_dir():
        near = ""
        if root.parent.is_dir():
            near = f" ({root.parent} holds: {sorted(p.name for p in visible(root.parent.iterdir()))[:10]})"
        raise FileNotFoundError(f"HW2P2 data folder {root} does not exist{near}. {HW2P2_HINT}")
    paths = {"root": root, "cls_data": root / "cls_data", "ver_data": root / "ver_data",
             "val_pairs": root / "val_pairs.txt", "test_pairs": root / "test_pairs.txt"}
    if not paths["cls_data"].is_dir() and not paths["ver_data"].is_dir():
        _locate_hw2p2_elsewhere(root, HW2P2_HINT)
    for key in ("cls_data", "ver_data", "val_pairs", "test_pairs"):
        if not paths[key].exists():
            found = sorted(p.name for p in root.iterdir())[:10]
            raise FileNotFoundError(
                f"{paths[key]} is missing (found in {root}: {found}). DATA_ROOT must be the "
                f"folder that holds cls_data/, ver_data/ and the pairs files. {HW2P2_HINT}")
    return paths


def _has_hw2p2(folder: Path) -> bool:
    return (folder / "cls_data").is_dir() and (folder / "ver_data").is_dir()


def _subfolders(folder: Path, limit: int = 200) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())[:limit]
    except OSError:
        return []
    return [p for p in visible(entries) if p.is_dir() and p.name != "__MACOSX"]


def _locate_hw2p2_elsewhere(root: Path, hint: str = "") -> None:
    """``root`` lacks cls_data/ and ver_data/: raise naming where the layout is, or what it holds.

    Looks one and two levels down and up; returns (to let the caller name what is missing) when
    neither the layout nor another homework's data is found.
    """
    up = [(root.parent, "one level up"), (root.parent.parent, "two levels up")]
    below = _subfolders(root)
    down = [(c, "one level down") for c in below]
    if len(below) <= 20:
        down += [(g, "two levels down") for c in below for g in _subfolders(c, 50)]
    for folder, where in [*down, *up]:
        if _has_hw2p2(folder):
            raise FileNotFoundError(
                f"DATA_ROOT {root} does not hold the HW2P2 layout (cls_data/, ver_data/, val_pairs.txt), but it "
                f"was found {where}: set DATA_ROOT = {str(folder)!r}")
    other = _other_homework(root) or next((f"{h} (in {c})" for c in below if (h := _other_homework(c))), None)
    if other:
        raise FileNotFoundError(f"DATA_ROOT {root} holds {other}, not the HW2P2 faces (cls_data/, ver_data/): "
                                f"point it at the face verification download. {hint}")


def _other_homework(folder: Path) -> str | None:
    """Which other homework's data ``folder`` holds, in words, or None."""
    if (folder / "wiki.train.npy").exists() or (folder / "vocab.npy").exists():
        return "the HW4P1 language-model data (wiki.*.npy)"
    found = detect_layout(folder)
    if found is None:
        return None
    names = " or ".join(h.upper() for h in found.split("|"))
    return f"the {names} speech data (train-clean-100/, dev-clean/, test-clean/ with .npy features)"
