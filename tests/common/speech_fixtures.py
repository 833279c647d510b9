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
