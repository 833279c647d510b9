"""Vocabularies of the course's speech tasks: one object per task instead of copied tables.

    from .vocab import HW1_PHONEMES, HW3_PHONEMES, HW4_CHARS
    HW3_PHONEMES.encode(["[SIL]", "HH", "AH"])        # [1, 16, 26]
    HW3_PHONEMES.to_string([1, 16, 26, 1])           # '-hA-' (the submission's one-char codes)
    HW4_CHARS.encode_text("HI THERE")                # [10, 11, 29, 22, ...]
    HW4_CHARS.decode_batch(ids, lengths)             # (B, L) tensor -> list of token lists

The tables are those of DATA.md (course's fixed orders): HW1P2's 42 phonemes (40 classes,
then [SOS], [EOS]), HW3P2's CTC order (blank at 0) with one-character submission codes, and
HW4P2's F24 characters. A ``Vocab`` is saved inside checkpoints with ``state_dict()``.
NumPy/torch-free apart from ``decode_batch`` accepting tensors.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["Vocab", "SubwordTokenizer", "HW1_PHONEMES", "HW3_PHONEMES", "HW4_CHARS"]

_KINDS = ("symbols", "chars", "words", "subword")
_SPECIALS = ("blank", "pad", "sos", "eos", "unk")


class Vocab:
    """Tokens with fixed ids and their special ids (None where the vocabulary has none).

    kind: "symbols" (phonemes; ``to_string`` joins ``codes`` or spaces), "chars" (``to_string``
    joins the characters) or "words" (space-joined). ``codes``: one submission character per
    token (HW3P2). Unknown symbols map to ``unk`` when there is one, else raise a ValueError
    naming the symbol.
    """

    def __init__(self, tokens: Sequence[str], *, kind: str = "symbols", codes: Sequence[str] | None = None,
                 blank: int | None = None, pad: int | None = None, sos: int | None = None,
                 eos: int | None = None, unk: int | None = None, name: str = ""):
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        self.tokens = [str(t) for t in tokens]
        if len(set(self.tokens)) != len(self.tokens):
            dup = sorted({t for t in self.tokens if self.tokens.count(t) > 1})
            raise ValueError(f"vocabulary {name!r} has duplicate tokens {dup}")
        if codes is not None:
            codes = [str(c) for c in codes]
            if len(codes) != len(self.tokens) or len(set(codes)) != len(codes):
                raise ValueError(f"codes must be {len(self.tokens)} distinct strings, one per token")
        self.codes = codes
        self.kind, self.name = kind, name
        self.blank, self.pad, self.sos, self.eos, self.unk = blank, pad, sos, eos, unk
        for special in _SPECIALS:
            i = getattr(self, special)
            if i is not None and not 0 <= i < len(self.tokens):
                raise ValueError(f"{special} id {i} is outside the vocabulary of {len(self.tokens)}")
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self._code_index = {c: i for i, c in enumerate(codes)} if codes is not None else None

    # -- sizes and lookups ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token) -> bool:
        return token in self.index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.state_dict() == other.state_dict()

    def __hash__(self):
        return hash((self.kind, tuple(self.tokens)))

    def __repr__(self) -> str:
        specials = ", ".join(f"{s}={getattr(self, s)}" for s in _SPECIALS if getattr(self, s) is not None)
        return f"Vocab({self.name or self.kind}: {len(self)} tokens{', ' if specials else ''}{specials})"

    @property
    def special_ids(self) -> set[int]:
        """Ids of blank, pad, sos, eos (not unk: an unknown symbol is still a symbol)."""
        return {i for i in (self.blank, self.pad, self.sos, self.eos) if i is not None}

    # -- encoding ------------------------------------------------------------------------------
    def encode(self, symbols: Iterable[str]) -> list[int]:
        """Symbols -> ids; an unknown symbol becomes ``unk`` or raises a ValueError naming it."""
        ids = []
        for s in symbols:
            i = self.index.get(str(s))
            if i is None:
                if self.unk is None:
                    raise ValueError(f"unknown symbol {str(s)!r} for the {self.name or self.kind} "
                                     f"vocabulary; known: {' '.join(self.tokens)}")
                i = self.unk
            ids.append(i)
        return ids

    def encode_text(self, text: str) -> list[int]:
        """Text -> ids: characters for a "chars" vocabulary, whitespace-separated symbols
        (words, phonemes) otherwise."""
        if self.kind == "chars":
            return self.encode(text)
        return self.encode(text.split())

    def encode_codes(self, string: str) -> list[int]:
        """A submission string of one-character codes (HW3P2, e.g. '-hA-') -> ids."""
        if self._code_index is None:
            raise ValueError(f"the {self.name or self.kind} vocabulary has no one-character codes")
        try:
            return [self._code_index[c] for c in string]
        except KeyError as err:
            raise ValueError(f"unknown code {err.args[0]!r} in {string!r}; codes: "
                             f"{''.join(self.codes)!r}") from None

    # -- decoding ------------------------------------------------------------------------------
    def _ids(self, ids) -> list[int]:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return [int(i) for i in ids]

    def decode(self, ids, strip_special: bool = True) -> list[str]:
        """Ids -> tokens. With ``strip_special``: a leading sos is dropped, the sequence ends at
        the first eos, and blank/pad ids are removed (CTC collapsing is the decoder's job)."""
        ids = self._ids(ids)
        if strip_special:
            if self.sos is not None and ids and ids[0] == self.sos:
                ids = ids[1:]                  # sos = eos (HW4): a leading one is the start
            if self.eos is not None and self.eos in ids:
                ids = ids[:ids.index(self.eos)]
            special = self.special_ids
            ids = [i for i in ids if i not in special]
        for i in ids:
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside the vocabulary of {len(self.tokens)} tokens")
        return [self.tokens[i] for i in ids]

    def decode_batch(self, ids, lengths=None) -> list[list[str]]:
        """(B, L) ids (tensor or nested lists) and optional (B,) lengths -> B token lists."""
        rows = ids.tolist() if hasattr(ids, "tolist") else [list(r) for r in ids]
        lens = self._ids(lengths) if lengths is not None else [len(r) for r in rows]
        return [self.decode(r[:n]) for r, n in zip(rows, lens)]

    def to_string(self, ids) -> str:
        """Ids -> the submission string: one-char codes joined (HW3), characters joined (HW4),
        words or code-less symbols joined by spaces."""
        tokens = self.decode(ids)
        if self.codes is not None:
            return "".join(self.codes[self.index[t]] for t in tokens)
        if self.kind == "chars":
            return "".join(tokens)
        return " ".join(tokens)

    # -- persistence ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        d = {"format": "idl-vocab", "version": 1, "kind": self.kind, "name": self.name,
             "tokens": list(self.tokens), "codes": None if self.codes is None else list(self.codes)}
        d.update({s: getattr(self, s) for s in _SPECIALS})
        return d

    @classmethod
    def from_state_dict(cls, d: dict) -> Vocab:
        if not isinstance(d, dict) or d.get("format") not in ("idl-vocab", "idl-subword"):
            raise ValueError("not a vocabulary state_dict (expected format 'idl-vocab' or 'idl-subword')")
        if d["format"] == "idl-subword":
            return SubwordTokenizer.from_state_dict(d)
        return Vocab(d["tokens"], kind=d["kind"], codes=d.get("codes"), name=d.get("name", ""),
                     **{s: d.get(s) for s in _SPECIALS})


# ---------------------------------------------------------------------------------------------
# DATA.md, HW1P2: label = index; 40 real classes, then [SOS], [EOS].
HW1_PHONEMES = Vocab(
    ["[SIL]", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
     "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH",
     "UH", "UW", "V", "W", "Y", "Z", "ZH", "[SOS]", "[EOS]"],
    sos=40, eos=41, name="HW1P2 phonemes")

# DATA.md, HW3P2: the course's fixed CTC order, blank "" at 0, and one submission character each.
_HW3 = [("", " "), ("[SIL]", "-"), ("NG", "G"), ("F", "f"), ("M", "m"), ("AE", "@"), ("R", "r"),
        ("UW", "u"), ("N", "n"), ("IY", "i"), ("AW", "W"), ("V", "v"), ("UH", "U"), ("OW", "o"),
        ("AA", "a"), ("ER", "R"), ("HH", "h"), ("Z", "z"), ("K", "k"), ("CH", "C"), ("W", "w"),
        ("EY", "e"), ("ZH", "Z"), ("T", "t"), ("EH", "E"), ("Y", "y"), ("AH", "A"), ("B", "b"),
        ("P", "p"), ("TH", "T"), ("DH", "D"), ("AO", "c"), ("G", "g"), ("L", "l"), ("JH", "j"),
        ("OY", "O"), ("SH", "S"), ("D", "d"), ("AY", "Y"), ("S", "s"), ("IH", "I")]
HW3_PHONEMES = Vocab([t for t, _ in _HW3], codes=[c for _, c in _HW3], blank=0, name="HW3P2 phonemes")

# DATA.md, HW4P2 (F24): <|endoftext|> starts and ends, then padding, unknown, A..Z, space, "'".
HW4_CHARS = Vocab(["<|endoftext|>", "<|padding|>", "<|unknown|>",
                   *[chr(c) for c in range(ord("A"), ord("Z") + 1)], " ", "'"],
                  kind="chars", sos=0, eos=0, pad=1, unk=2, name="HW4P2 characters")


# ---------------------------------------------------------------------------------------------
class SubwordTokenizer(Vocab):
    """Optional HW4 subword vocabulary: byte-pair encoding trained on transcripts with the
    ``tokenizers`` package (``pip install tokenizers``), ``vocab_size`` a parameter.

    Same interface as ``Vocab`` (``encode_text``, ``decode``, ``to_string``, ``state_dict``)
    and the same special tokens as HW4_CHARS at the same ids: sos = eos = 0, pad 1, unk 2.
    Words are marked by a leading "▁" (metaspace), so ``to_string`` restores the spaces.
    """

    SPECIAL_TOKENS = ("<|endoftext|>", "<|padding|>", "<|unknown|>")

    def __init__(self, tokenizer_json: str):
        tok = _tokenizers().Tokenizer.from_str(tokenizer_json)
        vocab = tok.get_vocab(with_added_tokens=True)
        tokens = [None] * len(vocab)
        for t, i in vocab.items():
            tokens[i] = t
        super().__init__(tokens, kind="subword", sos=0, eos=0, pad=1, unk=2, name="HW4P2 subwords")
        self._tok, self._json = tok, tokenizer_json

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 1000, *, min_frequency: int = 2) -> SubwordTokenizer:
        """Learn ``vocab_size`` subwords (specials and every character included) from ``texts``."""
        tk = _tokenizers()
        tok = tk.Tokenizer(tk.models.BPE(unk_token=cls.SPECIAL_TOKENS[2]))
        tok.pre_tokenizer = tk.pre_tokenizers.Metaspace()
        tok.decoder = tk.decoders.Metaspace()
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                         special_tokens=list(cls.SPECIAL_TOKENS), show_progress=False)
        tok.train_from_iterator(list(texts), trainer=trainer)
        return cls(tok.to_str())

    def encode_text(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def to_string(self, ids) -> str:
        tokens = self.decode(ids)
        return self._tok.decode([self.index[t] for t in tokens], skip_special_tokens=False).strip()

    def state_dict(self) -> dict:
        return {"format": "idl-subword", "version": 1, "tokenizer_json": self._json}

    @classmethod
    def from_state_dict(cls, d: dict) -> SubwordTokenizer:
        return cls(d["tokenizer_json"])


def _tokenizers():
    try:
        import tokenizers
    except ImportError as err:  # optional dependency
        raise ImportError("SubwordTokenizer needs the `tokenizers` package: pip install tokenizers "
                          "(or use HW4_CHARS, the character vocabulary)") from err
    return tokenizers
