"""Small hand-made HW1P2 / HW3P2 / HW4P2 folders for the reader tests (independent of the demo
generator)."""
from pathlib import Path

import numpy as np

from common.speech.io import PHONEMES

_WORDS = ["THE", "OLD", "MAN", "SAT", "THERE", "IT'S", "A", "GOOD", "DAY"]


def _write(root: Path, split: str, lengths, first: int, folders, make) -> list[str]:
    """One utterance per length: ``make(i, t) -> (features, labels or None)`` saved under
    ``root/split/<folders[0]>`` and ``<folders[1]>`` with LibriSpeech-like ids."""
    ids = []
    for i, t in enumerate(lengths):
        utt = f"{first + i}-{1000 + first * 10 + i}-{i:04d}"
        ids.append(utt)
        for folder, array in zip(folders, make(i, t)):
            if array is not None:
                (root / split / folder).mkdir(parents=True, exist_ok=True)
                np.save(root / split / folder / f"{utt}.npy", array)
    return ids


def write_split(root: Path, split: str, lengths, dim=28, labels=True, seed=0) -> list[str]:
    """HW1P2: mfcc (T, dim) and one phoneme per frame between [SOS] and [EOS]."""
    rng = np.random.default_rng(seed)

    def make(i, t):
        x = rng.normal(3, 2, (t, dim)).astype(np.float32)
        return x, np.array(["[SOS]", *rng.choice(PHONEMES[:40], size=t), "[EOS]"]) if labels else None

    return _write(root, split, lengths, 100, ("mfcc", "transcript"), make)


def write_hw3_split(root: Path, split: str, lengths, dim=28, labels=True, seed=0) -> list[str]:
    """HW3P2: mfcc (T, dim) and a phoneme sequence of about T/8 symbols between [SOS]/[EOS]."""
    rng = np.random.default_rng([seed, 3])

    def make(i, t):
        x = rng.normal(3, 2, (t, dim)).astype(np.float32)
        lab = rng.choice(PHONEMES[:40], size=max(1, t // 8))
        return x, np.array(["[SOS]", *lab, "[EOS]"]) if labels else None

    return _write(root, split, lengths, 300, ("mfcc", "transcript"), make)


def write_hw4_split(root: Path, split: str, lengths, n_mels=80, labels=True, transposed=False,
                    seed=0) -> list[str]:
    """HW4P2: fbank (T, 80) (or (80, T) with ``transposed``, S25) and '<U1' character text."""
    rng = np.random.default_rng([seed, 4])

    def make(i, t):
        x = rng.normal(-4, 3, (t, n_mels)).astype(np.float32)
        text = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 6))))
        return x.T if transposed else x, np.array(list(text), dtype="<U1") if labels else None

    return _write(root, split, lengths, 500, ("fbank", "text"), make)
