"""Demo speech corpus: exact Kaggle layouts (DATA.md, F24), consistency between the three
layouts, determinism, idempotence, and that the data carry phoneme information."""
import itertools
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from common.demo.speech import (
    DEMO_SIZES,
    PHONEMES,
    layouts,
    resolve_size,
    write_hw1p2,
    write_hw3p2,
    write_hw4p2,
)
from common.demo.speech.lexicon import LEXICON, WORDS_BY_TAG
from common.demo.speech.synth import logmel_to_mfcc

TINY = DEMO_SIZES["tiny"]
SPLITS = ("train-clean-100", "dev-clean", "test-clean")
UID = re.compile(r"^\d+-\d+-\d{4}$")
DATA_MD_PHONEMES = [
    "[SIL]", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
    "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH",
    "UH", "UW", "V", "W", "Y", "Z", "ZH", "[SOS]", "[EOS]"]
HW3_CHARS = set("-Gfm@runiWvUoaRhzkCweZtEyAbpTDcgljOSdYsI")  # DATA.md, blank excluded
TEXT_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ '")


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    return {"hw1": write_hw1p2(base), "hw3": write_hw3p2(base), "hw4": write_hw4p2(base)}


def tree(root: Path) -> dict:
    """{relative folder: sorted file names} of every folder holding files."""
    out = {}
    for dirpath, _, files in os.walk(root):
        if files:
            out[str(Path(dirpath).relative_to(root))] = sorted(files)
    return out


def ids(folder: Path) -> list:
    return [p.stem for p in sorted(folder.glob("*.npy"))]


def answers(split: str, kind: str = "transcript") -> str:
    """Folder of a split's labels: those of test-clean are kept apart, in demo_truth."""
    return f"demo_truth/{split}/{kind}" if split == "test-clean" else f"{split}/{kind}"


def load(root: Path, folder: str, uid: str) -> np.ndarray:
    return np.load(root / folder / f"{uid}.npy")


def collapse(seq) -> list:
    return [s for i, s in enumerate(seq) if i == 0 or s != seq[i - 1]]


# --- constants and lexicon ---------------------------------------------------------------------
def test_phonemes_are_data_md_list_in_order():
    assert PHONEMES == DATA_MD_PHONEMES and len(PHONEMES) == 42


def test_lexicon_covers_every_phoneme_without_duplicates_inside_words():
    used = {p for pron in LEXICON.values() for p in pron}
    assert used == set(PHONEMES[1:40])
    assert len(LEXICON) >= 300
    for word, pron in LEXICON.items():
        assert set(word) <= TEXT_CHARS - {" "}, word
        assert all(a != b for a, b in itertools.pairwise(pron)), word
    assert all(w in LEXICON for ws in WORDS_BY_TAG.values() for w in ws)


def test_sizes():
    assert set(DEMO_SIZES) == {"tiny", "small", "medium"}
    assert resolve_size("small") == DEMO_SIZES["small"]
    trains = [DEMO_SIZES[s]["train"] for s in ("tiny", "small", "medium")]
    assert trains == sorted(trains) and len(set(trains)) == 3
    assert resolve_size(80) == {"train": 80, "dev": 10, "test": 10, "text_for_lm": 160}
    assert resolve_size({"train": 5, "test": 3}) == {"train": 5, "dev": 2, "test": 3,
                                                     "text_for_lm": 10}
    for bad in ("huge", 0, -3, True, 2.5, {"trian": 5}, {"train": 0}, None):
        with pytest.raises(ValueError, match="tiny|train|positive"):
            resolve_size(bad)
    with pytest.raises(ValueError, match="train has at most 60000"):
        resolve_size(60001)
    with pytest.raises(ValueError, match="'medium'.*'small'.*'tiny'"):
        write_hw1p2("/nonexistent-never-written", size="huge")


# --- HW1P2 ---------------------------------------------------------------------------------------
def test_hw1p2_layout(roots):
    root = roots["hw1"]
    assert root.name == "11-785-f24-hw1p2"
    t = tree(root)
    assert set(t) == {".", "train-clean-100/mfcc", "train-clean-100/transcript", "dev-clean/mfcc",
                      "dev-clean/transcript", "test-clean/mfcc", "demo_truth/test-clean/transcript"}
    assert t["."] == ["demo_info.json"]
    for split, n in zip(SPLITS, (TINY["train"], TINY["dev"], TINY["test"])):
        uids = ids(root / split / "mfcc")
        assert len(uids) == n and all(UID.match(u) for u in uids)
        assert ids(root / answers(split)) == uids
        for uid in uids:
            x, y = load(root, f"{split}/mfcc", uid), load(root, answers(split), uid)
            assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 28
            assert np.isfinite(x).all()
            assert y.dtype.kind == "U" and y.shape == (len(x) + 2,)
            assert y[0] == "[SOS]" and y[-1] == "[EOS]"
            assert set(y[1:-1]) <= set(PHONEMES[:40])
            assert y[1] == "[SIL]" and y[-2] == "[SIL]"
    info = json.loads((root / "demo_info.json").read_text())
    assert info["counts"] == TINY and info["seed"] == 0 and info["layout"] == "hw1p2"


def test_hw1p2_utterances_are_speech_like(roots):
    """Frame runs have the durations of the synthesis: long vowels outlast stops, pauses exist."""
    runs = {}
    for p in sorted((roots["hw1"] / "train-clean-100/transcript").glob("*.npy")):
        y = np.load(p)[1:-1]
        cut = np.flatnonzero(y[1:] != y[:-1]) + 1
        for seg in np.split(y, cut):
            runs.setdefault(seg[0], []).append(len(seg))
    mean = {p: np.mean(r) for p, r in runs.items()}
    assert len(runs) >= 35
    assert mean["[SIL]"] > mean["IY"] > mean["IH"]
    assert mean["AY"] > 2 * mean["DH"]
    sil = sum(runs["[SIL]"]) / sum(map(sum, runs.values()))
    assert 0.1 < sil < 0.4


# --- HW3P2 ---------------------------------------------------------------------------------------
def test_hw3p2_layout_and_sequences_match_hw1_frames(roots):
    root, hw1 = roots["hw3"], roots["hw1"]
    assert root.name == "11-785-f24-hw3p2"
    t = tree(root)
    assert set(t) == {".", "train-clean-100/mfcc", "train-clean-100/transcript", "dev-clean/mfcc",
                      "dev-clean/transcript", "test-clean", "test-clean/mfcc",
                      "demo_truth/test-clean/transcript"}
    assert t["test-clean"] == ["random_submission.csv"]
    for split in SPLITS:
        uids = ids(root / split / "mfcc")
        assert uids == ids(root / answers(split)) == ids(hw1 / split / "mfcc")
        for uid in uids:
            x = load(root, f"{split}/mfcc", uid)
            np.testing.assert_array_equal(x, load(hw1, f"{split}/mfcc", uid))
            seq = load(root, answers(split), uid)
            assert seq.dtype.kind == "U" and seq[0] == "[SOS]" and seq[-1] == "[EOS]"
            seq = list(seq[1:-1])
            frames = list(load(hw1, answers(split), uid)[1:-1])
            assert len(seq) < len(frames) == len(x)
            assert collapse(seq) == collapse(frames)
            assert len(seq) >= len(collapse(frames))


def test_hw3p2_random_submission(roots):
    lines = (roots["hw3"] / "test-clean/random_submission.csv").read_text().splitlines()
    assert lines[0] == "index,label"
    assert len(lines) == 1 + TINY["test"]
    for i, line in enumerate(lines[1:]):
        index, label = line.split(",")
        assert int(index) == i and label and set(label) <= HW3_CHARS


# --- HW4P2 ---------------------------------------------------------------------------------------
def test_hw4p2_layout_text_and_features(roots):
    root, hw1, hw3 = roots["hw4"], roots["hw1"], roots["hw3"]
    assert root.name == "hw4p2"
    t = tree(root)
    assert set(t) == {".", "train-clean-100/fbank", "train-clean-100/text", "dev-clean/fbank",
                      "dev-clean/text", "test-clean/fbank", "text-for-LM",
                      "demo_truth/test-clean/text"}
    assert len(t["text-for-LM"]) == TINY["text_for_lm"]
    assert not set(t["text-for-LM"]) & set(t["train-clean-100/text"])
    for split in SPLITS:
        uids = ids(root / split / "fbank")
        assert uids == ids(root / answers(split, "text")) == ids(hw1 / split / "mfcc")
        for uid in uids:
            fbank = load(root, f"{split}/fbank", uid)
            assert fbank.dtype == np.float32 and fbank.ndim == 2 and fbank.shape[1] == 80
            # the same synthesis: HW1's 28 cepstra are the DCT of these 80 bins
            np.testing.assert_allclose(logmel_to_mfcc(fbank), load(hw1, f"{split}/mfcc", uid),
                                       atol=1e-5)
            chars = load(root, answers(split, "text"), uid)
            assert chars.dtype == np.dtype("<U1") and chars.ndim == 1
            sentence = "".join(chars)
            assert set(sentence) <= TEXT_CHARS and sentence == sentence.strip()
            assert "  " not in sentence
            # the words' pronunciations are the HW3 phoneme sequence without its pauses
            seq = [p for p in load(hw3, answers(split), uid)[1:-1] if p != "[SIL]"]
            assert seq == [p for w in sentence.split(" ") for p in LEXICON[w]]
    for p in sorted((root / "text-for-LM").glob("*.npy")):
        chars = np.load(p)
        assert chars.dtype == np.dtype("<U1") and UID.match(p.stem)
        assert all(w in LEXICON for w in "".join(chars).split(" "))


# --- determinism, idempotence, safety --------------------------------------------------------
def file_bytes(root: Path) -> dict:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, roots):
    size = {"train": 6, "dev": 2, "test": 2, "text_for_lm": 4}
    a = file_bytes(write_hw3p2(tmp_path / "a", size, seed=3))
    b = file_bytes(write_hw3p2(tmp_path / "b", size, seed=3))
    c = file_bytes(write_hw3p2(tmp_path / "c", size, seed=4))
    assert a == b
    assert len(a) == 6 * 2 + 2 * 2 + 2 * 2 + 2
    assert set(a) != set(c)  # other speakers and chapters, so other ids
    # utterance i does not depend on how many are asked for: a prefix of the tiny write
    tiny = roots["hw3"]
    d = file_bytes(write_hw3p2(tmp_path / "d", size, seed=0))
    shared = [rel for rel in d if rel.endswith(".npy")]
    assert shared and all((tiny / rel).read_bytes() == d[rel] for rel in shared)


def test_idempotent_and_rewrites_on_other_size(tmp_path):
    root = write_hw1p2(tmp_path, {"train": 4, "dev": 2, "test": 2})
    marker = root / "demo_info.json"
    some = min((root / "train-clean-100/mfcc").glob("*.npy"))
    stamps = (marker.stat().st_mtime_ns, some.stat().st_mtime_ns, some.stat().st_ino)
    os.utime(some, ns=(1, 1))  # anything rewritten would get a fresh mtime
    assert write_hw1p2(tmp_path, {"train": 4, "dev": 2, "test": 2}) == root
    assert marker.stat().st_mtime_ns == stamps[0] and some.stat().st_mtime_ns == 1

    root = write_hw1p2(tmp_path, {"train": 3, "dev": 2, "test": 2})
    assert len(list((root / "train-clean-100/mfcc").glob("*.npy"))) == 3
    assert len(list((root / "train-clean-100/transcript").glob("*.npy"))) == 3
    assert json.loads(marker.read_text())["counts"]["train"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["11-785-f24-hw1p2"]  # nothing left over

    data = json.loads(marker.read_text())
    data["version"] = -1  # an older generator wrote it: rewrite
    marker.write_text(json.dumps(data))
    write_hw1p2(tmp_path, {"train": 3, "dev": 2, "test": 2})
    assert json.loads(marker.read_text())["version"] == layouts.VERSION


def test_interrupted_write_leaves_no_folder_and_foreign_folder_is_kept(tmp_path, monkeypatch):
    fill = layouts._fill_hw1p2

    def broken(root, counts, seed):
        fill(root, counts, seed)
        raise KeyboardInterrupt  # after the data, before the marker

    monkeypatch.setattr(layouts, "_fill_hw1p2", broken)
    with pytest.raises(KeyboardInterrupt):
        write_hw1p2(tmp_path, {"train": 2, "dev": 2, "test": 2})
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    # a temporary folder of a process that died is cleaned up by the next write
    stale = tmp_path / ".11-785-f24-hw1p2.999999999.x.tmp"
    (stale / "train-clean-100").mkdir(parents=True)
    root = write_hw1p2(tmp_path, {"train": 2, "dev": 2, "test": 2})
    assert not stale.exists() and (root / "demo_info.json").exists()

    foreign = tmp_path / "real" / "11-785-f24-hw1p2"
    (foreign / "train-clean-100" / "mfcc").mkdir(parents=True)
    (foreign / "train-clean-100" / "mfcc" / "x.npy").write_bytes(b"real data")
    with pytest.raises(FileExistsError, match="demo_info.json"):
        write_hw1p2(tmp_path / "real", "tiny")
    assert (foreign / "train-clean-100" / "mfcc" / "x.npy").read_bytes() == b"real data"


# --- the data carry phoneme information, and context helps ---------------------------------------
def frames(root: Path, split: str, context: int):
    """Per-utterance CMVN, then windows of 2*context+1 frames (zero padded): (N, D), labels."""
    xs, ys = [], []
    for p in sorted((root / split / "mfcc").glob("*.npy")):
        x = np.load(p)
        x = (x - x.mean(0)) / (x.std(0) + 1e-6)
        xp = np.pad(x, ((context, context), (0, 0)))
        xs.append(np.concatenate([xp[i:i + len(x)] for i in range(2 * context + 1)], axis=1))
        y = np.load(root / split / "transcript" / p.name)[1:-1]
        ys.append(np.array([PHONEMES.index(s) for s in y]))
    return np.concatenate(xs), np.concatenate(ys)


def linear_accuracy(root: Path, context: int) -> float:
    """Ridge regression onto one-hot labels (train), argmax accuracy on dev."""
    x, y = frames(root, "train-clean-100", context)
    xd, yd = frames(root, "dev-clean", context)
    x1, xd1 = np.c_[x, np.ones(len(x))], np.c_[xd, np.ones(len(xd))]
    w = np.linalg.solve(x1.T @ x1 + 10.0 * np.eye(x1.shape[1]), x1.T @ np.eye(40)[y])
    return float(((xd1 @ w).argmax(1) == yd).mean())


@pytest.fixture(scope="module")
def hw1_more(tmp_path_factory):
    """More utterances than tiny, so that the accuracies below vary little with the seed."""
    size = {"train": 120, "dev": 30, "test": 2}
    return write_hw1p2(tmp_path_factory.mktemp("more"), size, seed=1)


def segments(root: Path, split: str):
    """Mean feature vector of each phoneme segment (run of equal frame labels), its label."""
    x, y = frames(root, split, 0)
    starts = np.r_[0, np.flatnonzero(y[1:] != y[:-1]) + 1]
    return np.add.reduceat(x, starts) / np.diff(np.r_[starts, len(y)])[:, None], y[starts]


def test_phoneme_segments_classified_by_class_means(hw1_more):
    """Labels are aligned with the acoustics: the per-phoneme mean vectors (train) classify
    dev segments far above the majority rate (measured 0.61-0.65; 0.26-0.29 when the labels
    are shifted by 4 frames; majority 0.07)."""
    x, y = segments(hw1_more, "train-clean-100")
    xd, yd = segments(hw1_more, "dev-clean")
    classes = np.unique(y)
    assert len(classes) == 40
    means = np.stack([x[y == c].mean(0) for c in classes])
    pred = classes[((xd[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)]
    accuracy, majority = (pred == yd).mean(), np.bincount(yd).max() / len(yd)
    assert accuracy > 0.45 and accuracy > 5 * majority, (accuracy, majority)


def test_context_beats_single_frames(hw1_more):
    """A linear frame classifier: single frames well above the majority rate but ambiguous,
    +-4 frames of context clearly better (measured over seeds: 0.41-0.43 vs 0.52-0.55,
    majority about 0.22)."""
    yd = frames(hw1_more, "dev-clean", 0)[1]
    majority = np.bincount(yd).max() / len(yd)
    single, context = linear_accuracy(hw1_more, 0), linear_accuracy(hw1_more, 4)
    assert majority + 0.12 < single < 0.6, (majority, single)
    assert context > single + 0.07, (single, context)


# --- the readers and vocabularies read what the generator writes ----------------------------------
def test_demo_layouts_load_through_the_readers_and_vocabularies(roots):
    from common.speech.frames import load_frame_store
    from common.layouts import detect_layout
    from common.speech.utterances import load_hw3p2, load_hw4p2, read_lm_text
    from common.vocab import HW1_PHONEMES, HW3_PHONEMES, HW4_CHARS

    assert PHONEMES is HW1_PHONEMES.tokens                                # one table
    assert [detect_layout(roots[k]) for k in ("hw1", "hw3", "hw4")] == ["hw1p2", "hw3p2", "hw4p2"]
    frames = load_frame_store(roots["hw1"], "train-clean-100", context=1, progress=False)
    hw3 = load_hw3p2(roots["hw3"], "train-clean-100", progress=False)
    hw4 = load_hw4p2(roots["hw4"], "train-clean-100", progress=False)
    assert hw3.feature_lengths.tolist() == frames.lengths == hw4.feature_lengths.tolist()
    assert hw3.ids == hw4.ids == frames.utterance_ids
    for i, uid in enumerate(hw3.ids):
        phones = [str(p) for p in load(roots["hw3"], "train-clean-100/transcript", uid)[1:-1]]
        assert HW3_PHONEMES.decode(hw3.targets[i]) == phones
        assert hw4.texts()[i] == "".join(load(roots["hw4"], "train-clean-100/text", uid))
        assert HW4_CHARS.unk not in hw4.targets[i]
    assert len(read_lm_text(roots["hw4"])) == TINY["text_for_lm"]
    lines = (roots["hw3"] / "test-clean/random_submission.csv").read_text().splitlines()[1:]
    for line in lines:
        label = line.split(",")[1]
        assert HW3_PHONEMES.to_string(HW3_PHONEMES.encode_codes(label)) == label
