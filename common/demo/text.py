"""Demo data of the language-modelling homework (HW4P1) in the course's layout.

    from .text import write_hw4p1, write_lm_tasks
    root = write_hw4p1(base_dir, size="tiny")     # base_dir / "hw4p1-shakespeare"

``write_hw4p1`` writes the WikiText-2 layout of DATA.md from real text, Shakespeare's works
(the ``shakespeare`` package, see ``common.text.shakespeare``), at word level: every work is
an article, every spoken line a sentence ending in ``<eos>``; the vocabulary is the most
frequent training words (lower case), the rest ``<unk>``::

    wiki.train.npy  object array of articles (int64 word ids)      wiki.valid.npy (dev works)
    vocab.npy       the words (id -> word)
    prediction.npz  inp (N, L) windows of the dev split, out (N,) the true next word
    generation.npy  (N, L) dev prefixes to continue

``write_lm_tasks`` writes the two task files from any dev sequences (the speech demo's
transcripts use it too). Same arguments, same bytes; a folder written with the same arguments
is returned as it is (marker ``demo_info.json``, written last, atomic folder).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.engine.files import atomic_folder
from common.text.corpus import build_word_vocab, encode_corpus, tokenize
from common.text.shakespeare import shakespeare_lines, shakespeare_works

__all__ = ["TEXT_DEMO_SIZES", "DEV_WORKS", "write_hw4p1", "write_lm_tasks"]

VERSION = 1
MARKER = "demo_info.json"
DEV_WORKS = ("julius_caesar", "twelfth_night")
# training works (in sorted order, dev works excluded) and vocabulary size per preset
TEXT_DEMO_SIZES = {
    "tiny": {"train_works": 4, "vocab_size": 1000, "tasks": 32},
    "small": {"train_works": 10, "vocab_size": 1000, "tasks": 128},
    "medium": {"train_works": 40, "vocab_size": 4000, "tasks": 256},
}


def write_lm_tasks(folder, sequences, *, n: int = 128, context: int = 32, seed: int = 0) -> Path:
    """``prediction.npz`` (inp (n, context), out (n,)) and ``generation.npy`` (n, context) from
    windows of the concatenated ``sequences`` (id arrays) at random offsets."""
    stream = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
    if len(stream) < context + 2:
        raise ValueError(f"the dev split has {len(stream)} tokens: too few for windows of {context}")
    rng = np.random.default_rng([seed, 4])
    starts = rng.integers(0, len(stream) - context - 1, size=n)
    inp = np.stack([stream[s:s + context] for s in starts])
    out = stream[starts + context]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "prediction.npz", inp=inp, out=out)
    np.save(folder / "generation.npy", np.stack([stream[s + 1:s + 1 + context] for s in starts]))
    return folder


def _resolve(size) -> dict:
    if isinstance(size, str):
        if size not in TEXT_DEMO_SIZES:
            raise ValueError(f"unknown demo size {size!r}: use one of {sorted(TEXT_DEMO_SIZES)} or a dict "
                             "with train_works, vocab_size, tasks")
        return dict(TEXT_DEMO_SIZES[size])
    if isinstance(size, dict) and set(size) <= set(TEXT_DEMO_SIZES["tiny"]):
        return {**TEXT_DEMO_SIZES["tiny"], **size}
    raise ValueError(f"demo size must be one of {sorted(TEXT_DEMO_SIZES)} or a dict of "
                     f"{sorted(TEXT_DEMO_SIZES['tiny'])}, not {size!r}")


def write_hw4p1(base_dir, size="tiny", seed: int = 0) -> Path:
    """The HW4P1 layout from Shakespeare's works under ``base_dir/hw4p1-shakespeare``."""
    counts = _resolve(size)
    root = Path(base_dir) / "hw4p1-shakespeare"
    info = {"generator": "common.demo.text", "version": VERSION, "layout": "hw4p1", "seed": int(seed),
            "counts": counts}
    try:
        if all(json.loads((root / MARKER).read_text()).get(k) == v for k, v in info.items()):
            return root
    except (OSError, ValueError):
        pass
    train_works = [w for w in shakespeare_works() if w not in DEV_WORKS][:counts["train_works"]]
    lines = shakespeare_lines([*train_works, *DEV_WORKS])
    tokens = {w: tokenize(lines[w], "word", lower=True) for w in lines}
    vocab = build_word_vocab((s for w in train_works for s in tokens[w]), max_size=counts["vocab_size"])
    articles = {w: np.concatenate(encode_corpus(tokens[w], vocab)) for w in lines}
    with atomic_folder(root) as tmp:
        for name, works in (("wiki.train.npy", train_works), ("wiki.valid.npy", DEV_WORKS)):
            arr = np.empty(len(works), dtype=object)
            arr[:] = [articles[w] for w in works]
            np.save(tmp / name, arr, allow_pickle=True)
        np.save(tmp / "vocab.npy", np.array(vocab.tokens))
        write_lm_tasks(tmp, [articles[w] for w in DEV_WORKS], n=counts["tasks"], seed=seed)
        info["stats"] = {"train_tokens": int(sum(len(articles[w]) for w in train_works)),
                         "dev_tokens": int(sum(len(articles[w]) for w in DEV_WORKS)),
                         "vocab_size": len(vocab), "train_works": train_works, "dev_works": list(DEV_WORKS)}
        (tmp / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True))
    return root
