"""Language-model text -> the course's text, counted: nothing becomes ``<|unknown|>`` unseen.

The course's transcripts (LibriSpeech, as HW4P2 ships them; the HW4P2 character vocabulary) are
upper case ``A``-``Z``, space and apostrophe. The speech readers refuse anything else in a
transcript; language-model text (``text-for-LM``, or a folder of one's own) is normalised to the
same alphabet instead, and every change is counted and reported with the files it happened in:

- lower case -> upper case; accented letters -> their base letter (``É`` -> ``E``, ``Æ`` -> ``AE``);
- typographic apostrophes (’ ‘ ʼ ` ´) -> ``'``; hyphens, dashes, slashes, tabs, newlines -> a space;
- every other character (punctuation, digits, symbols, other scripts) -> dropped (a space, so that
  ``WORD,WORD`` stays two words); digits are listed apart: they are words the text no longer says;
- runs of spaces -> one; a text with no letter left -> dropped (counted).

Text that is already the course's text is returned unchanged (the fast path).

    texts, report = normalize_texts(texts, sources=files)
    print(report.summary("text-for-LM"))
    normalize_texts(texts, sources=files, on_invalid="error")   # refuse instead, naming file and position
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from common.layouts import DataFormatError

__all__ = ["COURSE_CHARS", "normalize_transcript", "normalize_texts", "TextReport"]

COURSE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ '")
_APOSTROPHES = dict.fromkeys("\u2019\u2018\u02bc\u0060\u00b4\u2032", "'")
_SPACES = re.compile(r"[\s\-\u2010-\u2015/_]+")
_LIGATURES = {"Æ": "AE", "Œ": "OE", "ß": "SS", "Ø": "O", "Ð": "D", "Þ": "TH", "Ł": "L"}


def _fold(ch: str) -> str:
    """One upper-case character -> its ASCII letters when it is an accented/ligature letter, else itself."""
    if ch in _LIGATURES:
        return _LIGATURES[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if base and all("A" <= c <= "Z" for c in base) else ch


def normalize_transcript(text: str, chars=COURSE_CHARS) -> tuple[str, Counter]:
    """(normalised text, counts of what changed) for one text; ``chars`` the target alphabet.

    Count keys: ``lower`` (letters upper-cased), ``accents`` (letters folded), ``apostrophes``,
    ``separators`` (hyphens, tabs, newlines turned into spaces), ``dropped:<c>`` (per character).
    """
    counts: Counter = Counter()
    if set(text) <= chars and text == " ".join(text.split()):
        return text, counts
    out = []
    for ch in text:
        if ch in chars:
            out.append(ch)
            continue
        if ch in _APOSTROPHES:
            counts["apostrophes"] += 1
            out.append("'")
            continue
        if _SPACES.fullmatch(ch):
            if ch != " ":
                counts["separators"] += 1
            out.append(" ")
            continue
        up = ch.upper()
        if up != ch and all(c in chars for c in up):
            counts["lower"] += 1
            out.append(up)
            continue
        folded = _fold(up)
        if folded != up and all(c in chars for c in folded):
            counts["accents"] += 1
            out.append(folded)
            continue
        counts[f"dropped:{ch}"] += 1
        out.append(" ")
    return " ".join("".join(out).split()), counts


@dataclass
class TextReport:
    """What ``normalize_texts`` changed: counts over all texts, and the first few examples."""
    n_texts: int = 0
    n_changed: int = 0
    dropped_texts: list[str] = field(default_factory=list)      # sources of texts with nothing left
    counts: Counter = field(default_factory=Counter)            # summed counts of normalize_transcript
    changed_in: Counter = field(default_factory=Counter)        # kind -> number of texts it happened in
    examples: list[tuple[str, str, str]] = field(default_factory=list)   # (source, before, after)

    @property
    def dropped_chars(self) -> Counter:
        return Counter({k.split(":", 1)[1]: v for k, v in self.counts.items() if k.startswith("dropped:")})

    def summary(self, what: str = "texts") -> str:
        if self.n_changed == 0 and not self.dropped_texts:
            return f"{what}: all {self.n_texts:,} texts are already the course's text (A-Z, space, apostrophe)"
        parts = []
        for key, name in (("lower", "lower-case letters upper-cased"), ("accents", "accented letters folded"),
                          ("apostrophes", "typographic apostrophes made '"),
                          ("separators", "hyphens/tabs/newlines made spaces")):
            if self.counts[key]:
                parts.append(f"{self.counts[key]:,} {name} (in {self.changed_in[key]:,} texts)")
        dropped = self.dropped_chars
        if dropped:
            digits = sum(v for c, v in dropped.items() if c.isdigit())
            shown = ", ".join(f"{c!r} x{v}" for c, v in dropped.most_common(8))
            parts.append(f"{sum(dropped.values()):,} characters dropped (in {self.changed_in['dropped']:,} texts: "
                         f"{shown}{', ...' if len(dropped) > 8 else ''})")
            if digits:
                parts.append(f"{digits:,} of them digits (numbers are not spelled out: write them as words in "
                             "the files if they matter)")
        if self.dropped_texts:
            parts.append(f"{len(self.dropped_texts):,} texts with no letter left dropped "
                         f"(e.g. {self.dropped_texts[:3]})")
        lines = [f"{what}: {self.n_changed:,} of {self.n_texts:,} texts normalised to the course's text "
                 f"(upper case A-Z, space, apostrophe): " + "; ".join(parts)]
        lines += [f"  e.g. {src}: {before[:60]!r} -> {after[:60]!r}" for src, before, after in self.examples[:3]]
        return "\n".join(lines)


def _first_bad(text: str, chars) -> tuple[int, str]:
    i = next(i for i, c in enumerate(text) if c not in chars)
    return i, text[i]


def normalize_texts(texts: Iterable[str], sources: Sequence | None = None, *, chars=COURSE_CHARS,
                    on_invalid: str = "normalize") -> tuple[list[str], TextReport]:
    """Normalise every text (``normalize_transcript``) and report what changed, naming ``sources``
    (file names, one per text; default ``text <i>``).

    ``on_invalid="error"``: refuse the first text outside ``chars`` instead, with a DataFormatError
    naming its source, the position and the character. Texts with no letter left are dropped.
    """
    if on_invalid not in ("normalize", "error"):
        raise ValueError(f"on_invalid must be 'normalize' or 'error', got {on_invalid!r}")
    texts = list(texts)
    sources = [f"text {i}" for i in range(len(texts))] if sources is None else [str(s) for s in sources]
    if len(sources) != len(texts):
        raise ValueError(f"{len(sources)} sources for {len(texts)} texts")
    report, out = TextReport(n_texts=len(texts)), []
    for text, source in zip(texts, sources):
        if on_invalid == "error" and not set(text) <= chars:
            i, c = _first_bad(text, chars)
            hint = " (lower case: the course's text is upper case)" if c.upper() in chars else ""
            raise DataFormatError(f"{source}: character {c!r} at position {i} of {text[:80]!r} is not in the course's "
                                  f"text (upper case A-Z, space, apostrophe){hint}: fix the file, or normalise "
                                  "(on_invalid='normalize' upper-cases, folds accents, drops the rest and counts it)")
        new, counts = normalize_transcript(text, chars)
        if new != text:
            report.n_changed += 1
            report.counts.update(counts)
            report.changed_in.update({k.split(":")[0] for k in counts})
            if len(report.examples) < 5:
                report.examples.append((source, text, new))
        if not any(c.isalpha() for c in new):
            report.dropped_texts.append(source)
            continue
        out.append(new)
    return out, report
