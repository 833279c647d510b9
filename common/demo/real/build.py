"""Write the real-speech set: the Kaggle layouts of HW4P2, HW3P2 and HW1P2 (DATA.md) under one folder.

    data/real/
      hw4p2/                     train-clean-100/{fbank,text}/  dev-clean/{fbank,text}/  test-clean/fbank/
                                 text-for-LM/   (the training prompts' text and prompts without a recording)
      11-785-f24-hw3p2/          train-clean-100/{mfcc,transcript}/  dev-clean/...  test-clean/mfcc/
                                 test-clean/random_submission.csv
      11-785-f24-hw1p2/          train-clean-100/{mfcc,transcript}/  dev-clean/...  test-clean/mfcc/
                                 (transcript: '[SOS]', one phoneme per frame, '[EOS]')
      <each>/demo_truth/test-clean/{text,transcript}/   the test answers, where no reader looks (as common.demo)
      <each>/real_info.json      counts, minutes, what was dropped and why (written last)

HW1P2's frame labels come from a **forced alignment** of each utterance's known CMUdict transcript
to its frames (``align.py``: flat-start Viterbi training of a small MLP/HMM aligner on all the set's
utterances; left to right, every phoneme at least 3 frames, an optional pause between words). The
transcript fixes what is said and in which order; the aligner decides only where each phoneme starts.
The same aligner, given only the words of the synthetic demo corpus, is scored against that corpus's
true frame labels in every build, and ``real_info.json`` records the figures (``labels``). The MFCC
are those of the HW3P2 layout (the same utterances).

Each layout has its own marker key, so a set built before the HW1P2 layout existed gains it without
rewriting (or disturbing readers of) the two others.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.demo.speech.layouts import marker_matches
from common.engine.files import atomic_folder
from common.vocab import HW1_PHONEMES, HW3_PHONEMES

from .features import HOP_LENGTH, SAMPLE_RATE, log_mel, mfcc, read_audio
from .phonemes import Lexicon
from .source import PROMPTS_FILE, SOUNDS_DIR, read_prompts
from .split import SPLITS, assign_splits
from .text import normalize

VERSION = 1            # of the HW4P2 and HW3P2 layouts
HW1_VERSION = 2        # of the HW1P2 layout (the aligner's settings)
MARKER = "real_info.json"
TRUTH = "demo_truth"
HW4_FOLDER, HW3_FOLDER, HW1_FOLDER = "hw4p2", "11-785-f24-hw3p2", "11-785-f24-hw1p2"
ALIGN_CHECK_UTTERANCES = 300   # synthetic demo utterances the aligner is scored on (about the real set's frames)
LICENCE = "CC-BY-SA-3.0 (Asterisk core sounds, Digium; voice of Allison Smith)"


def _save(folder: Path, uid: str, array: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{uid}.npy", array)


def collect(prompts_file=PROMPTS_FILE, sounds_dir=SOUNDS_DIR, limit: int | None = None, lexicon=None):
    """Everything the writers need, computed once: (utterances, dropped, lm_texts).

    utterances: dicts uid, name, text (HW4 characters), phones (HW3 transcript or None),
    words (the phonemes of each word, or None), missing (words not in CMUdict), split, fbank (T, 80),
    seconds. ``limit``: the first prompts
    only (tests). dropped: {reason: [names]}.
    """
    lexicon = lexicon or Lexicon()
    prompts, no_text = read_prompts(prompts_file, sounds_dir)
    if limit is not None:
        prompts = prompts[:limit]
    dropped = {"no recording": [], "non-speech description": [], "recording without a transcript": no_text}
    kept, lm_texts = [], []
    for p in prompts:
        text = normalize(p.text)
        if text is None:
            dropped["non-speech description"].append(p.name)
        elif p.wav is None:
            dropped["no recording"].append(p.name)
            lm_texts.append((p.uid, text))          # text without audio: language-model text only
        else:
            kept.append((p, text))
    splits = assign_splits({p.uid: text for p, text in kept})
    utterances = []
    for p, text in kept:
        phones, missing = lexicon.transcript(text)
        samples = read_audio(p.wav)
        words = [lexicon.word(w) for w in text.split()] if phones is not None else None
        utterances.append({"uid": p.uid, "name": p.name, "text": text, "phones": phones, "words": words,
                           "missing": missing,
                           "split": splits[p.uid], "fbank": log_mel(samples),
                           "seconds": len(samples) / SAMPLE_RATE})
    lm_texts += [(u["uid"], u["text"]) for u in utterances if u["split"] == SPLITS[0]]
    return utterances, dropped, sorted(lm_texts)


def _split_stats(utterances) -> dict:
    stats = {}
    for split in SPLITS:
        us = [u for u in utterances if u["split"] == split]
        stats[split] = {"utterances": len(us), "frames": int(sum(len(u["fbank"]) for u in us)),
                        "minutes": round(sum(u["seconds"] for u in us) / 60, 2)}
    return stats


def _truth_or_split(root: Path, split: str, folder: str) -> Path:
    return root / (f"{TRUTH}/{split}" if split == SPLITS[2] else split) / folder


def write_hw4p2(root: Path, utterances, dropped, lm_texts) -> dict:
    for u in utterances:
        _save(root / u["split"] / "fbank", u["uid"], u["fbank"])
        _save(_truth_or_split(root, u["split"], "text"), u["uid"], np.array(list(u["text"]), dtype="<U1"))
    for uid, text in lm_texts:
        _save(root / "text-for-LM", uid, np.array(list(text), dtype="<U1"))
    return {"splits": _split_stats(utterances), "text-for-LM": len(lm_texts),
            "dropped": {k: len(v) for k, v in dropped.items()}, "dropped_names": dropped}


def write_hw3p2(root: Path, utterances, dropped) -> dict:
    usable = [u for u in utterances if u["phones"] is not None]
    out_of_dictionary = sorted({w for u in utterances for w in u["missing"]})
    for u in usable:
        _save(root / u["split"] / "mfcc", u["uid"], mfcc(u["fbank"]))
        _save(_truth_or_split(root, u["split"], "transcript"), u["uid"], np.array(u["phones"]))
    rng = np.random.default_rng(0)
    codes = list("".join(HW3_PHONEMES.codes[1:]))
    rows = ["index,label"] + [f"{i}," + "".join(rng.choice(codes, size=int(rng.integers(3, 20))))
                              for i in range(sum(u["split"] == SPLITS[2] for u in usable))]
    (root / SPLITS[2]).mkdir(parents=True, exist_ok=True)
    (root / SPLITS[2] / "random_submission.csv").write_text("\n".join(rows) + "\n")
    dropped = {**dropped, "word not in CMUdict": [u["name"] for u in utterances if u["phones"] is None]}
    return {"splits": _split_stats(usable), "dropped": {k: len(v) for k, v in dropped.items()},
            "dropped_names": dropped, "out_of_dictionary_words": out_of_dictionary}


def write_hw1p2(root: Path, utterances, dropped, log=print, check_utterances: int = ALIGN_CHECK_UTTERANCES) -> dict:
    """MFCC and forced-aligned frame labels of the utterances that have a CMUdict transcript."""
    import time

    from . import align
    usable = [u for u in utterances if u["phones"] is not None]
    features = [mfcc(u["fbank"]) for u in usable]
    index = HW1_PHONEMES.index
    t0 = time.perf_counter()
    alignments = align.align_corpus(features, [[[index[p] for p in w] for w in u["words"]] for u in usable],
                                    seed=0, log=log)
    seconds = time.perf_counter() - t0
    pause_frames, quiet = 0, []
    for u, x, a in zip(usable, features, alignments):
        quiet.append(a.labels[x[:, 0] <= np.quantile(x[:, 0], 0.1)] == align.SIL)     # c0: the frame's energy
        labels = [HW1_PHONEMES.tokens[c] for c in a.labels]
        _save(root / u["split"] / "mfcc", u["uid"], x)
        _save(_truth_or_split(root, u["split"], "transcript"), u["uid"], np.array(["[SOS]", *labels, "[EOS]"]))
        pause_frames += int(np.isin(a.unit_path, np.flatnonzero(a.optional)).sum())
    frames = sum(len(x) for x in features)
    labels = np.concatenate([a.labels for a in alignments])
    log(f"   scoring the aligner on {check_utterances} synthetic demo utterances with known frame labels")
    check = align.alignment_check(check_utterances, seed=0)
    dropped = {**dropped, "word not in CMUdict": [u["name"] for u in utterances if u["phones"] is None]}
    return {"splits": _split_stats(usable), "dropped": {k: len(v) for k, v in dropped.items()},
            "dropped_names": dropped,
            "labels": {"method": "forced alignment of the CMUdict transcript (common.demo.real.align): flat-start "
                                 "Viterbi training of an MLP/HMM aligner on all the set's utterances, left to right, "
                                 "every phoneme >= 3 frames, optional [SIL] between words",
                       "aligner": align.DEFAULTS, "seconds": round(seconds, 1),
                       "silence_share": round(float(np.mean(labels == align.SIL)), 4),
                       "pause_share": round(pause_frames / frames, 4),
                       # a check on the real audio that needs no model: the quietest 10% of each utterance's
                       # frames (lowest c0) should be silence, or the closures of stops
                       "quietest_tenth_silence_share": round(float(np.mean(np.concatenate(quiet))), 4),
                       "demo_check": check}}


def build(out_dir="data/real", prompts_file=PROMPTS_FILE, sounds_dir=SOUNDS_DIR, limit: int | None = None,
          force: bool = False, log=print, check_utterances: int = ALIGN_CHECK_UTTERANCES) -> dict:
    """Write the three layouts under ``out_dir``; returns {"hw4p2": root, "hw3p2": root, "hw1p2": root,
    "info": {...}}.

    A layout whose ``real_info.json`` matches (builder version, limit) is kept as it is unless ``force``.
    Each layout is written into a temporary sibling and moved into place when complete.
    ``check_utterances``: synthetic utterances the aligner is scored on (``align.alignment_check``).
    """
    out_dir = Path(out_dir)
    roots = {"hw4p2": out_dir / HW4_FOLDER, "hw3p2": out_dir / HW3_FOLDER, "hw1p2": out_dir / HW1_FOLDER}
    keys = {name: {"builder": "common.demo.real", "version": HW1_VERSION if name == "hw1p2" else VERSION,
                   "limit": limit} for name in roots}
    todo = [name for name, r in roots.items() if force or not marker_matches(r, keys[name], MARKER)]
    if not todo:
        log(f"{out_dir}: already built (versions {VERSION}, HW1P2 {HW1_VERSION}); --force rebuilds")
        return {**roots, "info": {k: json.loads((r / MARKER).read_text()) for k, r in roots.items()}}
    for name in todo:
        r = roots[name]
        if r.exists() and not (r / MARKER).exists() and any(r.iterdir()):
            raise FileExistsError(f"{r} exists and was not written by common.demo.real (no {MARKER}): "
                                  "refusing to overwrite it; move it away or pass another --out")
    utterances, dropped, lm_texts = collect(prompts_file, sounds_dir, limit)
    writers = {"hw4p2": lambda tmp: write_hw4p2(tmp, utterances, dropped, lm_texts),
               "hw3p2": lambda tmp: write_hw3p2(tmp, utterances, dropped),
               "hw1p2": lambda tmp: write_hw1p2(tmp, utterances, dropped, log, check_utterances)}
    infos = {}
    for name in todo:
        common = {**keys[name], "licence": LICENCE, "source": str(sounds_dir),
                  "frame_shift_s": HOP_LENGTH / SAMPLE_RATE}
        with atomic_folder(roots[name]) as tmp:
            infos[name] = {**common, "layout": name, **writers[name](tmp)}
            (tmp / MARKER).write_text(json.dumps(infos[name], indent=2, sort_keys=True))
    for name, info in infos.items():
        sizes = ", ".join(f"{s} {v['utterances']} utt / {v['minutes']:.1f} min" for s, v in info["splits"].items())
        drops = ", ".join(f"{k} {v}" for k, v in info["dropped"].items() if v)
        log(f"{roots[name]}: {sizes}; dropped: {drops}")
        if "labels" in info:
            c = info["labels"]["demo_check"]
            log(f"{roots[name]}: frame labels by forced alignment ({info['labels']['seconds']:.0f} s); the same "
                f"aligner on {c['utterances']} synthetic utterances: frame agreement {c['frame_agreement']:.1%} "
                f"(flat start {c['flat_start_agreement']:.1%}), phoneme starts within 2 frames "
                f"{c['boundaries_within_2_frames']:.1%}, mean error {c['boundary_error_mean_frames']:.2f} frames")
    for name in set(roots) - set(todo):
        infos[name] = json.loads((roots[name] / MARKER).read_text())
    return {**roots, "info": infos}
