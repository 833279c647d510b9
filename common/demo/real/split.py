"""A deterministic train/dev/test split by prompt (about 80/10/10 by a hash of the file name).

Prompts whose transcripts are the same (``goodbye`` and ``vm-goodbye`` both say "GOODBYE") share
the split of the first file name (sorted) that carries the transcript, so that no test sentence is
also a training sentence. The hash is SHA-1 (stable across Python runs and machines, unlike hash()).
"""
from __future__ import annotations

import hashlib

__all__ = ["split_of", "assign_splits", "SPLITS"]

SPLITS = ("train-clean-100", "dev-clean", "test-clean")


def split_of(name: str) -> str:
    """'train-clean-100' | 'dev-clean' | 'test-clean' from the file name's SHA-1 (8 : 1 : 1)."""
    bucket = int(hashlib.sha1(name.encode("utf-8")).hexdigest(), 16) % 10
    return SPLITS[0] if bucket < 8 else SPLITS[1] if bucket == 8 else SPLITS[2]


def assign_splits(items: dict[str, str]) -> dict[str, str]:
    """{file name: transcript} -> {file name: split}; equal transcripts share one split."""
    first = {}
    for name in sorted(items):
        first.setdefault(items[name], name)
    return {name: split_of(first[text]) for name, text in items.items()}
