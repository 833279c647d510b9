"""Writers of the Kaggle layouts of DATA.md (F24) from the demo corpus.

Each writer builds its folder in a temporary sibling, writes the marker ``demo_info.json``
last and then moves the folder into place, so that an interrupted run never leaves a folder
that looks complete. A folder whose marker matches (generator version, layout, seed,
utterance counts) is returned as it is. The answers for the test split, which the Kaggle
folders do not have, go to ``root/demo_truth/test-clean/`` where no loader looks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.engine.files import atomic_folder
from common.vocab import HW3_PHONEMES

from .corpus import capacity, texts, utterances
from .synth import logmel_to_mfcc

VERSION = 1
MARKER = "demo_info.json"
TRUTH = "demo_truth"

DEMO_SIZES = {
    "tiny": {"train": 40, "dev": 10, "test": 10, "text_for_lm": 40},
    "small": {"train": 1200, "dev": 150, "test": 150, "text_for_lm": 3000},
    "medium": {"train": 4000, "dev": 400, "test": 400, "text_for_lm": 10000},
}
"""Utterance counts per split of each preset (about 340 frames of 10 ms per utterance)."""

_SPLITS = (("train-clean-100", "train"), ("dev-clean", "dev"), ("test-clean", "test"))
_SPLIT_OF = {key: split for split, key in _SPLITS} | {"text_for_lm": "text-for-LM"}

# HW3P2 one-character phoneme codes (DATA.md), blank excluded: for random_submission.csv.
_HW3_CHARS = "".join(HW3_PHONEMES.codes[1:])


def resolve_size(size) -> dict:
    """A preset name, a number of training utterances, or a dict of counts -> counts per split."""
    if isinstance(size, str):
        if size not in DEMO_SIZES:
            raise ValueError(f"unknown demo size {size!r}: use one of {sorted(DEMO_SIZES)}, "
                             "a number of training utterances, or a dict of counts")
        return dict(DEMO_SIZES[size])
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        n = int(size)
        counts = {"train": n, "dev": max(2, n // 8), "test": max(2, n // 8), "text_for_lm": 2 * n}
    elif isinstance(size, dict):
        unknown = set(size) - set(DEMO_SIZES["tiny"])
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)} in demo size: "
                             f"allowed {sorted(DEMO_SIZES['tiny'])}")
        counts = {**resolve_size(int(size.get("train", DEMO_SIZES["tiny"]["train"]))), **size}
    else:
        message = f"demo size must be one of {sorted(DEMO_SIZES)}, a number or a dict, not {size!r}"
        raise ValueError(message)  # noqa: TRY004 (the contract: a bad size is a ValueError)
    for key, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"demo size: {key} must be a positive integer, not {n!r}")
        if n > capacity(_SPLIT_OF[key]):
            raise ValueError(f"demo size: {key} has at most {capacity(_SPLIT_OF[key])} utterances")
    return {k: int(v) for k, v in counts.items()}


# ---------------------------------------------------------------------------------------------
def _write(root: Path, layout: str, size, seed: int, fill) -> Path:
    counts = resolve_size(size)
    info = {"generator": "common.demo.speech", "version": VERSION, "layout": layout,
            "seed": int(seed), "counts": counts}
    if marker_matches(root, info):
        return root
    if root.exists() and not (root / MARKER).exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} exists and was not written by common.demo.speech (no {MARKER}): "
            "refusing to overwrite it; move it away or pass another base_dir")
    try:
        with atomic_folder(root) as tmp:
            info["stats"] = fill(tmp, counts, int(seed))
            (tmp / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True))
    except OSError:
        if not marker_matches(root, info):  # another process wrote the same data meanwhile?
            raise
    return root


def marker_matches(root: Path, info: dict, marker: str = MARKER) -> bool:
    """Whether ``root/marker`` records every item of ``info`` (a finished, matching build of the data)."""
    try:
        found = json.loads((root / marker).read_text())
    except (OSError, ValueError):
        return False
    return all(found.get(k) == v for k, v in info.items())


def _save(folder: Path, uid: str, array: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{uid}.npy", array)


def _frame_transcript(u) -> np.ndarray:
    return np.array(["[SOS]", *u.frame_labels, "[EOS]"])


def _phone_transcript(u) -> np.ndarray:
    return np.array(["[SOS]", *u.phones, "[EOS]"])


def _chars(text: str) -> np.ndarray:
    return np.array(list(text), dtype="<U1")


def _fill_phonemes(root: Path, counts: dict, seed: int, transcript) -> dict:
    """HW1P2 / HW3P2: mfcc (T, 28) and a transcript per utterance; test answers to demo_truth."""
    stats = {}
    for split, key in _SPLITS:
        frames = 0
        for u in utterances(seed, split, counts[key]):
            _save(root / split / "mfcc", u.uid, logmel_to_mfcc(u.logmel))
            labels = root / (f"{TRUTH}/{split}" if split == "test-clean" else split) / "transcript"
            _save(labels, u.uid, transcript(u))
            frames += len(u.logmel)
        stats[split] = {"utterances": counts[key], "frames": frames}
    return stats


def _fill_hw1p2(root: Path, counts: dict, seed: int) -> dict:
    return _fill_phonemes(root, counts, seed, _frame_transcript)


def _fill_hw3p2(root: Path, counts: dict, seed: int) -> dict:
    stats = _fill_phonemes(root, counts, seed, _phone_transcript)
    rng = np.random.default_rng([seed, 31])
    rows = ["index,label"]
    for i in range(counts["test"]):
        n = int(rng.integers(5, 40))
        rows.append(f"{i}," + "".join(rng.choice(list(_HW3_CHARS), size=n)))
    (root / "test-clean" / "random_submission.csv").write_text("\n".join(rows) + "\n")
    return stats


def _fill_hw4p2(root: Path, counts: dict, seed: int) -> dict:
    stats = {}
    for split, key in _SPLITS:
        frames = 0
        for u in utterances(seed, split, counts[key]):
            _save(root / split / "fbank", u.uid, u.logmel)
            text = root / (f"{TRUTH}/{split}" if split == "test-clean" else split) / "text"
            _save(text, u.uid, _chars(u.text))
            frames += len(u.logmel)
        stats[split] = {"utterances": counts[key], "frames": frames}
    for uid, text in texts(seed, "text-for-LM", counts["text_for_lm"]):
        _save(root / "text-for-LM", uid, _chars(text))
    stats["text-for-LM"] = {"utterances": counts["text_for_lm"]}
    return stats


def write_hw1p2(base_dir, size="tiny", seed: int = 0) -> Path:
    """HW1P2 layout (frame-level phoneme labels) under ``base_dir/11-785-f24-hw1p2``."""
    return _write(Path(base_dir) / "11-785-f24-hw1p2", "hw1p2", size, seed, _fill_hw1p2)


def write_hw3p2(base_dir, size="tiny", seed: int = 0) -> Path:
    """HW3P2 layout (phoneme sequences, test random_submission.csv) under
    ``base_dir/11-785-f24-hw3p2``."""
    return _write(Path(base_dir) / "11-785-f24-hw3p2", "hw3p2", size, seed, _fill_hw3p2)


def write_hw4p2(base_dir, size="tiny", seed: int = 0) -> Path:
    """HW4P2 layout (80-bin fbank, character transcripts, text-for-LM) under ``base_dir/hw4p2``."""
    return _write(Path(base_dir) / "hw4p2", "hw4p2", size, seed, _fill_hw4p2)
