"""Reading the course's speech data folders (HW1P2, HW3P2, HW4P2 layouts of DATA.md).

Utterance files are always read in sorted file-name order: submissions index frames and
utterances in that order. Every malformed input raises ``DataFormatError`` naming the
file and the fix, before any training starts. Every reader entry point first calls
``common.layouts.locate_data_root(root, homework)``, which recognises a DATA_ROOT one level too
high or too low, or one that holds another homework's layout, and says so.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from common.layouts import LAYOUTS, DataFormatError, locate_data_root, require_dir
from common.vocab import HW1_PHONEMES

__all__ = ["PHONEMES", "PHONEME_TO_INDEX", "NUM_PHONEME_CLASSES", "utterance_files", "paired_files", "feature_shapes",
           "check_float_features", "check_split_dims", "read_frame_labels", "read_symbols", "cmvn", "encode_phonemes",
           "split_files"]

# DATA.md, HW1P2: derived from the one vocabulary (common.vocab.HW1_PHONEMES)
PHONEMES = HW1_PHONEMES.tokens
PHONEME_TO_INDEX = HW1_PHONEMES.index
NUM_PHONEME_CLASSES = 40  # frames are never labelled [SOS]/[EOS]
_SOS, _EOS = "[SOS]", "[EOS]"


def _is_resource_fork(p: Path) -> bool:
    return p.name.startswith("._")


def utterance_files(folder, suffix: str = ".npy", hint: str = "") -> list[Path]:
    """The ``*.npy`` files of ``folder`` in sorted file-name order; error if none.

    macOS resource files (``._<name>.npy``, left by unzipping on a Mac) are skipped with a
    warning: they are not utterances.
    """
    folder = require_dir(folder, hint)
    files = sorted(p for p in folder.iterdir() if p.suffix == suffix)
    forks = [p for p in files if _is_resource_fork(p)]
    if forks:
        warnings.warn(f"{folder}: skipping {len(forks)} macOS resource files ('._*{suffix}', e.g. "
                      f"{forks[0].name}); delete them with `find {folder} -name '._*' -delete`",
                      stacklevel=2)
        files = [p for p in files if not _is_resource_fork(p)]
    if not files:
        raise DataFormatError(f"folder {folder} holds no {suffix} files. {hint}".strip())
    return files


def paired_files(feature_files, label_folder, hint: str = "") -> list[Path]:
    """The label file of every feature file (same name in ``label_folder``).

    Raises naming a few names that have no partner on either side (files renamed, or
    folders from different downloads mixed).
    """
    label_folder = require_dir(label_folder, hint)
    labels = {p.name for p in label_folder.iterdir() if p.suffix == ".npy" and not _is_resource_fork(p)}
    names = [f.name for f in feature_files]
    no_label = [n for n in names if n not in labels]
    no_features = sorted(labels - set(names))
    if no_label or no_features:
        feat_dir = Path(feature_files[0]).parent
        problems = []
        if no_label:
            problems.append(f"{len(no_label)} feature files have no transcript (e.g. {no_label[:3]})")
        if no_features:
            problems.append(f"{len(no_features)} transcripts have no feature file (e.g. {no_features[:3]})")
        raise DataFormatError(
            f"file names of {feat_dir} and {label_folder} do not match: {'; '.join(problems)}. Every "
            "utterance needs both, with the same name: re-download or re-unzip the data into one folder")
    return [label_folder / n for n in names]


def _open(f) -> np.ndarray:
    try:
        return np.load(f, mmap_mode="r")
    except Exception as err:
        raise DataFormatError(f"{f} is not a readable .npy file ({err}); re-download the data") from err


def feature_shapes(files, expected_dim: int | None = None) -> list[tuple[int, int]]:
    """(T, D) of every feature file, read from the headers only (``mmap_mode='r'``).

    Checks that every file is a non-empty 2-D array and that all share one feature dim (or
    ``expected_dim``): F24 has 28, S24 had 27; read D from the data, don't assume it.
    """
    shapes = []
    for f in files:
        arr = _open(f)
        if arr.ndim != 2:
            raise DataFormatError(f"{f} has shape {arr.shape}; expected (frames, features)")
        check_float_features(f, arr)
        if arr.shape[0] == 0:
            raise DataFormatError(f"{f} is an empty utterance (0 frames); delete it and its transcript, "
                                  "or re-download the data")
        shapes.append(arr.shape)
    dims = {d for _, d in shapes}
    if expected_dim is not None and dims != {expected_dim}:
        bad, (_, d) = next((f, s) for f, s in zip(files, shapes) if s[1] != expected_dim)
        raise DataFormatError(f"{bad} has feature dim {d}, expected {expected_dim}")
    if len(dims) > 1:
        bad, (_, d) = next((f, s) for f, s in zip(files, shapes) if s[1] != shapes[0][1])
        raise DataFormatError(f"feature dims differ: {files[0]} has {shapes[0][1]}, {bad} has {d}; "
                              "mixed data folders?")
    return shapes


def check_float_features(f, arr) -> None:
    """The course's mfcc/fbank files are float32 (float16/float64 are read too); integer, string or
    object arrays are another kind of file, refused here instead of being converted without a word."""
    if arr.dtype.kind != "f":
        what = {"i": "integers", "u": "unsigned integers", "b": "booleans", "U": "strings", "S": "bytes",
                "O": "Python objects"}.get(arr.dtype.kind, "values")
        raise DataFormatError(
            f"{f} holds {arr.dtype} {what}, not float features: the course's mfcc/fbank files are float32 "
            "(a transcript or a quantised/converted copy in the feature folder?). Re-download the data; if you "
            "made the file yourself, save the real-valued features: np.save(path, features.astype(np.float32))")


def check_split_dims(root, split: str, dim: int, features: str = "mfcc", dim_of=None) -> None:
    """Check that every other split of ``root`` (sibling folders with a ``features`` folder) has
    feature dim ``dim``, from the header of its first file: a dev or test split with another
    dim would otherwise fail with a shape error after a whole epoch, or after training."""
    dim_of = dim_of or (lambda shape: shape[-1] if len(shape) == 2 else None)
    for other in sorted(Path(root).iterdir()):
        folder = other / features
        if other.name == split or not folder.is_dir():
            continue
        files = sorted(p for p in folder.iterdir() if p.suffix == ".npy" and not _is_resource_fork(p))
        if not files:
            continue
        shape = _open(files[0]).shape
        if dim_of(shape) != dim:
            raise DataFormatError(
                f"{files[0]} has shape {shape}: feature dim {dim_of(shape)}, but {split} has {dim}. "
                f"All splits of {root} must come from one download (mixed terms, e.g. S24's 27-dim "
                "and F24's 28-dim mfcc?): re-download the data into one folder")


def read_frame_labels(path, num_frames: int) -> np.ndarray:
    """Frame labels of one HW1P2 transcript as class indices (num_frames,), uint8.

    The file must hold ``num_frames + 2`` phoneme strings starting with ``[SOS]`` and
    ending with ``[EOS]`` (which are stripped), and neither inside.
    """
    path = Path(path)
    labels = _load_strings(path, "transcript")
    if labels.ndim != 1 or len(labels) != num_frames + 2:
        raise DataFormatError(f"{path} has {labels.shape} labels for {num_frames} frames; expected "
                              f"{num_frames + 2} ([SOS] + one per frame + [EOS])")
    inner = _strip_sos_eos(labels, path)
    return encode_phonemes(inner, source=path).astype(np.uint8)


def read_symbols(path, vocab) -> np.ndarray:
    """One HW3P2 transcript: phoneme strings between [SOS] and [EOS] -> ids of ``vocab`` (int64)."""
    path = Path(path)
    labels = _load_strings(path, "transcript")
    if labels.ndim != 1:
        raise DataFormatError(f"{path} has shape {labels.shape}; expected a 1-D array of phonemes")
    inner = _strip_sos_eos(labels, path)
    if len(inner) == 0:
        raise DataFormatError(f"{path} is an empty transcript (only [SOS] and [EOS]); delete the "
                              "utterance (its mfcc and transcript files) or re-download the data")
    try:
        ids = np.asarray(vocab.encode(inner.tolist()), dtype=np.int64)
    except ValueError as err:
        raise DataFormatError(f"{path}: {err}") from None
    special = sorted(getattr(vocab, "special_ids", ()))
    if special and np.isin(ids, special).any():
        k = int(np.flatnonzero(np.isin(ids, special))[0])
        token = str(inner[k])
        what = "the CTC blank" if getattr(vocab, "blank", None) == ids[k] else "a special token"
        raise DataFormatError(
            f"{path} has {token!r} ({what}, id {ids[k]}) inside the transcript (label {k + 2} of {len(labels)}, "
            "[SOS] included): it is not a phoneme, and a target holding it trains CTC to emit the blank as a symbol. "
            "Remove it from the transcript (an empty string left by splitting on spaces?) or re-download the data")
    return ids


def _load_strings(path: Path, what: str) -> np.ndarray:
    if not path.exists():
        raise DataFormatError(f"{what} {path} is missing (every feature file needs one with the same name)")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:  # object arrays need pickle: not the competition's format
        raise DataFormatError(f"{path} is not an array of phoneme strings ({err}); re-download the data") from err
    except OSError as err:
        raise DataFormatError(f"{path} is not a readable .npy file ({err}); re-download the data") from err
    if arr.dtype.kind != "U":
        raise DataFormatError(f"{path} holds {arr.dtype} values, not phoneme strings; is it a feature "
                              "file in the transcript folder? re-download the data")
    return arr


def _strip_sos_eos(labels: np.ndarray, path) -> np.ndarray:
    if len(labels) < 2 or labels[0] != _SOS or labels[-1] != _EOS:
        first, last = (str(labels[0]), str(labels[-1])) if len(labels) else (None, None)
        raise DataFormatError(f"{path} must start with '[SOS]' and end with '[EOS]', found "
                              f"{first!r} ... {last!r}")
    inner = labels[1:-1]
    inside = np.flatnonzero((inner == _SOS) | (inner == _EOS))
    if len(inside):
        k = int(inside[0])
        raise DataFormatError(f"{path} has {str(inner[k])!r} inside the transcript (at index {k + 1} of "
                              f"{len(labels)} labels), not only at its ends: two transcripts joined? "
                              "re-download the data or remove the marker")
    return inner


def encode_phonemes(labels, source="transcript") -> np.ndarray:
    """HW1P2 phoneme strings -> indices into PHONEMES; an unknown symbol names the source."""
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


# ---------------------------------------------------------------------------------------------
# Which layout does a folder hold?
def split_files(root, homework: str, split: str, labels: bool | None = None,
                max_utterances: int | None = None) -> tuple[Path, list[Path], list[Path] | None]:
    """(located root, feature files, their label files or None) of one split, in sorted order.

    ``labels`` None: read labels unless a test split has no label folder. The whole split is
    paired (names must match) before ``max_utterances`` keeps the first ones.
    """
    root = locate_data_root(root, homework, split)
    layout = LAYOUTS[homework]
    hint = layout.hint(root)
    files = utterance_files(root / split / layout.features, hint=hint)
    if labels is None:
        labels = (root / split / layout.labels).is_dir() or not split.startswith("test")
    label_files = paired_files(files, root / split / layout.labels, hint) if labels else None
    if max_utterances is not None:
        files = files[:max_utterances]
        label_files = label_files[:max_utterances] if labels else None
    return root, files, label_files
