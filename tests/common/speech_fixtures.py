"""Small hand-made HW1P2 folders for the reader tests (independent of the demo generator)."""
from pathlib import Path

import numpy as np

from common.speech.io import PHONEMES


def write_split(root: Path, split: str, lengths, dim=28, labels=True, seed=0) -> list[str]:
    rng = np.random.default_rng(seed)
    ids = []
    for i, t in enumerate(lengths):
        utt = f"{100 + i}-{2000 + i}-{i:04d}"
        ids.append(utt)
        (root / split / "mfcc").mkdir(parents=True, exist_ok=True)
        np.save(root / split / "mfcc" / f"{utt}.npy", rng.normal(3, 2, (t, dim)).astype(np.float32))
        if labels:
            (root / split / "transcript").mkdir(parents=True, exist_ok=True)
            lab = rng.choice(PHONEMES[:40], size=t)
            np.save(root / split / "transcript" / f"{utt}.npy", np.array(["[SOS]", *lab, "[EOS]"]))
    return ids


def write_hw3_split(root: Path, split: str, lengths, dim=28, labels=True, seed=0) -> list[str]:
    """HW3P2: mfcc (T, dim) and a phoneme sequence of about T/8 symbols between [SOS]/[EOS]."""
    rng = np.random.default_rng([seed, 3])
    ids = []
    for i, t in enumerate(lengths):
        utt = f"{300 + i}-{4000 + i}-{i:04d}"
        ids.append(utt)
        (root / split / "mfcc").mkdir(parents=True, exist_ok=True)
        np.save(root / split / "mfcc" / f"{utt}.npy", rng.normal(3, 2, (t, dim)).astype(np.float32))
        if labels:
            (root / split / "transcript").mkdir(parents=True, exist_ok=True)
            lab = rng.choice(PHONEMES[:40], size=max(1, t // 8))
            np.save(root / split / "transcript" / f"{utt}.npy", np.array(["[SOS]", *lab, "[EOS]"]))
    return ids


_WORDS = ["THE", "OLD", "MAN", "SAT", "THERE", "IT'S", "A", "GOOD", "DAY"]


def write_hw4_split(root: Path, split: str, lengths, n_mels=80, labels=True, transposed=False,
                    seed=0) -> list[str]:
    """HW4P2: fbank (T, 80) (or (80, T) with ``transposed``, S25) and '<U1' character text."""
    rng = np.random.default_rng([seed, 4])
    ids = []
    for i, t in enumerate(lengths):
        utt = f"{500 + i}-{6000 + i}-{i:04d}"
        ids.append(utt)
        (root / split / "fbank").mkdir(parents=True, exist_ok=True)
        x = rng.normal(-4, 3, (t, n_mels)).astype(np.float32)
        np.save(root / split / "fbank" / f"{utt}.npy", x.T if transposed else x)
        if labels:
            (root / split / "text").mkdir(parents=True, exist_ok=True)
            text = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 6))))
            np.save(root / split / "text" / f"{utt}.npy", np.array(list(text), dtype="<U1"))
    return ids
