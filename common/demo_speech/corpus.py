"""Utterance ids, speakers and splits of the demo corpus.

Everything is a function of (seed, split, index): utterance ``i`` of a split is the same
whatever the number of utterances asked for, and the three layouts written with one seed
share their utterances (HW1P2 frame labels, HW3P2 phoneme sequences, HW4P2 text).
Ids look like LibriSpeech's ``<speaker>-<chapter>-<4 digits>``; each split has its own
speakers (as train-clean-100, dev-clean and test-clean do), 10 utterances per speaker.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from .synth import Utterance, sample_speaker, sample_words, synthesize

SPLIT_CODES = {"train-clean-100": 0, "dev-clean": 1, "test-clean": 2, "text-for-LM": 3}
UTTS_PER_SPEAKER = 10
_SPEAKER_OFFSET = {0: 0, 1: 6000, 2: 7000, 3: 8000}   # disjoint slices of the speaker pool


@lru_cache(maxsize=8)
def _speaker_pool(seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 7919]).permutation(np.arange(19, 9999))


def utterance_id(seed: int, split: str, index: int) -> str:
    code = SPLIT_CODES[split]
    slot = index // UTTS_PER_SPEAKER
    if slot >= (6000 if code == 0 else 1000):
        raise ValueError(f"demo corpus: too many utterances for split {split}")
    speaker = int(_speaker_pool(seed)[_SPEAKER_OFFSET[code] + slot])
    chapter = int(np.random.default_rng([seed, code, 1, slot]).integers(100, 200000))
    return f"{speaker}-{chapter}-{index % UTTS_PER_SPEAKER:04d}"


def utterances(seed: int, split: str, n: int) -> Iterator[Utterance]:
    """The first ``n`` utterances of ``split`` (audio, phonemes, words)."""
    code = SPLIT_CODES[split]
    for i in range(n):
        slot = i // UTTS_PER_SPEAKER
        speaker = sample_speaker(np.random.default_rng([seed, code, 2, slot]))
        rng = np.random.default_rng([seed, code, 3, i])
        yield synthesize(utterance_id(seed, split, i), speaker, rng)


def texts(seed: int, split: str, n: int) -> Iterator[tuple[str, str]]:
    """(id, upper-case transcript) of ``n`` text-only utterances (text-for-LM)."""
    code = SPLIT_CODES[split]
    for i in range(n):
        rng = np.random.default_rng([seed, code, 3, i])
        words = [w for s in sample_words(rng) for w in s]
        yield utterance_id(seed, split, i), " ".join(words)
