"""Equal-time ablations of las.ipynb and hw4p2.ipynb on the real-speech set (issue 23, part C).

Each row runs the notebook's own code (every code cell before the training cell, with the
``make demo`` preset plus the row's overrides, ``DEMO=False`` and ``DATA_ROOT`` on ``data/real``),
then trains for exactly ``--minutes`` of wall time in a loop written here: AdamW, learning rate as a
function of the time spent (linear warm-up over ``WARM_FRAC`` of the time, cosine to 0 at the end:
what ``TIME_BUDGET`` does per step), the notebook's own loss functions (SpecAugment, teacher forcing,
joint CTC), an optional CTC warm-up of the encoder for a share of the time. No per-epoch dev
evaluation (the notebooks spend a little of their budget on it). Then dev and test scores with the
notebook's own decoders. Rows of one invocation run back to back on 1 thread: compare only those.

    python benchmarks/seq2seq_tuning.py las --minutes 3 --rows preset lr1e-3 ...
    python benchmarks/seq2seq_tuning.py hw4p2 --minutes 3 --rows preset ...
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))
# the budget is CPU time of this process (1 thread): the 2 shared cores run ~5 other jobs, so wall time
# would give each row what the others left it; CPU seconds are what an idle machine would take
CLOCK = time.process_time


def notebook_namespace(path: Path, params: dict, stop_marker: str) -> dict:
    """Run the notebook's code cells up to (not including) the first whose source starts with stop_marker."""
    from common.notebook.run_script import notebook_code
    ns = {"__name__": "__main__"}
    for src in notebook_code(path, params):
        if src.lstrip().startswith(stop_marker):
            break
        exec(compile(src, str(path), "exec"), ns)
    return ns


def lr_at(frac: float, warm: float, step: int = 0, warm_steps: int = 0, warm_end: float = 0.0) -> float:
    """Linear warm-up (over ``warm`` of the time, or ``warm_steps`` steps), then cosine to 0 at the end."""
    if warm_steps:
        if step < warm_steps:
            return (step + 1) / warm_steps
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warm_end) / max(1e-9, 1 - warm_end))))
    if frac < warm:
        return frac / warm
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warm) / max(1e-9, 1 - warm))))


def timed_train(model, loss_fn, loader, sampler, seconds: float, lr: float, weight_decay: float, warm: float,
                max_grad_norm: float, on_epoch=None, params=None, warm_steps: int = 0, max_epochs=None) -> dict:
    """Train until ``seconds`` of CPU time are spent or ``max_epochs`` are done (a stage of TIME_BUDGET
    ends at whichever comes first); the schedule's progress is the larger of the two fractions."""
    import torch
    params = list(params if params is not None else model.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    t0, steps, epoch, losses, warm_end = CLOCK(), 0, 0, [], 0.0
    model.train()
    per_epoch = len(sampler)
    while True:
        if max_epochs is not None and epoch >= max_epochs:
            return {"steps": steps, "epochs": epoch, "loss": sum(losses[-20:]) / max(1, len(losses[-20:]))}
        sampler.set_epoch(epoch)
        if on_epoch:
            on_epoch(epoch)
        for batch in loader:
            frac = (CLOCK() - t0) / seconds
            if max_epochs:
                frac_steps = steps / (max_epochs * per_epoch)
                frac = max(frac, frac_steps) if frac < 1 else frac
            if frac >= 1:
                return {"steps": steps, "epochs": epoch, "loss": sum(losses[-20:]) / max(1, len(losses[-20:]))}
            if steps == warm_steps:
                warm_end = frac
            for g in opt.param_groups:
                g["lr"] = lr * lr_at(frac, warm, steps, warm_steps, warm_end if steps >= warm_steps else 0.0)
            opt.zero_grad(set_to_none=True)
            loss, _ = loss_fn(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            opt.step()
            steps += 1
            losses.append(float(loss.detach()))
        epoch += 1


# ---------------------------------------------------------------------------------------------
def run_las(root: Path, minutes: float, overrides: dict, out: Path) -> dict:
    import torch
    from real_speech import load_split, score

    from common.notebook.run_notebooks import LAS_DEMO
    harness = {k: overrides.pop(k) for k in list(overrides) if k.startswith("_")}
    params = {**LAS_DEMO, **overrides, "DEMO": False, "DATA_ROOT": str(root), "OUTPUT_DIR": str(out),
              "PRETRAIN_LM_EPOCHS": 0}
    ns = notebook_namespace(REPO_ROOT / "hw3_rnn" / "las.ipynb", params, "ATTENTION_DIR")
    model, P = ns["model"], params
    total = minutes * 60
    warm_share = harness.get("_warm_share", P["CTC_WARMUP_EPOCHS"] / max(1, P["CTC_WARMUP_EPOCHS"] + P["EPOCHS"]))
    warm_frac = harness.get("_warm_frac", 0.1)
    info = {}
    t0 = CLOCK()
    if warm_share > 0 and model.ctc is not None:
        warm = ns["ListenerCTC"](model)
        info["warmup"] = timed_train(warm, ns["listener_ctc_loss"], ns["train_loader"], ns["train_sampler"],
                                     total * warm_share, P["LR"], ns["WEIGHT_DECAY"], warm_frac, ns["MAX_GRAD_NORM"],
                                     warm_steps=harness.get("_warm_steps", len(ns["train_loader"])),
                                     max_epochs=P["CTC_WARMUP_EPOCHS"])
    info["main"] = timed_train(model, ns["train_loss"], ns["train_loader"], ns["train_sampler"],
                               total - (CLOCK() - t0), P["LR"], ns["WEIGHT_DECAY"], warm_frac,
                               ns["MAX_GRAD_NORM"], on_epoch=ns["teacher"].set_epoch,
                               warm_steps=harness.get("_warm_steps", ns["WARMUP_EPOCHS"] * len(ns["train_loader"])))
    train_s = CLOCK() - t0
    model.eval()
    _, dev_t, vocab = load_split(root, "hw3p2", "dev-clean")
    _, test_t, _ = load_split(root, "hw3p2", "test-clean")
    VOCAB = ns["VOCAB"]

    def decode(loader, **kw):
        res = {}
        for batch in loader:
            res.update(zip(batch.ids, ns["decode_batch"](model, batch.features, batch.feature_lengths, **kw)))
        return [VOCAB.to_string(res[u]) for u in loader.dataset.ids]

    def ctc_head(loader):
        res = {}
        with torch.inference_mode():
            for batch in loader:
                enc, el = model.listener(batch.features, batch.feature_lengths)
                res.update(zip(batch.ids, ns["ctc_greedy_decode"](model.ctc(enc).float(), el)))
        return [VOCAB.to_string(res[u]) for u in loader.dataset.ids]

    row = {"train_s": train_s, **{f"{k}_{kk}": v for k, d in info.items() for kk, v in d.items()}}
    systems = {"greedy": {}, "beam_ctc": {"beam_width": 4, "length_penalty": 1.0, "ctc_weight": 0.5}}
    for name, kw in systems.items():
        row[f"dev_{name}"] = score("hw3p2", decode(ns["dev_loader"], **kw), dev_t)
    if model.ctc is not None:
        row["dev_ctc_head"] = score("hw3p2", ctc_head(ns["dev_loader"]), dev_t)
        row["test_ctc_head"] = score("hw3p2", ctc_head(ns["test_loader"]), test_t)
    row["test_beam_ctc"] = score("hw3p2", decode(ns["test_loader"], **systems["beam_ctc"]), test_t)
    row["parameters"] = int(sum(p.numel() for p in model.parameters()))
    return row


def run_baseline_row(root: Path, layout: str, minutes: float, seed: int = 11785) -> dict:
    """real_speech.py's plain baseline (same model, data, AdamW 2e-3, wd 0.01, 4000 frames, clip 5), its
    OneCycle as lr_at(warm=0.3) over CPU time like the rows here, greedy CTC."""
    import torch
    from real_speech import build_baseline, load_split, score
    from torch import nn

    from common.speech.decoding import ctc_greedy_decode
    from common.speech.utterances import BucketBatchSampler, collate_utterances
    train, _, vocab = load_split(root, layout, "train-clean-100")
    dev, dev_t, _ = load_split(root, layout, "dev-clean")
    test, test_t, _ = load_split(root, layout, "test-clean")
    blank = vocab.blank if vocab.blank is not None else vocab.pad
    torch.manual_seed(seed)
    model = build_baseline(train.dim, len(vocab))
    sampler = BucketBatchSampler(train.feature_lengths, 4000, shuffle=True, seed=seed)
    ctc = nn.CTCLoss(blank=blank, zero_infinity=True)

    class Loader:
        def __iter__(self):
            for idx in sampler:
                yield collate_utterances([train[i] for i in idx])

    def loss_fn(m, batch):
        lp, lengths = m(batch.features.float(), batch.feature_lengths)
        return ctc(lp.log_softmax(-1).transpose(0, 1), batch.targets, lengths, batch.target_lengths), {}

    info = timed_train(model, loss_fn, Loader(), sampler, minutes * 60, 2e-3, 0.01, 0.3, 5.0)

    @torch.inference_mode()
    def decode(store):
        model.eval()
        hyps = [None] * len(store)
        for idx in BucketBatchSampler(store.feature_lengths, 20_000, shuffle=False):
            b = collate_utterances([store[i] for i in idx])
            lp, lengths = model(b.features.float(), b.feature_lengths)
            for i, h in zip(idx, ctc_greedy_decode(lp.log_softmax(-1), lengths, blank=blank)):
                hyps[i] = vocab.to_string(h)
        return hyps

    return {**info, "dev": score(layout, decode(dev), dev_t), "test": score(layout, decode(test), test_t)}


def main(argv=None) -> int:
    import torch
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", choices=["las", "hw4p2"])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rows", nargs="+", required=True, help="names of ROWS below")
    parser.add_argument("--out", default=str(REPO_ROOT / "runs" / "seq2seq_tuning"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = REPO_ROOT / "data" / "real"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{args.notebook}.jsonl"
    for name in args.rows:
        t0 = time.perf_counter()
        if name.startswith("baseline"):
            layout = "hw3p2" if args.notebook == "las" else "hw4p2"
            root = data / ("11-785-f24-hw3p2" if layout == "hw3p2" else "hw4p2")
            seed = int(name.removeprefix("baseline_seed")) if name.startswith("baseline_seed") else 11785
            row = run_baseline_row(root, layout, args.minutes, seed)     # "baseline" or "baseline_seed<N>"
        else:
            overrides = dict(ROWS[args.notebook][name])
            torch.manual_seed(overrides.get("SEED", 11785))
            if args.notebook == "las":
                row = run_las(data / "11-785-f24-hw3p2", args.minutes, overrides, out / f"las_{name}")
            else:
                row = run_hw4p2(data / "hw4p2", args.minutes, overrides, out / f"hw4p2_{name}")
        row = {"row": name, "minutes": args.minutes, "wall_s": time.perf_counter() - t0,
               "time": time.strftime("%H:%M:%S"), **row}
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


def run_hw4p2(root: Path, minutes: float, overrides: dict, out: Path) -> dict:
    import torch
    from real_speech import load_split, score

    from common.notebook.run_notebooks import HW4P2_DEMO
    from common.speech.decoding import ctc_greedy_decode
    harness = {k: overrides.pop(k) for k in list(overrides) if k.startswith("_")}
    params = {**HW4P2_DEMO, **overrides, "DEMO": False, "DATA_ROOT": str(root), "OUTPUT_DIR": str(out),
              "LM_CHECKPOINT": None}
    out.mkdir(parents=True, exist_ok=True)
    ns = notebook_namespace(REPO_ROOT / "hw4_transformer" / "hw4p2.ipynb", params, "optimizer = torch.optim.AdamW")
    model, P = ns["model"], {**ns, **params}
    total = minutes * 60
    lm_share = harness.get("_lm_share", P["LM_EPOCHS"] / max(1, P["LM_EPOCHS"] + P["EPOCHS"])) if P["LM_EPOCHS"] else 0
    warm_frac = harness.get("_warm_frac", 0.1)
    info = {}
    t0 = CLOCK()
    if lm_share > 0:
        info["lm"] = timed_train(ns["lm_model"], lambda m, b: ns["lm_loss"](m, b), ns["lm_train_loader"],
                                 ns["lm_sampler"], total * lm_share, P["LM_LR"], P["WEIGHT_DECAY"], warm_frac,
                                 P["MAX_GRAD_NORM"], max_epochs=P["LM_EPOCHS"])
        ns["export_lm"]()
        ns["init_decoder"]()
    freeze = ns["FreezeLM"](model.decoder, P["FREEZE_LM_EPOCHS"])
    info["main"] = timed_train(model, ns["joint_loss"], ns["train_loader"], ns["train_sampler"],
                               total - (CLOCK() - t0), P["LR"], P["WEIGHT_DECAY"], warm_frac,
                               P["MAX_GRAD_NORM"], on_epoch=freeze.set_epoch,
                               warm_steps=harness.get("_warm_steps", P["WARMUP_STEPS"]))
    train_s = CLOCK() - t0
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    vocab = ns["vocab"]
    _, test_t, _ = load_split(root, "hw4p2", "test-clean")
    dev_t = ns["dev_refs"]

    def ctc_decode(features, lengths):
        _, enc_lengths, ctc_logits = model.encoder(features, lengths)
        return ctc_greedy_decode(ctc_logits.float().log_softmax(-1), enc_lengths, blank=vocab.pad)

    def beam(ctc_weight):
        def decode(features, lengths):
            return ns["beam_decode"](model, features, lengths, vocab.sos, vocab.eos, vocab.pad,
                                     ns["max_tokens"](lengths), 4, P["LENGTH_PENALTY"], ctc_weight)
        return decode

    def ctc_lm(lm_weight, bonus):                  # the notebook's CTC-head prefix beam search, the LM fused
        from common.lm import NeuralLM
        lm = NeuralLM(ns["lm_model"].eval(), sos=vocab.sos, eos=vocab.eos, vocab_size=len(vocab))
        return lambda features, lengths: ns["ctc_beam_decode"](model, features, lengths, 8, lm, lm_weight, bonus)

    torch.save({"model": model.state_dict(), "lm": ns["lm_model"].state_dict()}, out / "trained.pt")
    row = {"train_s": train_s, **{f"{k}_{kk}": v for k, d in info.items() for kk, v in d.items()}}
    systems = {"greedy": ns["greedy"], "ctc": ctc_decode, "beam_ctc": beam(0.3)}
    with torch.inference_mode():
        for name, decode in systems.items():
            row[f"dev_{name}"] = score("hw4p2", ns["decode_store"](model, ns["dev_set"], decode), dev_t)
        grid = {(w, b): score("hw4p2", ns["decode_store"](model, ns["dev_set"], ctc_lm(w, b)), dev_t)
                for w in (0.0, 0.2, 0.4, 0.6) for b in (0.0, 1.0)}
        (w, b), row["dev_ctc_lm"] = min(grid.items(), key=lambda kv: kv[1])
        row["ctc_lm_weight"], row["ctc_lm_bonus"] = w, b
        systems["ctc_lm"] = ctc_lm(w, b)
        for name in ("ctc", "beam_ctc", "ctc_lm"):
            row[f"test_{name}"] = score("hw4p2", ns["decode_store"](model, ns["test_set"], systems[name]), test_t)
    row["parameters"] = int(sum(p.numel() for p in model.parameters()))
    return row


# The presets these rows were measured against (RESULTS.md, "LAS and HW4P2 on real speech" and "HW4P2 on real
# speech: the BiLSTM embedding"); "preset" is always the current one of common/notebook/run_notebooks.py
OLD_HW4P2 = {"CONV_KERNEL": 15, "FREQ_MASKS": 0, "TIME_MASKS": 0, "CTC_WEIGHT": 0.7, "DROPOUT": 0.05, "EPOCHS": 40}
OLD_LAS = {"LR": 3e-3, "CTC_WEIGHT": 0.5, "LOCKED_DROPOUT": 0.0, "DROPOUT": 0.0, "LABEL_SMOOTHING": 0.0,
           "TIME_WIDTH": 8, "FREQ_WIDTH": 3, "TF_FLOOR": 0.9, "EPOCHS": 24}
ROWS = {
    "las": {
        "preset": {},
        "nowarm": {"CTC_WARMUP_EPOCHS": 0},
        "lr1e-3": {"LR": 1e-3},
        "lr6e-3": {"LR": 6e-3},
        "frames2000": {"MAX_FRAMES": 2000},
        "noreg": {"LOCKED_DROPOUT": 0.0, "DROPOUT": 0.0, "LABEL_SMOOTHING": 0.0},
        "noaug": {"TIME_MASKS": 0, "FREQ_MASKS": 0},
        "ctc0.8": {"CTC_WEIGHT": 0.8},
        "tf1": {"TF_FLOOR": 1.0},
        "wide": {"LISTENER_HIDDEN": 192, "CONV_CHANNELS": 128},
        "warm20": {"CTC_WARMUP_EPOCHS": 20},
        "stride2_pyr1": {"CONV_STRIDE": 2, "PYRAMID_LAYERS": 1},
        "warm20_wide_noreg": {"CTC_WARMUP_EPOCHS": 20, "LISTENER_HIDDEN": 192, "CONV_CHANNELS": 128,
                              "LOCKED_DROPOUT": 0.0, "DROPOUT": 0.0, "LABEL_SMOOTHING": 0.0},
        "wide_noreg": {"LISTENER_HIDDEN": 192, "CONV_CHANNELS": 128, "LOCKED_DROPOUT": 0.0, "DROPOUT": 0.0,
                       "LABEL_SMOOTHING": 0.0},
        "old_preset": OLD_LAS,
        "recipe_defaults_lr3e-3": {"LR": 3e-3},       # the current preset (the recipe at CPU size) with lr 3e-3
        "wide_noreg_ctc0.8": {"LISTENER_HIDDEN": 192, "CONV_CHANNELS": 128, "LOCKED_DROPOUT": 0.0, "DROPOUT": 0.0,
                              "LABEL_SMOOTHING": 0.0, "CTC_WEIGHT": 0.8},
    },
    "hw4p2": {k: {**OLD_HW4P2, **v} for k, v in {
        "old_preset": {"LSTM_LAYERS": 0},
        "nolm": {"LSTM_LAYERS": 0, "LM_EPOCHS": 0, "FREEZE_LM_EPOCHS": 0},
        "frames3000": {"LSTM_LAYERS": 0, "MAX_FRAMES": 3000},
        "warm30": {"LSTM_LAYERS": 0, "_warm_steps": 30},
        "lr1e-3": {"LSTM_LAYERS": 0, "LR": 1e-3},
        "enc4": {"LSTM_LAYERS": 0, "ENC_LAYERS": 4},
        "ctc1": {"LSTM_LAYERS": 0, "CTC_WEIGHT": 1.0},
        "lstm96": {"LSTM_LAYERS": 1, "LSTM_HIDDEN": 96},
        "lstm192": {"LSTM_LAYERS": 1},
        "lstm192_seed1": {"LSTM_LAYERS": 1, "SEED": 1},
        "lstm192_conv64": {"LSTM_LAYERS": 1, "CONV_CHANNELS": 64},
        "lstm192_frames3000": {"LSTM_LAYERS": 1, "MAX_FRAMES": 3000},
        "lstm192_aug": {"LSTM_LAYERS": 1, "FREQ_MASKS": 2, "TIME_MASKS": 2},
        "lstm192_ctc0.3": {"LSTM_LAYERS": 1, "CTC_WEIGHT": 0.3},
        "lstm192_recipe": {"LSTM_LAYERS": 1, "FREQ_MASKS": 2, "TIME_MASKS": 2, "CTC_WEIGHT": 0.3, "DROPOUT": 0.1},
        "lstm2x192": {"LSTM_LAYERS": 2},
        "lstm2x192_recipe": {"LSTM_LAYERS": 2, "FREQ_MASKS": 2, "TIME_MASKS": 2, "CTC_WEIGHT": 0.3, "DROPOUT": 0.1},
        "lstm2x192_recipe_lr1e-3": {"LSTM_LAYERS": 2, "FREQ_MASKS": 2, "TIME_MASKS": 2, "CTC_WEIGHT": 0.3,
                                    "DROPOUT": 0.1, "LR": 1e-3, "LM_LR": 1e-3},
    }.items()} | {"preset": {}, "preset_seed1": {"SEED": 1}, "conv15": {"CONV_KERNEL": 15},
                  "conv15_seed1": {"CONV_KERNEL": 15, "SEED": 1}, "preset_seed2": {"SEED": 2},
                  "conv15_seed2": {"CONV_KERNEL": 15, "SEED": 2}, "conv15_seed3": {"CONV_KERNEL": 15, "SEED": 3},
                  "conv15_seed4": {"CONV_KERNEL": 15, "SEED": 4}, "lr5e-3": {"LR": 5e-3}, "enc1": {"ENC_LAYERS": 1}},
}

if __name__ == "__main__":
    sys.exit(main())
