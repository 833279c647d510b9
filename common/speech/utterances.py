"""Variable-length utterances (HW3P2, HW4P2): a split in one array, bucketing, padded batches.

    train = load_hw3p2(root, "train-clean-100", dtype=np.float16)       # UtteranceStore
    sampler = BucketBatchSampler(train.feature_lengths, max_frames=40_000, seed=0)
    loader = DataLoader(train, batch_sampler=sampler, collate_fn=collate_utterances)
    for epoch in ...: sampler.set_epoch(epoch); for batch in loader: batch = batch.to(device)

Memory: a split is ONE preallocated (total_frames, D) array plus offsets, sized from the file
headers before anything is read, never a list of arrays concatenated at the end (which needs
twice the memory). The full train-clean-100 (28,539 utterances, 100.6 h = ~36.2M frames of 10 ms):
    28 dims (HW3P2 mfcc):   float32 4.0 GB, float16 2.0 GB
    80 dims (HW4P2 fbank):  float32 11.6 GB (does not fit next to Python and torch in Colab's
                            12 GB), float16 5.8 GB (fits)
so HW4P2 on Colab uses ``dtype=np.float16``; ``load_*`` refuses (MemoryError naming the fix)
when the array would take more than 90% of the memory available.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from common.vocab import HW3_PHONEMES, HW4_CHARS

from .batching import BucketBatchSampler, SpeechBatch, collate_utterances, padding_fraction
from .io import check_float_features, check_split_dims, feature_shapes, read_symbols, split_files, utterance_files
from common.layouts import DataFormatError, LAYOUTS, locate_data_root, require_dir
from .io import cmvn as utterance_cmvn

__all__ = ["UtteranceStore", "Utterance", "load_hw3p2", "load_hw4p2", "read_text", "read_lm_text",
           "GlobalCMVN", "BucketBatchSampler", "SpeechBatch", "collate_utterances", "padding_fraction"]


class Utterance(tuple):
    """``(features (T, D) float32, target (L,) int64 | None)`` with the utterance id as ``.id``."""

    def __new__(cls, features, target, uid: str = ""):
        item = super().__new__(cls, (features, target))
        item.id = uid
        return item

    def __getnewargs__(self):  # pickling (DataLoader workers)
        return (self[0], self[1], self.id)


@dataclass
class UtteranceStore:
    """One split: every utterance's features back to back in one array, plus offsets.

    Utterance ``i`` is ``features[offsets[i]:offsets[i + 1]]``; ``targets[i]`` its token ids
    (no sos/eos), None for a test split. ``store[i]`` -> Utterance (features, target) as tensors.
    """
    ids: list[str]
    features: np.ndarray                  # (total_frames, D) float32 | float16
    offsets: np.ndarray                   # (N + 1,) int64
    targets: list[np.ndarray] | None = None
    vocab: object = None
    cmvn_stats: GlobalCMVN | None = None  # the global statistics applied (to reuse on dev/test)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    @property
    def feature_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def target_lengths(self) -> np.ndarray | None:
        return None if self.targets is None else np.array([len(t) for t in self.targets], dtype=np.int64)

    def __getitem__(self, i) -> Utterance:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"utterance {i} of {len(self)}")
        i %= len(self)
        x = torch.from_numpy(np.asarray(self.features[self.offsets[i]:self.offsets[i + 1]], dtype=np.float32))
        y = None if self.targets is None else torch.from_numpy(self.targets[i])
        return Utterance(x, y, self.ids[i])

    def texts(self) -> list[str]:
        """The targets as strings (``vocab.to_string``)."""
        if self.targets is None or self.vocab is None:
            raise ValueError("this store has no targets (test split) or no vocabulary")
        return [self.vocab.to_string(t) for t in self.targets]


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _allocate(total: int, dim: int, dtype, where) -> np.ndarray:
    need = total * dim * np.dtype(dtype).itemsize
    free = _available_memory()
    if free is not None and need > 0.9 * free and os.environ.get("IDL_SKIP_MEMORY_CHECK") != "1":
        raise MemoryError(f"{where}: {total:,} frames x {dim} as {np.dtype(dtype).name} need "
                          f"{need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB available: use "
                          "dtype=np.float16 (half), or max_utterances")
    return np.empty((total, dim), dtype=dtype)


def _fill(files, lengths, dim, dtype, read, cmvn, stats, desc, progress):
    """Read every utterance (``read(f) -> (T, D) float32``) into one preallocated array.
    Returns (features, offsets, the global statistics applied or None)."""
    if cmvn not in ("utterance", "global", None):
        raise ValueError(f"cmvn must be 'utterance', 'global' or None, got {cmvn!r}")
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    features = _allocate(int(offsets[-1]), dim, dtype, files[0].parent)
    fitting = GlobalCMVN() if cmvn == "global" and stats is None else None
    for f, a, b in zip(tqdm(files, desc=desc, disable=not progress, leave=False, mininterval=2.0),
                       offsets[:-1], offsets[1:]):
        x = read(f)
        if fitting is not None:
            fitting.update(x)
        elif cmvn == "global":
            x = stats.apply(x)
        elif cmvn == "utterance":
            x = utterance_cmvn(x)
        features[a:b] = x
        if not np.isfinite(features[a:b]).all():
            raise DataFormatError(f"{f} contains NaN or inf after loading (a corrupt file, or float16 "
                                  "overflow of unnormalised features: use cmvn or float32)")
    if fitting is not None:                      # normalise in place, in chunks (no full temporary)
        stats = fitting
        for a in range(0, len(features), 1 << 20):
            features[a:a + (1 << 20)] = stats.apply(features[a:a + (1 << 20)].astype(np.float32))
    return features, offsets, (stats if cmvn == "global" else None)


def load_hw3p2(root, split: str, *, vocab=HW3_PHONEMES, dtype=np.float32, cmvn="utterance",
               stats: GlobalCMVN | None = None, labels: bool | None = None,
               max_utterances: int | None = None, progress: bool = True) -> UtteranceStore:
    """``root/split/mfcc/*.npy`` (T, 27|28) and ``transcript/*.npy`` ([SOS] phonemes [EOS]).

    Targets are ``vocab`` ids without [SOS]/[EOS]. ``labels`` None: read transcripts unless a
    test split has none. ``cmvn``: "utterance" (per-utterance mean/variance), "global"
    (``stats``, or fitted on this split when None) or None. Raises DataFormatError naming the
    file and the fix for every layout problem (see ``common.speech.io``).
    """
    root, files, transcripts = split_files(root, "hw3p2", split, labels, max_utterances)
    shapes = feature_shapes(files)
    dim = shapes[0][1]
    check_split_dims(root, split, dim)
    targets = None if transcripts is None else [read_symbols(t, vocab) for t in transcripts]
    if targets is not None:
        _refuse_frame_labels(transcripts, targets, [t for t, _ in shapes])
    features, offsets, stats = _fill(files, [t for t, _ in shapes], dim, dtype,
                                     lambda f: np.load(f).astype(np.float32), cmvn, stats,
                                     f"loading {split}", progress)
    return UtteranceStore([f.stem for f in files], features, offsets, targets, vocab, stats)


def _refuse_frame_labels(transcripts, targets, frames) -> None:
    """A transcript with one label per frame is HW1P2's frame-level labelling, not an HW3P2 phoneme
    sequence (about one phoneme per 8 frames): CTC cannot align it after any time reduction, and
    ``zero_infinity`` would silently zero its loss. Refused, naming the files."""
    bad = [(path, len(t)) for path, t, n in zip(transcripts, targets, frames) if len(t) == n]
    if bad:
        shown = ", ".join(f"{p} ({n} labels for {n} frames)" for p, n in bad[:3])
        raise DataFormatError(
            f"{len(bad)} of {len(targets)} transcripts have one label per frame, as HW1P2's frame-level transcripts "
            f"do ({shown}{', ...' if len(bad) > 3 else ''}); HW3P2 transcripts are the phoneme sequence, about one "
            "phoneme per 8 frames, and CTC cannot align one label per frame. Were HW1P2 files copied into the HW3P2 "
            "folder? Re-download the HW3P2 data (`kaggle competitions download -c hw3p2-785-f24`)")


# ---------------------------------------------------------------------------------------------
def _fbank_orientation(files, shapes, n_mels: int) -> bool:
    """True when the split stores (n_mels, T) (S25), False for (T, n_mels) (F24)."""
    transposed = None
    for f, (a, b) in zip(files, shapes):
        if n_mels not in (a, b):
            raise DataFormatError(f"{f} has shape {(a, b)}: no axis of {n_mels} mel bins (F24 stores "
                                  f"(T, {n_mels}), S25 ({n_mels}, T)); is this the HW4P2 fbank folder?")
        if a == b:
            continue                                  # T == n_mels: either way
        here = a == n_mels
        if transposed is None:
            transposed, first = here, f
        elif here != transposed:
            raise DataFormatError(f"{f} is stored as {'(80, T)' if here else '(T, 80)'} but {first} "
                                  f"as {'(80, T)' if transposed else '(T, 80)'}: folders of two terms "
                                  "mixed? re-download the data into one folder")
    return bool(transposed)


_TEXT_MARKERS = ("<|endoftext|>", "<sos>", "<eos>", "[SOS]", "[EOS]")


def read_text(path) -> str:
    """One HW4P2 transcript: a string array (0-d, or 1-D characters '<U1' (S25) or words) -> text.
    Start/end markers at the ends are stripped; one inside the text is an error."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"transcript {path} is missing (every fbank file needs one with the same name)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataFormatError(f"{path} is not an array of characters ({err}); re-download the data") from err
    if arr.dtype.kind != "U" or arr.ndim > 1:
        raise DataFormatError(f"{path} holds {arr.dtype} {arr.shape}, not the characters of a transcript; "
                              "is a feature file in the text folder? re-download the data")
    parts = [str(arr.item())] if arr.ndim == 0 else [str(s) for s in arr]
    while parts and parts[0] in _TEXT_MARKERS:
        parts = parts[1:]
    while parts and parts[-1] in _TEXT_MARKERS:
        parts = parts[:-1]
    text = "".join(parts) if all(len(p) <= 1 for p in parts) else " ".join(parts)
    stripped = None
    while stripped != text:                      # markers glued to the ends of one string
        stripped = text
        for marker in _TEXT_MARKERS:
            text = text.removeprefix(marker).removesuffix(marker)
    for marker in _TEXT_MARKERS:
        if marker in text:
            raise DataFormatError(f"{path} has {marker!r} inside the transcript, not only at its ends: "
                                  "two transcripts joined? re-download the data or remove the marker")
    if not text.strip():
        raise DataFormatError(f"{path} is an empty transcript; delete the utterance (its fbank and text "
                              "files) or re-download the data")
    return text


def _encode_text(path, text: str, vocab) -> np.ndarray:
    if vocab.kind == "chars":
        unknown = sorted({c for c in text if c not in vocab.index})
        if unknown:
            hint = " (transcripts are upper case: use text.upper())" if any(c.islower() for c in unknown) else ""
            raise DataFormatError(f"{path} contains symbols outside the {vocab.name or 'character'} "
                                  f"vocabulary: {unknown}{hint}")
    return np.asarray(vocab.encode_text(text), dtype=np.int64)


def load_hw4p2(root, split: str, *, vocab=HW4_CHARS, dtype=np.float32, cmvn="global",
               stats: GlobalCMVN | None = None, labels: bool | None = None, n_mels: int = 80,
               max_utterances: int | None = None, progress: bool = True) -> UtteranceStore:
    """``root/split/fbank/*.npy`` ((T, 80) F24 or (80, T) S25, detected) and ``text/*.npy``.

    ``cmvn="global"`` with ``stats=None`` fits the statistics on this split (do that on
    train-clean-100, then pass ``store.cmvn_stats`` to dev and test; with float16 and no
    ``stats`` the raw features are held in float16 before they are normalised in place, a
    relative error of about 1e-3). Targets are ``vocab``
    ids without sos/eos; a symbol outside a character vocabulary is an error naming the file.
    """
    root, files, texts = split_files(root, "hw4p2", split, labels, max_utterances)
    shapes = [tuple(s) for s in _shapes_2d(files)]
    transposed = _fbank_orientation(files, shapes, n_mels)
    check_split_dims(root, split, n_mels, "fbank", lambda s: n_mels if n_mels in s else s[-1])
    lengths = [b if transposed else a for a, b in shapes]
    if min(lengths) == 0:
        raise DataFormatError(f"{files[lengths.index(0)]} is an empty utterance (0 frames); delete it "
                              "and its transcript, or re-download the data")
    targets = None if texts is None else [_encode_text(t, read_text(t), vocab) for t in texts]

    def read(f):
        x = np.load(f).astype(np.float32)
        return x.T if transposed else x

    features, offsets, stats = _fill(files, lengths, n_mels, dtype, read, cmvn, stats,
                                     f"loading {split}", progress)
    return UtteranceStore([f.stem for f in files], features, offsets, targets, vocab, stats)


def _shapes_2d(files) -> list[tuple[int, int]]:
    """Shapes of 2-D feature files from their headers (either orientation: HW4P2 F24 or S25)."""
    shapes = []
    for f in files:
        try:
            arr = np.load(f, mmap_mode="r")
        except Exception as err:
            raise DataFormatError(f"{f} is not a readable .npy file ({err}); re-download the data") from err
        if arr.ndim != 2:
            raise DataFormatError(f"{f} has shape {arr.shape}; expected (frames, 80) or (80, frames)")
        check_float_features(f, arr)
        shapes.append(arr.shape)
    return shapes


def read_lm_text(root, *, splits=(), on_invalid: str | None = "normalize") -> list[str]:
    """The transcripts of ``root/text-for-LM/*.npy`` (sorted), then those of ``splits``
    (e.g. ``("train-clean-100",)``: the training text added for language-model pretraining).

    ``on_invalid``: "normalize" (default) makes every text the course's text (upper case A-Z, space,
    apostrophe: what the speech transcripts must be) and prints what changed, in which files, instead
    of letting lower-case or accented letters become ``<|unknown|>``; "error" refuses the first file with
    another character, naming it; None: the texts as they are (``common.text.normalize``).
    """
    root = locate_data_root(root, "hw4p2")
    files = utterance_files(require_dir(root / "text-for-LM", LAYOUTS["hw4p2"].hint(root)))
    for split in splits:
        files += utterance_files(root / split / "text", hint=LAYOUTS["hw4p2"].hint(root))
    texts = [read_text(f) for f in files]
    if on_invalid is None:
        return texts
    from common.text.normalize import normalize_texts   # here: common.text imports this module's readers

    texts, report = normalize_texts(texts, [f"{f.parent.parent.name}/{f.parent.name}/{f.name}" for f in files],
                                    on_invalid=on_invalid)
    if report.n_changed or report.dropped_texts:
        print(report.summary(f"{root} language-model text"))
    return texts


# ---------------------------------------------------------------------------------------------
class _either:
    """``GlobalCMVN.fit(x)`` and ``GlobalCMVN().fit(x)`` both work."""

    def __init__(self, fn):
        self.fn = fn

    def __get__(self, obj, cls):
        return self.fn.__get__(obj if obj is not None else cls(), cls)


class GlobalCMVN:
    """Mean and standard deviation of every feature dim over a whole training set, streamed
    (Chan et al.'s parallel update in float64: no copy of the data, no cancellation)."""

    def __init__(self, mean=None, std=None, eps: float = 1e-8):
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)
        self.eps, self.count, self._m2 = eps, 0, None

    def update(self, x) -> GlobalCMVN:
        x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        n = len(x)
        if n == 0:
            return self
        mean, m2 = x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).sum(axis=0)
        if self.count == 0:
            self.mean, self._m2 = mean, m2
        else:
            total = self.count + n
            delta = mean - self.mean
            self.mean = self.mean + delta * n / total
            self._m2 = self._m2 + m2 + delta ** 2 * self.count * n / total
        self.count += n
        self.std = np.sqrt(self._m2 / self.count)
        return self

    @_either
    def fit(self, data, chunk: int = 1 << 20) -> GlobalCMVN:
        """Statistics of an UtteranceStore, a (N, D) array, or an iterable of (T, D) arrays."""
        if isinstance(data, UtteranceStore):
            data = data.features
        if isinstance(data, np.ndarray):
            for a in range(0, len(data), chunk):
                self.update(data[a:a + chunk])
        else:
            for x in data:
                self.update(x)
        return self

    def apply(self, x):
        """(..., D) numpy array or tensor -> normalised (float32)."""
        if self.mean is None:
            raise ValueError("GlobalCMVN has no statistics yet: fit it on the training set first")
        if torch.is_tensor(x):
            mean = torch.as_tensor(self.mean, dtype=torch.float32, device=x.device)
            std = torch.as_tensor(self.std, dtype=torch.float32, device=x.device)
            return (x.float() - mean) / (std + self.eps)
        return ((np.asarray(x, dtype=np.float32) - self.mean.astype(np.float32))
                / (self.std.astype(np.float32) + self.eps))

    def state_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "eps": self.eps, "count": self.count}

    @classmethod
    def from_state_dict(cls, d: dict) -> GlobalCMVN:
        out = cls(d["mean"], d["std"], d.get("eps", 1e-8))
        out.count = d.get("count", 0)
        return out

