"""Utterance ids, speakers and splits of the demo corpus.

Everything is a function of (seed, split, index): utterance ``i`` of a split is the same
whatever the number of utterances asked for, and the three layouts written with one seed
share their utterances (HW1P2 frame labels, HW3P2 phoneme sequences, HW4P2 text).
Ids look like LibriSpeech's ``<speaker>-<chapter>-<4 digits>``; each split has its own
speakers (as train-clean-100, dev-clean and test-clean do), 10 utterances per speaker.
The generator is deterministic: same seed, same bytes.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from .synth import Utterance, sample_speaker, sample_words, synthesize

# split -> (code, first slot of its speakers in the pool, number of speakers, utterances per
# speaker); disjoint slices of the speaker pool. text-for-LM has no audio: more per "speaker".
_SPLITS = {"train-clean-100": (0, 0, 6000, 10), "dev-clean": (1, 6000, 1000, 10),
           "test-clean": (2, 7000, 1000, 10), "text-for-LM": (3, 8000, 1980, 100)}
SPLIT_CODES = {split: v[0] for split, v in _SPLITS.items()}


def capacity(split: str) -> int:
    """Most utterances a split can have (its speakers times utterances per speaker)."""
    _, _, speakers, per_speaker = _SPLITS[split]
    return speakers * per_speaker


@lru_cache(maxsize=8)
def _speaker_pool(seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 7919]).permutation(np.arange(19, 9999))


def utterance_id(seed: int, split: str, index: int) -> str:
    code, first, _, per_speaker = _SPLITS[split]
    if not 0 <= index < capacity(split):
        raise ValueError(f"demo corpus: {split} has at most {capacity(split)} utterances")
    slot = index // per_speaker
    speaker = int(_speaker_pool(seed)[first + slot])
    chapter = int(np.random.default_rng([seed, code, 1, slot]).integers(100, 200000))
    return f"{speaker}-{chapter}-{index % per_speaker:04d}"


def utterances(seed: int, split: str, n: int) -> Iterator[Utterance]:
    """The first ``n`` utterances of ``split`` (audio, phonemes, words)."""
    code, _, _, per_speaker = _SPLITS[split]
    for i in range(n):
        slot = i // per_speaker
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
