"""A small English lexicon with CMUdict ARPAbet pronunciations, and a toy sentence grammar.

Pronunciations follow CMUdict with the stress digits removed (``AH0`` -> ``AH``); where
CMUdict lists several, the first common one is kept. Each word carries one or more
part-of-speech tags that the grammar below uses, so that transcripts have structure a
language model can learn (HW4P2 pretrains its decoder on such text).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# "## ..." is a comment, "# TAG" starts a group, each other line is "WORD  PH PH ..."
_LEXICON_FILE = Path(__file__).with_name("lexicon.txt")   # package data (pyproject.toml)


def _parse(data: str) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    lexicon: dict[str, tuple[str, ...]] = {}
    by_tag: dict[str, list[str]] = {}
    tag = None
    for line in data.strip().splitlines():
        if line.startswith("##"):
            continue
        if line.startswith("#"):
            tag = line[1:].strip()
            by_tag[tag] = []
            continue
        word, *phones = line.split()
        if word in lexicon and lexicon[word] != tuple(phones):
            raise ValueError(f"lexicon: {word} has two pronunciations")
        lexicon[word] = tuple(phones)
        by_tag[tag].append(word)
    return lexicon, {t: tuple(ws) for t, ws in by_tag.items()}


LEXICON, WORDS_BY_TAG = _parse(_LEXICON_FILE.read_text())
"""LEXICON: word -> ARPAbet phonemes; WORDS_BY_TAG: part-of-speech tag -> words."""


def _pick(rng: np.random.Generator, tag: str) -> str:
    words = WORDS_BY_TAG[tag]
    return words[rng.integers(len(words))]


def _noun_phrase(rng: np.random.Generator, subject: bool) -> list[str]:
    r = rng.random()
    if r < 0.12:
        return [_pick(rng, "NAME")]
    if r < 0.3:
        return [_pick(rng, "PRON_SUBJ" if subject else "PRON_OBJ")]
    words = [_pick(rng, "DET")]
    if rng.random() < 0.45:
        words.append(_pick(rng, "ADJ"))
    return words + [_pick(rng, "NOUN")]


def _clause(rng: np.random.Generator) -> list[str]:
    """One clause of a toy grammar: subject, verb group, optional object/complement/modifier."""
    kind = rng.choice(5, p=[0.32, 0.22, 0.18, 0.18, 0.10])
    if kind == 0:    # the old man saw a dog [in the house]
        words = _noun_phrase(rng, True) + [_pick(rng, "VERB_T")] + _noun_phrase(rng, False)
    elif kind == 1:  # mary came [home | slowly | into the room]
        words = _noun_phrase(rng, True) + [_pick(rng, "VERB_I")]
        if rng.random() < 0.4:
            words.append(_pick(rng, "ADV"))
    elif kind == 2:  # she could find the key
        words = ([_pick(rng, "PRON_SUBJ"), _pick(rng, "MODAL"), _pick(rng, "VERB_BASE")]
                 + _noun_phrase(rng, False))
    elif kind == 3:  # it was very cold / we're happy
        if rng.random() < 0.5:
            words = [_pick(rng, "SUBJ_BE")]
        else:
            plural = rng.random() < 0.4
            subjects = ["WE", "THEY", "YOU"] if plural else ["HE", "SHE", "I"]
            words = [subjects[rng.integers(3)], "WERE" if plural else "WAS"]
        if rng.random() < 0.5:
            words.append(_pick(rng, "DEGREE"))
        words.append(_pick(rng, "ADJ"))
    else:            # then the girl smiled
        words = [_pick(rng, "ADV")] + _noun_phrase(rng, True) + [_pick(rng, "VERB_I")]
    if rng.random() < 0.35:
        words += [_pick(rng, "PREP")] + _noun_phrase(rng, False)
    return words


def sample_sentence(rng: np.random.Generator) -> list[str]:
    """A sentence: one clause, sometimes two joined by a conjunction, sometimes an interjection."""
    words = _clause(rng)
    if rng.random() < 0.3:
        words += [_pick(rng, "CONJ")] + _clause(rng)
    if rng.random() < 0.06:
        words = [_pick(rng, "INTERJ")] + words
    return words
