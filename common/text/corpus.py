"""Text corpora of the language-modelling homework: readers, tokenisation, word vocabularies.

Two layouts (DATA.md):

- HW4P1 (WikiText-2, word level): ``wiki.train.npy`` / ``wiki.valid.npy``, object arrays of
  articles (int arrays of word ids), and ``vocab.npy`` (id -> word)::

      articles = read_wikitext(root, "train")            # list of int64 arrays
      vocab = read_wikitext_vocab(root)                  # Vocab(kind="words")

- HW4P2 plain text: ``text-for-LM/*.npy`` and ``<split>/text/*.npy`` transcripts, one
  utterance per file (an array of characters, or one string)::

      texts = read_transcripts(root / "text-for-LM")    # list of str, sorted file order

``tokenize(texts, level)`` splits texts into words or characters; ``build_word_vocab``
counts words and keeps the frequent ones (the rest become ``<unk>``); ``encode_corpus``
turns texts into id arrays with an end-of-sentence token after each, checking every id.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from common.speech.io import utterance_files
from common.layouts import DataFormatError, require_dir
from common.vocab import Vocab

from .normalize import normalize_texts

__all__ = ["DataFormatError", "read_wikitext", "read_wikitext_vocab", "read_transcripts", "tokenize",
           "build_word_vocab", "encode_corpus", "check_ids", "WIKITEXT_FILES", "EOS", "UNK"]

WIKITEXT_FILES = {"train": "wiki.train.npy", "valid": "wiki.valid.npy", "dev": "wiki.valid.npy"}
EOS, UNK = "<eos>", "<unk>"
_HINT_WIKI = ("Download the HW4P1 data (wiki.train.npy, wiki.valid.npy, vocab.npy) and set DATA_ROOT to "
              "the folder that holds them; or set DEMO = True")


def _load(path: Path, allow_pickle: bool) -> np.ndarray:
    if not path.exists():
        raise DataFormatError(f"{path} is missing. {_HINT_WIKI}")
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except Exception as err:
        raise DataFormatError(f"{path} is not a readable .npy file ({type(err).__name__}: {err}); "
                              "re-download the data") from err


def read_wikitext(root, split: str = "train", vocab_size: int | None = None) -> list[np.ndarray]:
    """The articles of a HW4P1 split as int64 id arrays; ids checked against ``vocab_size``."""
    if split not in WIKITEXT_FILES:
        raise ValueError(f"split must be one of {sorted(WIKITEXT_FILES)}, got {split!r}")
    path = Path(require_dir(root, _HINT_WIKI)) / WIKITEXT_FILES[split]
    data = _load(path, allow_pickle=True)
    if data.dtype != object and data.ndim == 1 and np.issubdtype(data.dtype, np.integer):
        single = np.empty(1, dtype=object)            # a single article stored as one flat array
        single[0] = data                              # (np.array([data], dtype=object) would be 2-D)
        data = single
    articles = []
    for i, article in enumerate(data):
        article = np.asarray(article)
        if article.ndim != 1 or not np.issubdtype(article.dtype, np.integer):
            raise DataFormatError(f"{path}: article {i} is {article.dtype} of shape {article.shape}; "
                                  "expected a 1-D array of word ids")
        articles.append(article.astype(np.int64))
    if not articles or sum(len(a) for a in articles) == 0:
        raise DataFormatError(f"{path} holds no words (empty corpus); re-download the data")
    if vocab_size is not None:
        check_ids(np.concatenate(articles), vocab_size, path)
    return articles


def read_wikitext_vocab(root) -> Vocab:
    """``vocab.npy`` (id -> word) as a word Vocab; ``<unk>`` / ``<eos>`` ids when present."""
    path = Path(require_dir(root, _HINT_WIKI)) / "vocab.npy"
    words = _load(path, allow_pickle=True)
    if words.ndim != 1 or len(words) == 0:
        raise DataFormatError(f"{path} has shape {words.shape}; expected a 1-D array of words")
    tokens = [str(w) for w in words.tolist()]
    index = {t: i for i, t in enumerate(tokens)}
    return Vocab(tokens, kind="words", eos=index.get(EOS), unk=index.get(UNK), name="HW4P1 words")


def read_transcripts(folder, on_invalid: str | None = "normalize") -> list[str]:
    """Every ``*.npy`` transcript of ``folder`` (sorted) as a string (``common.speech.utterances.read_text``:
    arrays of characters joined, start/end markers stripped).

    ``on_invalid``: "normalize" (default) makes every text the course's text (upper case A-Z, space,
    apostrophe; ``common.text.normalize``) and prints what it changed, in which files; "error" refuses a
    file with another character, naming it; None returns the texts as they are.
    """
    from common.speech.utterances import read_text

    files = utterance_files(folder, hint="Expected the HW4P2 text-for-LM/ or <split>/text/ folder")
    texts = [read_text(path) for path in files]
    if on_invalid is None:
        return texts
    texts, report = normalize_texts(texts, [f.name for f in files], on_invalid=on_invalid)
    if report.n_changed or report.dropped_texts:
        print(report.summary(str(folder)))
    return texts


_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*|[0-9]+|[^\sA-Za-z0-9]")


def tokenize(texts: Iterable[str], level: str = "word", lower: bool = False) -> list[list[str]]:
    """Split each text into tokens: "word" (words, numbers and punctuation marks apart) or
    "char" (every character, spaces included)."""
    if level not in ("word", "char"):
        raise ValueError(f"level must be 'word' or 'char' (subwords: SubwordTokenizer), got {level!r}")
    out = []
    for text in texts:
        text = text.lower() if lower else text
        out.append(_WORD.findall(text) if level == "word" else list(text))
    return out


def build_word_vocab(sentences: Iterable[Sequence[str]], max_size: int | None = None,
                     min_count: int = 1) -> Vocab:
    """A word vocabulary: ``<eos>`` = 0, ``<unk>`` = 1, then words by decreasing count (ties in
    first-seen order), at most ``max_size`` tokens in all, each seen at least ``min_count`` times."""
    counts = Counter(w for s in sentences for w in s)
    if not counts:
        raise DataFormatError("cannot build a vocabulary from an empty corpus (no words)")
    words = [w for w, c in counts.most_common() if c >= min_count and w not in (EOS, UNK)]
    if max_size is not None:
        words = words[:max(0, max_size - 2)]
    return Vocab([EOS, UNK, *words], kind="words", eos=0, unk=1, name="words")


def encode_corpus(sentences: Iterable[Sequence[str]], vocab: Vocab, add_eos: bool = True) -> list[np.ndarray]:
    """Token lists -> int64 id arrays (unknown words -> ``unk``), ``eos`` appended to each."""
    out = []
    for tokens in sentences:
        ids = vocab.encode(tokens)
        if add_eos and vocab.eos is not None:
            ids.append(vocab.eos)
        out.append(np.asarray(ids, dtype=np.int64))
    if not out or sum(len(a) for a in out) == 0:
        raise DataFormatError("the corpus is empty: no sentences to encode")
    return out


def check_ids(ids, vocab_size: int, source="the input") -> None:
    """Raise a DataFormatError naming ``source`` if an id is outside ``[0, vocab_size)``."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return
    if not np.issubdtype(ids.dtype, np.integer):
        raise DataFormatError(f"{source} holds {ids.dtype} values; expected integer token ids")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise DataFormatError(f"{source} holds token id {bad}, outside the vocabulary of {vocab_size} tokens "
                              "(ids 0..{}): the file was made with another vocabulary".format(vocab_size - 1))
