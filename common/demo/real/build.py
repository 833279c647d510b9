"""Write the real-speech set: the Kaggle layouts of HW4P2 and HW3P2 (DATA.md) under one folder.

    data/real/
      hw4p2/                     train-clean-100/{fbank,text}/  dev-clean/{fbank,text}/  test-clean/fbank/
                                 text-for-LM/   (the training prompts' text and prompts without a recording)
      11-785-f24-hw3p2/          train-clean-100/{mfcc,transcript}/  dev-clean/...  test-clean/mfcc/
                                 test-clean/random_submission.csv
      <each>/demo_truth/test-clean/{text,transcript}/   the test answers, where no reader looks (as common.demo)
      <each>/real_info.json      counts, minutes, what was dropped and why (written last)

No HW1P2 layout: HW1P2 needs a phoneme label for every 10 ms frame, and nothing in the Debian
packages says where each phoneme starts. Labels from a forced alignment by a CTC model trained on
these ~450 utterances would be that model's guesses (CTC's peaky posteriors place a phoneme on one
or two frames, not on its span), and a frame classifier trained on them would learn the aligner,
not the speech; so the set has no frame labels.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.demo.speech.layouts import marker_matches
from common.engine.files import atomic_folder
from common.vocab import HW3_PHONEMES

from .features import HOP_LENGTH, SAMPLE_RATE, log_mel, mfcc, read_audio
from .phonemes import Lexicon
from .source import PROMPTS_FILE, SOUNDS_DIR, read_prompts
from .split import SPLITS, assign_splits
from .text import normalize

VERSION = 1
MARKER = "real_info.json"
TRUTH = "demo_truth"
HW4_FOLDER, HW3_FOLDER = "hw4p2", "11-785-f24-hw3p2"
LICENCE = "CC-BY-SA-3.0 (Asterisk core sounds, Digium; voice of Allison Smith)"


def _save(folder: Path, uid: str, array: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{uid}.npy", array)


def collect(prompts_file=PROMPTS_FILE, sounds_dir=SOUNDS_DIR, limit: int | None = None, lexicon=None):
    """Everything the writers need, computed once: (utterances, dropped, lm_texts).

    utterances: dicts uid, name, text (HW4 characters), phones (HW3 transcript or None),
    missing (words not in CMUdict), split, fbank (T, 80), seconds. ``limit``: the first prompts
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
        utterances.append({"uid": p.uid, "name": p.name, "text": text, "phones": phones, "missing": missing,
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


def build(out_dir="data/real", prompts_file=PROMPTS_FILE, sounds_dir=SOUNDS_DIR, limit: int | None = None,
          force: bool = False, log=print) -> dict:
    """Write both layouts under ``out_dir``; returns {"hw4p2": root, "hw3p2": root, "info": {...}}.

    A folder whose ``real_info.json`` matches (builder version, limit) is kept as it is unless
    ``force``. Each layout is written into a temporary sibling and moved into place when complete.
    """
    out_dir = Path(out_dir)
    roots = {"hw4p2": out_dir / HW4_FOLDER, "hw3p2": out_dir / HW3_FOLDER}
    key = {"builder": "common.demo.real", "version": VERSION, "limit": limit}
    if not force and all(marker_matches(r, key, MARKER) for r in roots.values()):
        log(f"{out_dir}: already built (version {VERSION}); --force rebuilds")
        return {**roots, "info": {k: json.loads((r / MARKER).read_text()) for k, r in roots.items()}}
    for r in roots.values():
        if r.exists() and not (r / MARKER).exists() and any(r.iterdir()):
            raise FileExistsError(f"{r} exists and was not written by common.demo.real (no {MARKER}): "
                                  "refusing to overwrite it; move it away or pass another --out")
    utterances, dropped, lm_texts = collect(prompts_file, sounds_dir, limit)
    common = {**key, "licence": LICENCE, "source": str(sounds_dir), "frame_shift_s": HOP_LENGTH / SAMPLE_RATE}
    infos = {}
    with atomic_folder(roots["hw4p2"]) as tmp:
        infos["hw4p2"] = {**common, "layout": "hw4p2", **write_hw4p2(tmp, utterances, dropped, lm_texts)}
        (tmp / MARKER).write_text(json.dumps(infos["hw4p2"], indent=2, sort_keys=True))
    with atomic_folder(roots["hw3p2"]) as tmp:
        infos["hw3p2"] = {**common, "layout": "hw3p2", **write_hw3p2(tmp, utterances, dropped)}
        (tmp / MARKER).write_text(json.dumps(infos["hw3p2"], indent=2, sort_keys=True))
    for name, info in infos.items():
        sizes = ", ".join(f"{s} {v['utterances']} utt / {v['minutes']:.1f} min" for s, v in info["splits"].items())
        drops = ", ".join(f"{k} {v}" for k, v in info["dropped"].items() if v)
        log(f"{roots[name]}: {sizes}; dropped: {drops}")
    return {**roots, "info": infos}
