"""HW1P2 on real speech (issue 23): the notebook's `make demo` preset against its own recipe at CPU size and
against a plain baseline, each trained for the same time on the real-speech set's HW1P2 layout.

The set (``make real-speech``, ``common.demo.real``): one speaker reading Asterisk's prompts, 28 MFCC,
frame labels by forced alignment of the CMUdict transcripts (``common/demo/real/align.py``). Contenders,
each given ``--minutes`` of training on 1 thread:

- ``preset``: ``hw1_mlp/hw1p2.ipynb`` with ``HW1_DEMO`` of ``common.notebook.run_notebooks`` (as
  ``make demo`` runs it) plus ``DEMO=False``, ``DATA_ROOT`` on the set, ``TIME_BUDGET`` = the minutes and
  ``EPOCHS`` large (the budget decides);
- ``recipe``: the notebook's own defaults (context 30, batch 4096, lr 2e-3, dropout, SpecAugment, label
  smoothing, AdamW, warm-up + cosine) with only the hidden sizes shrunk to the preset's [512, 256];
- ``recipe-c15``: the same with the context shrunk to the preset's 15 (a size too: the input width);
- ``recipe-c15-b2048``: and the batch shrunk to 2048 frames (the recipe's lr 2e-3 kept);
- ``baseline``: the plain model written here: MLP 2 x 512 ReLU on a window of +-15 frames (per-utterance
  CMVN, as the notebook reads it), Adam lr 1e-3, batch 1024, no augmentation, dropout, schedule or
  label smoothing; the same minutes of training steps (evaluation not counted).

The contenders run **at the same time**, one process each (``--sequential`` runs them one after the
other), so that other jobs on a shared machine slow them alike; each row also gives the process CPU
minutes (loading, training and evaluation). Dev accuracy: the notebook's best checkpoint (the baseline:
its last state); test: the submission scored against ``demo_truth``. Also the majority-class rates.

    make real-speech && python benchmarks/real_frames.py --minutes 3             # ~5 min wall
    python benchmarks/real_frames.py --only preset baseline --seeds 1 2 --results
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT, cpu_name, parse_with_threads  # noqa: E402

CONTENDERS = ("preset", "recipe", "recipe-c15", "recipe-c15-b2048", "baseline")
BIG_EPOCHS = 1000                     # TIME_BUDGET decides how many run


def overrides(name: str) -> dict:
    """The notebook parameters of a notebook contender (beyond DEMO, DATA_ROOT, TIME_BUDGET, SEED)."""
    from common.notebook.run_notebooks import HW1_DEMO
    return {"preset": {**HW1_DEMO, "EPOCHS": BIG_EPOCHS},
            "recipe": {"HIDDEN_SIZES": HW1_DEMO["HIDDEN_SIZES"], "EPOCHS": BIG_EPOCHS},
            "recipe-c15": {"HIDDEN_SIZES": HW1_DEMO["HIDDEN_SIZES"], "CONTEXT": HW1_DEMO["CONTEXT"],
                           "EPOCHS": BIG_EPOCHS},
            "recipe-c15-b2048": {"HIDDEN_SIZES": HW1_DEMO["HIDDEN_SIZES"], "CONTEXT": HW1_DEMO["CONTEXT"],
                                 "BATCH_SIZE": 2048, "LR": 2e-3, "EPOCHS": BIG_EPOCHS}}[name]


def test_truth(root: Path, ids, lengths):
    """(N,) int64 frame labels of the test split from demo_truth, in the store's order."""
    import numpy as np

    from common.speech.io import read_frame_labels
    truth = root / "demo_truth" / "test-clean" / "transcript"
    return np.concatenate([read_frame_labels(truth / f"{u}.npy", n) for u, n in zip(ids, lengths)])


def majority(root: Path) -> dict:
    """The training set's most frequent class, and its share of the dev and test frames."""
    import numpy as np

    from common.speech.frames import load_frame_store
    from common.speech.io import PHONEMES
    train = load_frame_store(root, "train-clean-100", 0, progress=False).all_targets().numpy()
    dev = load_frame_store(root, "dev-clean", 0, progress=False)
    test = load_frame_store(root, "test-clean", 0, labels=False, progress=False)
    top = int(np.bincount(train).argmax())
    return {"class": PHONEMES[top], "dev": float(np.mean(dev.all_targets().numpy() == top)),
            "test": float(np.mean(test_truth(root, test.utterance_ids, test.lengths) == top))}


# ---------------------------------------------------------------------------------------------
def run_baseline(root: Path, minutes: float, seed: int, context: int = 15, hidden: int = 512,
                 batch_size: int = 1024, lr: float = 1e-3) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from common.speech.frames import FrameBatches, load_frame_store
    torch.manual_seed(seed)
    train = load_frame_store(root, "train-clean-100", context, progress=False)
    dev = load_frame_store(root, "dev-clean", context, progress=False)
    test = load_frame_store(root, "test-clean", context, labels=False, progress=False)
    width = (2 * context + 1) * train.feature_dim
    model = nn.Sequential(nn.Flatten(), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, 40))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches = FrameBatches(train, batch_size, shuffle=True, drop_last=True,
                           generator=torch.Generator().manual_seed(seed))

    @torch.inference_mode()
    def predict(store):
        model.eval()
        out = torch.cat([model(b[0] if isinstance(b, (tuple, list)) else b).argmax(-1)
                         for b in FrameBatches(store, 8192)])
        model.train()
        return out.numpy()

    budget, spent, epochs, steps, history = minutes * 60, 0.0, 0, 0, []
    while spent < budget:
        for x, y in batches:
            t0 = time.perf_counter()
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            spent += time.perf_counter() - t0
            if spent >= budget:
                break
        epochs += 1
        history.append({"epoch": epochs, "minutes": spent / 60,
                        "dev": float(np.mean(predict(dev) == dev.all_targets().numpy()))})
    test_acc = float(np.mean(predict(test) == test_truth(root, test.utterance_ids, test.lengths)))
    return {"dev": history[-1]["dev"], "test": test_acc, "epochs": epochs, "steps": steps,
            "train_minutes": spent / 60, "parameters": sum(p.numel() for p in model.parameters()),
            "history": history}


def run_notebook_contender(name: str, root: Path, minutes: float, seed: int, out_dir: Path) -> dict:
    import numpy as np
    import pandas as pd

    from common.notebook.execute import run_notebook
    from common.speech.frames import load_frame_store
    from common.speech.io import PHONEMES
    params = {**overrides(name), "DEMO": False, "DATA_ROOT": str(root), "TIME_BUDGET": minutes, "SEED": seed}
    metrics = run_notebook(REPO_ROOT / "hw1_mlp" / "hw1p2.ipynb", out_dir, params, timeout=3600)
    test = load_frame_store(root, "test-clean", 0, labels=False, progress=False)
    sub = pd.read_csv(out_dir / "submission.csv", keep_default_na=False)
    index = {p: i for i, p in enumerate(PHONEMES)}
    pred = np.array([index[str(x)] for x in sub["label"]])
    return {"dev": metrics["dev_accuracy"], "test": float(np.mean(pred == test_truth(root, test.utterance_ids,
                                                                                       test.lengths))),
            "epochs": metrics.get("epochs"), "train_minutes": metrics.get("train_time_s", np.nan) / 60,
            "parameters": metrics.get("parameters"), "params": params}


def worker(args) -> int:
    root = Path(args.data)
    out = Path(args.out) / f"{args.worker}_seed{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    if args.worker == "baseline":
        r = run_baseline(root, args.minutes, args.seed)
    else:
        r = run_notebook_contender(args.worker, root, args.minutes, args.seed, out)
    (out / "result.json").write_text(json.dumps(r, indent=1, default=str))
    return 0


# ---------------------------------------------------------------------------------------------
def launch(names, seeds, args) -> dict:
    """Run the contenders as child processes, one round per seed (all of a round at once unless
    --sequential); {run: result + cpu_minutes}."""
    procs, results = {}, {}
    base = [sys.executable, str(Path(__file__).resolve()), "--minutes", str(args.minutes), "--data", args.data,
            "--out", args.out, "--threads", str(args.threads)]
    for s in seeds:
        for n in names:
            log = open(Path(args.out) / f"{n}_seed{s}.log", "w")
            p = subprocess.Popen([*base, "--worker", n, "--seed", str(s)], stdout=log, stderr=subprocess.STDOUT,
                                 cwd=REPO_ROOT)
            procs[p.pid] = (n, s, time.perf_counter())
            print(f"   started {n} seed {s} (pid {p.pid})", flush=True)
            if args.sequential:
                _reap(procs, results, args)
        while procs:
            _reap(procs, results, args)
    return results


def _reap(procs, results, args) -> None:
    pid, status, usage = os.wait4(-1, 0)      # the child's CPU time includes its notebook kernel's (waited for)
    if pid not in procs:
        return
    n, s, t0 = procs.pop(pid)
    key = f"{n} seed {s}"
    path = Path(args.out) / f"{n}_seed{s}" / "result.json"
    if os.waitstatus_to_exitcode(status) != 0 or not path.exists():
        print(f"!! {key} failed: see {Path(args.out) / f'{n}_seed{s}.log'}", flush=True)
        return
    r = json.loads(path.read_text())
    r.update(contender=n, seed=s, cpu_minutes=(usage.ru_utime + usage.ru_stime) / 60,
             wall_minutes=(time.perf_counter() - t0) / 60)
    results[key] = r
    print(f"   {key}: dev {r['dev']:.4f}, test {r['test']:.4f}, {r['epochs']} epochs, "
          f"{r['train_minutes']:.2f} train min, {r['cpu_minutes']:.2f} CPU min", flush=True)


def table(results: dict, maj: dict, args) -> str:
    load = os.getloadavg()
    rows = [f"\n### Run of {time.strftime('%Y-%m-%d %H:%M')}: {args.minutes:g} min of training each, "
            f"{args.threads} thread, {'one after the other' if args.sequential else 'all at once'}",
            f"`python benchmarks/real_frames.py --minutes {args.minutes:g}` on `{args.data}`, {cpu_name()}, "
            f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min; other "
            f"engineers' jobs shared the 2 cores). Majority class ({maj['class']}): dev {maj['dev']:.1%}, "
            f"test {maj['test']:.1%}.", "",
            "| contender | seed | dev acc | test acc | epochs | train min | CPU min | parameters |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        rows.append(f"| {r['contender']} | {r['seed']} | {r['dev']:.2%} | {r['test']:.2%} | {r['epochs']} | "
                    f"{r['train_minutes']:.2f} | {r['cpu_minutes']:.2f} | {r['parameters']:,} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes of each contender")
    parser.add_argument("--only", nargs="*", choices=CONTENDERS, help="contenders to run (default: all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[11785])
    parser.add_argument("--data", default=str(REPO_ROOT / "data" / "real" / "11-785-f24-hw1p2"))
    parser.add_argument("--out", default=str(REPO_ROOT / "runs" / "real_frames"))
    parser.add_argument("--sequential", action="store_true", help="one contender at a time")
    parser.add_argument("--results", action="store_true", help="append the table to benchmarks/RESULTS.md")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=11785, help=argparse.SUPPRESS)
    args = parse_with_threads(parser, argv, threads=1, device=None)
    if not Path(args.data, "real_info.json").exists():
        sys.exit(f"{args.data} is not a built HW1P2 layout: run `make real-speech` first")
    if args.worker:
        return worker(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    maj = majority(Path(args.data))
    results = launch(args.only or CONTENDERS, args.seeds, args)
    (Path(args.out) / "results.json").write_text(json.dumps({"majority": maj, "runs": results}, indent=1,
                                                            default=str))
    text = table(results, maj, args)
    print(text)
    if args.results:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
