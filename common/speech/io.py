"""Reading the course's speech data folders (HW1P2, HW3P2, HW4P2 layouts of DATA.md).

Utterance files are always read in sorted file-name order: submissions index frames and
utterances in that order. Every malformed input raises ``DataFormatError`` naming the
file and the fix, before any training starts.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["PHONEMES", "PHONEME_TO_INDEX", "NUM_PHONEME_CLASSES", "DataFormatError",
           "require_dir", "utterance_files", "feature_shapes", "read_frame_labels", "cmvn",
           "encode_phonemes"]

# DATA.md, HW1P2: label = index; the 40 real classes come first, then [SOS], [EOS].
PHONEMES = [
    "[SIL]", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
    "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH",
    "UH", "UW", "V", "W", "Y", "Z", "ZH", "[SOS]", "[EOS]",
]
PHONEME_TO_INDEX = {p: i for i, p in enumerate(PHONEMES)}
NUM_PHONEME_CLASSES = 40  # frames are never labelled [SOS]/[EOS]


class DataFormatError(ValueError):
    """A data folder or file that does not match the competition layout."""


def require_dir(path, hint: str = "") -> Path:
    """``path`` as a Path if it is a folder, else a DataFormatError naming it and ``hint``."""
    path = Path(path)
    if not path.is_dir():
        raise DataFormatError(f"folder {path} does not exist. {hint}".strip())
    return path


def utterance_files(folder, suffix: str = ".npy", hint: str = "") -> list[Path]:
    """The ``*.npy`` files of ``folder`` in sorted file-name order; error if none."""
    folder = require_dir(folder, hint)
    files = sorted(p for p in folder.iterdir() if p.suffix == suffix)
    if not files:
        raise DataFormatError(f"folder {folder} holds no {suffix} files. {hint}".strip())
    return files


def feature_shapes(files, expected_dim: int | None = None) -> list[tuple[int, int]]:
    """(T, D) of every feature file, read from the headers only (``mmap_mode='r'``).

    Checks that every file is a 2-D array and that all share one feature dim (or
    ``expected_dim``): F24 has 28, S24 had 27; read D from the data, don't assume it.
    """
    shapes = []
    for f in files:
        try:
            arr = np.load(f, mmap_mode="r")
        except Exception as err:
            raise DataFormatError(f"{f} is not a readable .npy file ({err}); re-download the data") from err
        if arr.ndim != 2:
            raise DataFormatError(f"{f} has shape {arr.shape}; expected (frames, features)")
        shapes.append(arr.shape)
    dims = {d for _, d in shapes}
    if expected_dim is not None and dims != {expected_dim}:
        bad = next(f for f, (_, d) in zip(files, shapes) if d != expected_dim)
        raise DataFormatError(f"{bad} has feature dim {np.load(bad, mmap_mode='r').shape[1]}, "
                              f"expected {expected_dim}")
    if len(dims) > 1:
        first = files[0]
        bad = next(f for f, (_, d) in zip(files, shapes) if d != shapes[0][1])
        raise DataFormatError(f"feature dims differ: {first} has {shapes[0][1]}, {bad} has "
                              f"{np.load(bad, mmap_mode='r').shape[1]}; mixed data folders?")
    return shapes


def read_frame_labels(path, num_frames: int) -> np.ndarray:
    """Frame labels of one HW1P2 transcript as class indices (num_frames,), uint8.

    The file must hold ``num_frames + 2`` phoneme strings starting with ``[SOS]`` and
    ending with ``[EOS]`` (which are stripped).
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"transcript {path} is missing (every mfcc file needs one with the "
                              "same name)")
    try:
        labels = np.load(path, allow_pickle=False)
    except ValueError as err:  # object arrays need pickle: not the competition's format
        raise DataFormatError(f"{path} is not an array of phoneme strings ({err}); re-download the data") from err
    if labels.ndim != 1 or len(labels) != num_frames + 2:
        raise DataFormatError(f"{path} has {labels.shape} labels for {num_frames} frames; expected "
                              f"{num_frames + 2} ([SOS] + one per frame + [EOS])")
    if labels[0] != "[SOS]" or labels[-1] != "[EOS]":
        raise DataFormatError(f"{path} must start with '[SOS]' and end with '[EOS]', found "
                              f"{labels[0]!r} ... {labels[-1]!r}")
    return encode_phonemes(labels[1:-1], source=path).astype(np.uint8)


def encode_phonemes(labels, source="transcript") -> np.ndarray:
    """Phoneme strings -> indices into PHONEMES; an unknown symbol names the source."""
    try:
        return np.fromiter((PHONEME_TO_INDEX[str(p)] for p in labels), dtype=np.int64, count=len(labels))
    except KeyError as err:
        raise DataFormatError(f"{source} contains the unknown phoneme {err.args[0]!r}; known: "
                              f"{' '.join(PHONEMES)}") from None


def cmvn(features: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Cepstral mean and variance normalisation of one utterance (T, D), per feature dim."""
    features = np.asarray(features, dtype=np.float32)
    mean = features.mean(axis=0, keepdims=True)
    std = features.std(axis=0, keepdims=True)
    return (features - mean) / (std + eps)
