"""Quality per minute of training on real speech (issue 23): the speech notebooks' `make demo`
presets against a plain CTC baseline, each trained for the same time on the real-speech set.

The set (``make real-speech``, ``common.demo.real``): one speaker reading Asterisk's ~550 prompts,
HW3P2 layout (28 MFCC, phonemes) and HW4P2 layout (80 log-mel, characters) under ``data/real``.
Contenders, each given ``--minutes`` of training (default 3) on ``--threads`` threads (default 1):

- ``baseline-phonemes`` / ``baseline-chars``: the plain model written here: two stride-2 Conv1d
  (kernel 3, 256 channels, GELU; time / 4), a 2-layer BiLSTM(192), a linear layer; CTC; AdamW
  (weight decay 0.01) with OneCycle to max lr 2e-3 over the training time; greedy
  decoding; ~1.8M parameters; no augmentation, no dropout. Once over HW3's phonemes (metric: mean
  Levenshtein distance, the HW3P2 metric) and once over HW4's characters (CER);
- ``hw3p2``, ``las`` (mean distance) and ``hw4p2`` (CER): the notebooks with their ``make demo``
  presets (``common.notebook.run_notebooks``) plus ``DEMO=False``, ``DATA_ROOT`` on the set and
  ``TIME_BUDGET`` = the minutes; their test submissions are scored against ``demo_truth``.

Also the constant-transcript score: the one training transcript that is closest on average to all
the others (the medoid), predicted for every utterance. A table goes to stdout (``--results``
appends it to benchmarks/RESULTS.md) and a plot of the dev metric against training minutes (per
epoch) to ``--plot`` (default benchmarks/real_speech.png).

    make real-speech && python benchmarks/real_speech.py                    # all, ~25 min on a CPU
    python benchmarks/real_speech.py --only baseline-phonemes hw3p2 --minutes 3 --results
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT, cpu_name, parse_with_threads  # noqa: E402

CONTENDERS = ("baseline-phonemes", "hw3p2", "las", "baseline-chars", "hw4p2")
NOTEBOOK_OF = {"hw3p2": "hw3p2", "las": "hw3p2 las", "hw4p2": "hw4p2"}      # names in run_notebooks.NOTEBOOKS
LAYOUT_OF = {"baseline-phonemes": "hw3p2", "hw3p2": "hw3p2", "las": "hw3p2", "baseline-chars": "hw4p2",
             "hw4p2": "hw4p2"}


# ---------------------------------------------------------------------------------------------
# data and metrics
def _roots(data: Path) -> dict:
    from common.demo.real import HW3_FOLDER, HW4_FOLDER
    roots = {"hw3p2": data / HW3_FOLDER, "hw4p2": data / HW4_FOLDER}
    for r in roots.values():
        if not r.is_dir():
            sys.exit(f"{r} does not exist: build the real-speech set first with `make real-speech`")
    return roots


def load_split(root: Path, layout: str, split: str):
    """(UtteranceStore, target strings or None, vocab); test targets come from demo_truth."""
    import numpy as np

    from common.speech.utterances import load_hw3p2, load_hw4p2
    from common.vocab import HW3_PHONEMES, HW4_CHARS
    vocab = HW3_PHONEMES if layout == "hw3p2" else HW4_CHARS
    load = load_hw3p2 if layout == "hw3p2" else load_hw4p2
    store = load(root, split, vocab=vocab, cmvn="utterance", progress=False)
    if store.targets is not None:
        targets = [vocab.to_string(t) for t in store.targets]
    else:
        truth = root / "demo_truth" / split / ("transcript" if layout == "hw3p2" else "text")
        if layout == "hw3p2":
            targets = [vocab.to_string(vocab.encode(np.load(truth / f"{u}.npy")[1:-1].tolist())) for u in store.ids]
        else:
            targets = ["".join(np.load(truth / f"{u}.npy").tolist()) for u in store.ids]
    return store, targets, vocab


def score(layout: str, hyps, targets) -> float:
    """hw3p2 layout: mean Levenshtein distance of the code strings; hw4p2: CER."""
    from common.metrics import cer, levenshtein_distances
    if layout == "hw3p2":
        return float(levenshtein_distances(list(hyps), list(targets)).mean())
    return float(cer(list(hyps), list(targets)))


def constant_transcript(layout: str, train_targets, targets) -> tuple[str, float]:
    """The training transcript with the lowest mean distance to the other training transcripts,
    and its score when predicted for every utterance of ``targets``."""
    import numpy as np

    from common.metrics import levenshtein_distances
    uniq = sorted(set(train_targets))
    cost = [levenshtein_distances([c] * len(train_targets), train_targets).mean() for c in uniq]
    best = uniq[int(np.argmin(cost))]
    return best, score(layout, [best] * len(targets), targets)


# ---------------------------------------------------------------------------------------------
# the plain baseline
def build_baseline(in_dim: int, classes: int, channels: int = 256, hidden: int = 192):
    from torch import nn

    from common.speech.layers import BLSTM

    class Baseline(nn.Module):
        """Conv1d(k3, s2) -> GELU -> Conv1d(k3, s2) -> GELU -> 2 BiLSTM layers -> Linear. The BiLSTMs
        are ``BLSTM(packed=False)``: exactly a bidirectional nn.LSTM over packed sequences (the backward
        direction starts at each utterance's last frame), several times faster on a CPU."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv1d(in_dim, channels, 3, stride=2, padding=1), nn.GELU(),
                                      nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.GELU())
            self.lstms = nn.ModuleList([BLSTM(channels, hidden, packed=False), BLSTM(2 * hidden, hidden, packed=False)])
            self.out = nn.Linear(2 * hidden, classes)

        def forward(self, x, lengths):
            x = self.conv(x.transpose(1, 2)).transpose(1, 2)
            lengths = (lengths - 1) // 2 + 1
            lengths = (lengths - 1) // 2 + 1
            for lstm in self.lstms:
                x, lengths = lstm(x, lengths)
            return self.out(x), lengths

    return Baseline()


def one_cycle(fraction: float, max_lr: float = 2e-3, pct_start: float = 0.3, div: float = 25.0,
              final_div: float = 1e4) -> float:
    """torch's OneCycleLR (cosine) at ``fraction`` of the run: max_lr/div -> max_lr over the first
    30%, then down to max_lr/(div*final_div)."""
    import math
    f = min(max(fraction, 0.0), 1.0)
    lo, hi, end = max_lr / div, max_lr, max_lr / (div * final_div)
    if f < pct_start:
        return hi + (lo - hi) * (1 + math.cos(math.pi * f / pct_start)) / 2
    return end + (hi - end) * (1 + math.cos(math.pi * (f - pct_start) / (1 - pct_start))) / 2


def run_baseline(root: Path, layout: str, minutes: float, seed: int, max_frames: int = 4000) -> dict:
    import torch
    from torch import nn

    from common.speech.decoding import ctc_greedy_decode
    from common.speech.utterances import BucketBatchSampler, collate_utterances

    train, train_targets, vocab = load_split(root, layout, "train-clean-100")
    dev, dev_targets, _ = load_split(root, layout, "dev-clean")
    test, test_targets, _ = load_split(root, layout, "test-clean")
    blank = vocab.blank if vocab.blank is not None else vocab.pad     # HW4 characters: padding doubles as blank
    torch.manual_seed(seed)
    model = build_baseline(train.dim, len(vocab))
    n_params = sum(p.numel() for p in model.parameters())
    sampler = BucketBatchSampler(train.feature_lengths, max_frames, shuffle=True, seed=seed)
    ctc = nn.CTCLoss(blank=blank, zero_infinity=True)

    def batch_of(store, idx):
        return collate_utterances([store[i] for i in idx])

    def step_loss(batch):
        log_probs, lengths = model(batch.features.float(), batch.feature_lengths)
        log_probs = log_probs.log_softmax(-1)
        return ctc(log_probs.transpose(0, 1), batch.targets, lengths, batch.target_lengths)

    @torch.inference_mode()
    def decode(store):
        model.eval()
        hyps = [None] * len(store)
        for idx in BucketBatchSampler(store.feature_lengths, 20_000, shuffle=False):
            b = batch_of(store, idx)
            lp, lengths = model(b.features.float(), b.feature_lengths)
            for i, h in zip(idx, ctc_greedy_decode(lp.log_softmax(-1), lengths, blank=blank)):
                hyps[i] = vocab.to_string(h)
        model.train()
        return hyps

    # OneCycle over the training time, not a step count guessed in advance: the lr of each step is
    # that of the elapsed share of the budget, so warm-up and decay end where the budget ends however
    # fast the (shared) machine runs; the last epoch stops mid-way when the time is up
    optimizer = torch.optim.AdamW(model.parameters(), lr=one_cycle(0.0), weight_decay=0.01)
    budget = minutes * 60
    history, steps, spent, epoch = [], 0, 0.0, 0
    while spent < budget:
        sampler.set_epoch(epoch)
        losses = []
        for idx in sampler:
            t0 = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(spent / budget)
            optimizer.zero_grad()
            loss = step_loss(batch_of(train, idx))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            steps += 1
            losses.append(float(loss.detach()))
            spent += time.perf_counter() - t0
            if spent >= budget:
                break
        epoch += 1
        history.append({"epoch": epoch, "minutes": spent / 60, "train_loss": sum(losses) / len(losses),
                        "dev": score(layout, decode(dev), dev_targets)})     # dev decoding is not counted
        print(f"   {layout} baseline epoch {epoch}: {spent / 60:.2f} min, loss {history[-1]['train_loss']:.3f}, "
              f"dev {history[-1]['dev']:.3f}", flush=True)
    return {"dev": history[-1]["dev"], "test": score(layout, decode(test), test_targets), "epochs": epoch,
            "steps": steps, "train_minutes": spent / 60, "parameters": n_params, "history": history,
            "final_train_loss": history[-1]["train_loss"]}


# ---------------------------------------------------------------------------------------------
# the notebooks
def run_preset(name: str, root: Path, minutes: float, out_dir: Path, overrides: dict | None = None) -> dict:
    """One notebook with its make-demo preset on the set, TIME_BUDGET = minutes; dev/test and history."""
    import numpy as np
    import pandas as pd
    import torch

    from common.notebook.execute import run_notebook
    from common.notebook.run_notebooks import NOTEBOOKS
    nb = next(n for n in NOTEBOOKS if n.name == NOTEBOOK_OF[name])
    layout = LAYOUT_OF[name]
    params = {**nb.params, "DEMO": False, "DATA_ROOT": str(root), "TIME_BUDGET": minutes, **(overrides or {})}
    if name == "hw4p2":         # pretrain on this set's text-for-LM, never make demo's LM of the synthetic text
        params.setdefault("LM_CHECKPOINT", None)
    t0 = time.perf_counter()
    metrics = run_notebook(REPO_ROOT / nb.path, out_dir, params, timeout=3600)
    wall = time.perf_counter() - t0
    _, test_targets, vocab = load_split(root, layout, "test-clean")
    sub = pd.read_csv(out_dir / "submission.csv", keep_default_na=False)
    hyps = [str(x) for x in sub.iloc[:, 1]]
    dev_key = {"hw3p2": "dev_distance_beam_lm", "las": "dev_distance_best", "hw4p2": "dev_cer_best"}[name]
    fallback = {"hw3p2": "dev_distance_beam_lm", "las": "dev_per_beam_ctc", "hw4p2": "dev_cer_beam_ctc_lm"}[name]
    dev = metrics.get(dev_key, metrics.get(fallback))
    history = []
    last = out_dir / "checkpoints" / "last.pt"
    if last.exists():
        saved = torch.load(last, map_location="cpu", weights_only=False).get("history") or []
        spent = 0.0
        for row in saved:
            spent += float(row.get("time_s", np.nan))
            key = next((k for k in ("val_distance", "val_cer", "dev_cer", "val_per") if k in row), None)
            if key is not None and np.isfinite(float(row[key])):
                history.append({"epoch": row.get("epoch"), "minutes": spent / 60, "dev": float(row[key]), "key": key})
    greedy = next((metrics[k] for k in ("dev_distance_greedy", "dev_cer_greedy") if k in metrics), None)
    return {"dev": dev, "dev_greedy": greedy, "test": score(layout, hyps, test_targets),
            "epochs": metrics.get("epochs"), "train_minutes": metrics.get("train_time_s", np.nan) / 60,
            "parameters": metrics.get("parameters"), "wall_minutes": wall / 60, "history": history,
            "metrics": metrics, "dev_key": dev_key}


# ---------------------------------------------------------------------------------------------
def plot(results: dict, minutes: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        if name.startswith("constant") or not r.get("history"):
            continue
        ax = main = axes[0 if LAYOUT_OF[name] == "hw3p2" else 1]
        label, color = name, f"C{list(results).index(name) % 10}"
        if r["history"][0].get("key") == "val_per":       # las tracks PER per epoch: its own axis on the right
            ax, label = ax.twinx(), f"{name} (dev PER, right axis)"
            ax.set_ylabel("PER")
        elif LAYOUT_OF[name] == "hw4p2" and min(h["dev"] for h in r["history"]) > 1.2:
            label = f"{name} (greedy CER > 1.2: off the plot)"
        ax.plot([h["minutes"] for h in r["history"]], [h["dev"] for h in r["history"]], marker="o", ms=3,
                label=label, color=color)
        ax.legend(fontsize=8, loc="center right" if label != name else "best")
        if not name.startswith("baseline") and r.get("dev") is not None:   # the submitted decoder's dev score
            main.plot([r["history"][-1]["minutes"]], [r["dev"]], marker="*", ms=13, ls="none", color=color,
                      markeredgecolor="black", label=f"{name}: submitted decoder, end")
    for ax, layout, title in ((axes[0], "hw3p2", "phonemes: dev mean distance (greedy, per epoch)"),
                              (axes[1], "hw4p2", "characters: dev CER (greedy, per epoch)")):
        const = results.get(f"constant-{layout}")
        if const:
            ax.axhline(const["dev"], color="grey", ls="--", label="constant transcript")
        ax.set_xlabel("training minutes of the main run (not a CTC warm-up or LM pretraining before it)", fontsize=8)
        ax.set_title(title, fontsize=9)
        if layout == "hw4p2":
            ax.set_ylim(0, 1.2)              # a looping greedy decoder's early CER (> 1) is cut off
        ax.set_xlim(0, minutes * 1.05)
        ax.legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def table(results: dict, args) -> str:
    rows = [f"\n## Real speech: quality per minute of training ({args.minutes:g} min each, "
            f"{args.threads} thread, {time.strftime('%Y-%m-%d')})",
            f"`python benchmarks/real_speech.py --minutes {args.minutes:g}` on `data/real` (`make real-speech`), "
            f"{cpu_name()}; other jobs shared the 2 cores, so times are inflated alike for all rows. "
            "Phonemes: mean Levenshtein distance (HW3P2); characters: CER. Notebook rows: the `make demo` preset "
            "+ `TIME_BUDGET`, dev = the notebook's chosen decoder, test = its submission scored against "
            "`demo_truth`; per-epoch dev figures (the plot) are greedy.",
            "", "| contender | metric | dev (submitted decoder) | dev greedy | test | epochs | train min "
            "| parameters |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        layout = r.get("layout") or LAYOUT_OF[name]
        metric = "distance" if layout == "hw3p2" else "CER"
        fmt = (lambda v: f"{v:.3f}" if isinstance(v, (int, float)) else "-")  # noqa: E731
        greedy = r["dev"] if name.startswith("baseline") else r.get("dev_greedy")
        rows.append(f"| {name} | {metric} | {fmt(r.get('dev'))} | {fmt(greedy)} | {fmt(r.get('test'))} | "
                    f"{r.get('epochs', '-')} | {fmt(r.get('train_minutes'))} | {r.get('parameters') or '-'} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes of each contender")
    parser.add_argument("--only", nargs="*", choices=CONTENDERS, help="contenders to run (default: all)")
    parser.add_argument("--data", default=str(REPO_ROOT / "data" / "real"))
    parser.add_argument("--out", default=str(REPO_ROOT / "runs" / "real_speech"))
    parser.add_argument("--seed", type=int, default=11785)
    parser.add_argument("--results", action="store_true", help="append the table to benchmarks/RESULTS.md")
    parser.add_argument("--plot", default=str(HERE / "real_speech.png"))
    parser.add_argument("--from-json", help="only re-render the table and plot of an earlier run's results.json")
    args = parse_with_threads(parser, argv, threads=1, device=None)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        _finish(results, args)
        return 0
    roots = _roots(Path(args.data))
    out = Path(args.out)
    results = {}
    for layout in ("hw3p2", "hw4p2"):
        _, train_targets, _ = load_split(roots[layout], layout, "train-clean-100")
        c = {"layout": layout}
        for split in ("dev", "test"):
            _, targets, _ = load_split(roots[layout], layout, f"{split}-clean")
            c["transcript"], c[split] = constant_transcript(layout, train_targets, targets)
        results[f"constant-{layout}"] = c
        print(f"constant transcript ({layout}) {c['transcript']!r}: dev {c['dev']:.3f}, test {c['test']:.3f}")
    for name in args.only or CONTENDERS:
        print(f"== {name} ({args.minutes:g} min)", flush=True)
        layout = LAYOUT_OF[name]
        if name.startswith("baseline"):
            results[name] = run_baseline(roots[layout], layout, args.minutes, args.seed)
        else:
            results[name] = run_preset(name, roots[layout], args.minutes, out / name)
        r = results[name]
        print(f"   {name}: dev {r['dev']:.3f}, test {r['test']:.3f}, {r['epochs']} epochs, "
              f"{r['train_minutes']:.2f} train min", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    _finish(results, args)
    return 0


def _finish(results: dict, args) -> None:
    for name, r in results.items():                 # dev greedy of a notebook run from its metrics.json
        saved = Path(args.out) / name / "metrics.json"
        m = r.get("metrics") or (json.loads(saved.read_text()) if saved.exists() else {})
        r.setdefault("dev_greedy", next((m[k] for k in ("dev_distance_greedy", "dev_cer_greedy") if k in m), None))
    text = table(results, args)
    print(text)
    if args.results:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(text)
    plot(results, args.minutes, Path(args.plot))


if __name__ == "__main__":
    sys.exit(main())
