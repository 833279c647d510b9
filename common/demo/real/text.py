"""Prompt text -> the course's transcripts: HW4P2 characters and words for the HW3P2 lexicon.

The course's text (LibriSpeech, as HW4P2 ships it) is upper case letters, space and apostrophe,
with numbers and symbols written as words and no other punctuation. So:

- descriptions of what is heard rather than said are removed: ``[...]``, ``(...)`` and ``<...>``
  (``letters/at: at [@]`` -> ``AT``; ``IAX (note: does not say "2")`` -> ``IAX``); a prompt with
  nothing left (``[this is a simple beep tone]``, ``(1 second of silence)``) is non-speech:
  ``normalize`` returns None and the builder drops and counts it;
- ``*`` is read "star" and ``#`` "pound" (the telephone keys, as the prompts say them elsewhere),
  ``@ $ % & + =`` their names;
- numbers: up to 999 as cardinals (``28`` -> ``TWENTY EIGHT``, ``500`` -> ``FIVE HUNDRED``), longer
  ones digit by digit (extensions and passwords: ``1234`` -> ``ONE TWO THREE FOUR``), a decimal
  point is ``POINT``, digits glued to letters split off (``3D`` -> ``THREE D``);
- a few written forms have a fixed reading (``SPOKEN``: ``H.323``, ``www.asterisk.org``, ``A.M.``);
- hyphens and slashes separate words; every other punctuation mark is dropped; quotes too, but an
  apostrophe inside a word stays (``YOU'D``).
"""
from __future__ import annotations

import re

from common.text.normalize import normalize_transcript

__all__ = ["normalize", "number_words", "SPOKEN", "SYMBOLS"]

SYMBOLS = {"*": "star", "#": "pound", "@": "at", "$": "dollar", "%": "percent", "&": "and", "+": "plus",
           "=": "equals"}
SPOKEN = {"H.323": "H three two three", "www.asterisk.org": "w w w dot asterisk dot org",
          "A.M.": "A M", "P.M.": "P M", "A.M": "A M", "P.M": "P M"}

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(digits: str) -> str:
    """'28' -> 'twenty eight', '500' -> 'five hundred', '1234' -> 'one two three four' (longer
    than three digits: digit by digit)."""
    if len(digits) > 3 or (len(digits) > 1 and digits.startswith("0")):
        return " ".join(_ONES[int(d)] for d in digits)
    n = int(digits)
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return " ".join(words)
    if n < 20:
        words.append(_ONES[n])
    else:
        words.append(_TENS[n // 10])
        if n % 10:
            words.append(_ONES[n % 10])
    return " ".join(words)


def _numbers(text: str) -> str:
    text = re.sub(r"(\d+)\.(\d+)", lambda m: f"{m[1]} point {' '.join(m[2])}", text)
    text = re.sub(r"(?<=\d)(?=[A-Za-z])|(?<=[A-Za-z])(?=\d)", " ", text)
    return re.sub(r"\d+", lambda m: f" {number_words(m[0])} ", text)


def normalize(text: str) -> str | None:
    """The HW4P2 transcript of one prompt (upper case, A-Z, space, apostrophe), or None when the
    prompt is only a description of a non-speech sound."""
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>", " ", text)
    for written, spoken in SPOKEN.items():
        text = re.sub(rf"(?<!\w){re.escape(written)}", f" {spoken} ", text)
    text = _numbers(text)
    for symbol, word in SYMBOLS.items():
        text = text.replace(symbol, f" {word} ")
    text, _ = normalize_transcript(text)              # the course's text: A-Z, space, apostrophe
    words = [w.strip("'") for w in text.split()]
    words = [w for w in words if w]
    return " ".join(words) or None
