"""HW2P2's ``make demo`` preset against its own recipe at CPU size and a plain baseline (issue 23),
each trained for the same time on the synthetic demo faces.

There is no real face set on our machines, so this runs on the notebook's demo faces (``DEMO=True``,
``--size``, default small: 96 identities x 12 training images, 400 validation pairs, 400 test pairs,
drawn by ``common.demo.faces``): it says which recipe learns the demo in a CPU budget, not what the
competition scores. Contenders, each given ``--minutes`` of training (the notebook's ``TIME_BUDGET``:
wall-clock, evaluation after every epoch included) and at most ``--epochs`` epochs:

- ``adamw-preset``: the notebook with ``make demo``'s ``HW2_DEMO`` (the sizes below plus AdamW lr 5e-3,
  weight decay 0.05, ERASE_P 0.1; kept after this comparison, benchmarks/RESULTS.md, issue 23);
- ``recipe``: the notebook's own recipe with only sizes shrunk (``SIZES``: 64-pixel input, widths
  32..256, one block per stage, embedding 128, batch 64) and the learning rate that the batch size
  implies: SGD lr 0.1 x 64/256 = 0.025 (linear scaling; the recipe's 0.1 is for batch 256), weight
  decay 5e-4, ERASE_P 0.25, label smoothing, dropout, EMA and flip TTA as in the notebook;
- ``recipe-lr0.1``: the same with the recipe's lr 0.1 unscaled;
- ``recipe-b256``: the recipe's batch 256 and lr 0.1 (4 steps per epoch on the small set);
- ``baseline``: a plain CNN written here: four conv3x3-BN-ReLU-maxpool blocks (32, 64, 128, 256
  channels), global average pool, a linear embedding (128), a linear classifier; cross-entropy, Adam
  lr 1e-3 (constant), random horizontal flips only, batch 64, 64-pixel input; the same loader and
  images. Scored like the notebook: dev classification accuracy, and EER/AUC of the cosine similarity
  of the embeddings on ``val_pairs.txt`` (no flip TTA: plain), the checkpoint of the epoch with the
  best validation EER (as the notebook's ``best.pt``); the test pairs are scored against ``demo_truth``.

Ablations of the notebook (``--only``): ``-flips`` = random flips as the only augmentation (no crop,
colour jitter or erasing), ``-nols`` = no label smoothing and no dropout, on ``adamw-preset``,
``recipe`` or ``recipe-lr0.1``; ``adamw-plain`` = both and no EMA; ``adamw-plain-lr1e-3`` = that with Adam's
lr 1e-3 and no weight decay, as the baseline.

Every run uses ``--threads`` torch threads (default 1) and no DataLoader workers (JPEG decoding in the
training process, for all contenders alike). Contenders run interleaved (seed by seed, one after the
other), so a change of load on a shared machine hits them alike; each row also gives the CPU seconds
the run got per wall second (``cpu/wall``: below 1 means other jobs took the core).

    python benchmarks/hw2_preset.py                                  # 3 contenders x 2 seeds, ~16 min
    python benchmarks/hw2_preset.py --only baseline recipe --seeds 1 --minutes 1
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT, cpu_name, parse_with_threads  # noqa: E402

NOTEBOOK = REPO_ROOT / "hw2_cnn" / "hw2p2.ipynb"
# what the CPU forces: input size, network size, and a batch that gives the 1,152 demo images 18 steps per epoch
SIZES = {"IMAGE_SIZE": 64, "STEM_STRIDE": 1, "WIDTHS": [32, 64, 128, 256], "DEPTHS": [1, 1, 1, 1],
         "EMBEDDING_DIM": 128, "BATCH_SIZE": 64}
CONTENDERS = {
    "adamw-preset": {**SIZES, "OPTIMIZER": "adamw", "LR": 5e-3, "WEIGHT_DECAY": 0.05, "ERASE_P": 0.1,
                     "ZERO_INIT_RESIDUAL": False},
    "recipe": {**SIZES, "LR": 0.1 * SIZES["BATCH_SIZE"] / 256},
    "recipe-lr0.1": {**SIZES, "LR": 0.1},
    "recipe-b256": {**SIZES, "BATCH_SIZE": 256, "LR": 0.1},
    "baseline": None,
}
# the preset before the cause of its gap to the baseline was found: residual blocks zero-initialised (the
# notebook's default); the ablations below are of it
CONTENDERS["adamw-zeroinit"] = {**CONTENDERS["adamw-preset"], "ZERO_INIT_RESIDUAL": True}
# ablations: what holds the notebook back at CPU size (augmentation, label smoothing and dropout)
FLIPS_ONLY = {"CROP_SCALE": [1.0, 1.0], "CROP_RATIO": [1.0, 1.0], "BRIGHTNESS": 0.0, "CONTRAST": 0.0,
              "SATURATION": 0.0, "HUE": 0.0, "ERASE_P": 0.0}
NO_LS_DROPOUT = {"LABEL_SMOOTHING": 0.0, "DROPOUT": 0.0}
CONTENDERS.update({
    "adamw-flips": {**CONTENDERS["adamw-zeroinit"], **FLIPS_ONLY},
    "adamw-flips-nols": {**CONTENDERS["adamw-zeroinit"], **FLIPS_ONLY, **NO_LS_DROPOUT},
    "adamw-nols": {**CONTENDERS["adamw-zeroinit"], **NO_LS_DROPOUT},
    "recipe-flips": {**CONTENDERS["recipe"], **FLIPS_ONLY},
    "recipe-lr0.1-flips": {**CONTENDERS["recipe-lr0.1"], **FLIPS_ONLY},
    # every regulariser off (flips only, no label smoothing, dropout or EMA), then also the baseline's Adam lr 1e-3
    "adamw-plain": {**CONTENDERS["adamw-zeroinit"], **FLIPS_ONLY, **NO_LS_DROPOUT, "EMA": False},
    "adamw-plain-lr1e-3": {**CONTENDERS["adamw-zeroinit"], **FLIPS_ONLY, **NO_LS_DROPOUT, "EMA": False, "LR": 1e-3,
                           "WEIGHT_DECAY": 0.0},
})
# ablations of the network, which no notebook parameter reaches: source edits applied to a copy of the notebook
# (each ``old`` must occur exactly once). ``nobn``: the embedding is the linear layer alone (with a bias, as the
# baseline's), no BatchNorm1d after it; ``s1``: the first stage keeps the stem's resolution (stride 1), so the
# stages run at 64/32/16/8 pixels as the baseline's convolutions do, instead of 32/16/8/4
NO_BN_EMBEDDING = ("nn.Linear(backbone.out_channels, embedding_dim, bias=False),\n"
                   "                                       nn.BatchNorm1d(embedding_dim))",
                   "nn.Linear(backbone.out_channels, embedding_dim))")
STAGE1_STRIDE1 = ("layers.append(Block(c_in, width, stride=2 if i == 0 else 1))",
                  "layers.append(Block(c_in, width, stride=2 if i == 0 and layers else 1))")
# ``plainnet``: each stage (DEPTHS 1) the baseline's conv3x3-BN-ReLU-maxpool instead of a residual block with a
# stride-2 convolution (the stem stays): the baseline's backbone inside the notebook's training and evaluation
PLAIN_STAGES = ("layers.append(Block(c_in, width, stride=2 if i == 0 else 1))",
                "layers.append(nn.Sequential(nn.Conv2d(c_in, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), "
                "nn.ReLU(inplace=True), nn.MaxPool2d(2)))")
# the residual blocks (``ZERO_INIT_RESIDUAL`` False is a parameter, set by ``adamw-preset``); ``avgdown``: a
# downsampling block's shortcut average-pools 2x2 before its 1x1 convolution (ResNet-D, He et al. 2019)
# instead of a 1x1 convolution at stride 2, which drops 3 of every 4 positions
AVG_DOWN = ("nn.Sequential(\n            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))",
            "nn.Sequential(\n            nn.AvgPool2d(stride) if stride > 1 else nn.Identity(), "
            "nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))")
PATCHES = {}
for _suffix, _patches in {"nobn": [NO_BN_EMBEDDING], "s1": [STAGE1_STRIDE1],
                          "nobn-s1": [NO_BN_EMBEDDING, STAGE1_STRIDE1], "plainnet": [PLAIN_STAGES],
                          "nobn-plainnet": [NO_BN_EMBEDDING, PLAIN_STAGES], "avgdown": [AVG_DOWN]}.items():
    for _base in ("adamw-plain", "adamw-zeroinit", "adamw-preset"):
        CONTENDERS[f"{_base}-{_suffix}"] = CONTENDERS[_base]
        PATCHES[f"{_base}-{_suffix}"] = _patches
CONTENDERS["adamw-plain-notta"] = {**CONTENDERS["adamw-plain"], "FLIP_TTA": False}
CONTENDERS["adamw-plain-nozero"] = {**CONTENDERS["adamw-plain"], "ZERO_INIT_RESIDUAL": False}
# the embedding against the class count: the demo's 96 identities constrain at most 95 directions of a linear
# classifier's input, so in a 128-wide BatchNorm'd embedding some directions are never trained, but scaled to unit
# variance all the same (and in the cosine); d64 / d32: EMBEDDING_DIM 64 / 32, below the class count
for _dim in (64, 32):
    for _base in ("adamw-plain", "adamw-zeroinit"):
        CONTENDERS[f"{_base}-d{_dim}"] = {**CONTENDERS[_base], "EMBEDDING_DIM": _dim}
DEFAULT = ("adamw-preset", "recipe", "baseline")


def patched_notebook(name: str, out_dir: Path) -> Path:
    """The notebook, or for a contender in ``PATCHES`` a copy with its source edits (in ``out_dir``: inside the
    checkout, where the notebook finds ``common``)."""
    if name not in PATCHES:
        return NOTEBOOK
    nb = json.loads(NOTEBOOK.read_text())
    for old, new in PATCHES[name]:
        hits = [c for c in nb["cells"] if old in "".join(c["source"])]
        if len(hits) != 1 or "".join(hits[0]["source"]).count(old) != 1:
            raise ValueError(f"{name}: the notebook no longer has exactly one {old!r}")
        hits[0]["source"] = "".join(hits[0]["source"]).replace(old, new).splitlines(keepends=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"hw2p2_{name}.ipynb"
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return path


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_notebook_contender(name: str, size: str, minutes: float, epochs: int, seed: int, threads: int,
                           out_dir: Path) -> dict:
    from common.notebook.execute import run_notebook
    params = {**CONTENDERS[name], "DEMO": True, "DEMO_SIZE": size,
              "DEMO_DIR": str(REPO_ROOT / "data" / "demo" / size), "TIME_BUDGET": minutes, "EPOCHS": epochs,
              "SEED": seed, "CPU_THREADS": threads, "WORKERS": 0}
    t0, c0 = time.perf_counter(), _children_cpu()
    m = run_notebook(patched_notebook(name, out_dir.parent / "notebooks"), out_dir, params, timeout=3600)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0      # the kernel: a child, reaped at shutdown
    return {"dev_accuracy": m["dev_accuracy"], "val_eer": m["val_eer"], "val_auc": m["val_auc"],
            "test_eer": m.get("test_eer"), "test_auc": m.get("test_auc"), "epochs": m["epochs"],
            "best_epoch": m["best_epoch"], "train_s": m["train_time_s"], "parameters": m["parameters"],
            "cpu_per_wall": cpu / wall, "wall_s": wall}


# ---------------------------------------------------------------------------------------------
# the plain baseline
def build_baseline(classes: int, widths=(32, 64, 128, 256), dim: int = 128):
    from torch import nn

    class PlainCNN(nn.Module):
        """[conv3x3 -> BN -> ReLU -> maxpool 2] x 4 -> global average pool -> linear embedding; a linear
        classifier on the embedding for training."""

        def __init__(self):
            super().__init__()
            layers, c = [], 3
            for w in widths:
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                           nn.MaxPool2d(2)]
                c = w
            self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.embedding = nn.Linear(c, dim)
            self.classifier = nn.Linear(dim, classes)

        def forward(self, x):
            return self.embedding(self.features(x))

    return PlainCNN()


def run_baseline(size: str, minutes: float, epochs: int, seed: int, image_size: int = 64, batch: int = 64) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from common.demo.faces import write_hw2p2
    from common.faces.augment import prepare_eval
    from common.faces.folders import scan_split
    from common.faces.images import FaceImages, make_loader
    from common.faces.pairs import read_pairs
    from common.layouts import check_hw2p2_root
    from common.metrics import verification_metrics

    paths = check_hw2p2_root(write_hw2p2(REPO_ROOT / "data" / "demo" / size, size=size, seed=0))
    train_list = scan_split(paths["cls_data"] / "train")
    dev_list = scan_split(paths["cls_data"] / "dev", train_list.class_to_idx)
    val = read_pairs(paths["val_pairs"], paths["ver_data"], labelled=True)
    test = read_pairs(paths["test_pairs"], paths["ver_data"], labelled=False)
    test_labels = np.loadtxt(paths["root"] / "demo_truth" / "test_pairs_labels.txt", dtype=np.int64)
    torch.manual_seed(seed)
    model = build_baseline(len(train_list.classes))
    n_params = sum(p.numel() for p in model.parameters())
    train_loader = make_loader(FaceImages.from_list(train_list, size=image_size), batch, shuffle=True,
                               drop_last=True, seed=seed)
    dev_loader = make_loader(FaceImages.from_list(dev_list, size=image_size), 256)
    val_loader = make_loader(FaceImages(val.images, size=image_size), 256)
    test_loader = make_loader(FaceImages(test.images, size=image_size), 256)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    @torch.inference_mode()
    def embed(loader, flip=False):
        model.eval()
        out = []
        for x, _ in loader:
            x = prepare_eval(x, image_size, channels_last=False)
            e = model(x) + (model(x.flip(-1)) if flip else 0)
            out.append(F.normalize(e, dim=1))
        model.train()
        return torch.cat(out)

    def ver(loader, pairs, labels, flip=False):
        e = embed(loader, flip)
        scores = (e[torch.as_tensor(pairs.left)] * e[torch.as_tensor(pairs.right)]).sum(1).numpy()
        return verification_metrics(scores, labels)

    @torch.inference_mode()
    def dev_accuracy():
        model.eval()
        correct = n = 0
        for x, y in dev_loader:
            correct += int((model.classifier(model(prepare_eval(x, image_size, channels_last=False))).argmax(-1)
                            == y).sum())
            n += len(y)
        model.train()
        return correct / n

    budget, spent, best, history = minutes * 60, 0.0, None, []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        for x, y in train_loader:
            x = prepare_eval(x, image_size, channels_last=False)
            flip = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            loss = F.cross_entropy(model.classifier(model(x)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        v = ver(val_loader, val, val.labels)                     # evaluation counts, as in the notebook's fit
        row = {"epoch": epoch, "loss": float(loss.detach()), "val_eer": v["eer"], "val_auc": v["auc"]}
        if best is None or v["eer"] < best[0]["val_eer"]:
            best = (row, copy.deepcopy(model.state_dict()))
        spent += time.perf_counter() - t0
        history.append(row)
        if spent + spent / epoch > budget:                       # the next epoch would not end in time
            break
    row, state = best
    model.load_state_dict(state)
    t = ver(test_loader, test, test_labels)
    v_tta = ver(val_loader, val, val.labels, flip=True)
    return {"dev_accuracy": dev_accuracy(), "val_eer": row["val_eer"], "val_auc": row["val_auc"],
            "test_eer": t["eer"], "test_auc": t["auc"], "val_eer_flip_tta": v_tta["eer"], "epochs": len(history),
            "best_epoch": row["epoch"], "train_s": spent, "parameters": n_params, "history": history}


# ---------------------------------------------------------------------------------------------
def table(results: list[dict]) -> str:
    fmt = (lambda v, d=3: "-" if v is None else f"{v:.{d}f}")  # noqa: E731
    rows = ["| contender | seed | dev accuracy | val EER | val AUC | test EER | test AUC | epochs (best) "
            "| train s | cpu/wall | parameters |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['contender']} | {r['seed']} | {r['dev_accuracy']:.1%} | {fmt(r['val_eer'])} | "
                    f"{fmt(r['val_auc'])} | {fmt(r.get('test_eer'))} | {fmt(r.get('test_auc'))} | "
                    f"{r['epochs']} ({r['best_epoch']}) | {r['train_s']:.0f} | {fmt(r.get('cpu_per_wall'), 2)} | "
                    f"{r['parameters']:,} |")
    by = {}
    for r in results:
        by.setdefault(r["contender"], []).append(r)
    rows += ["", "| contender | seeds | mean dev accuracy | mean val EER | mean val AUC | mean test EER |",
             "|---|---|---|---|---|---|"]
    def mean(rs, k):
        vals = [r[k] for r in rs if r.get(k) is not None]
        return sum(vals) / len(vals) if vals else None
    for name, rs in by.items():
        rows.append(f"| {name} | {len(rs)} | {mean(rs, 'dev_accuracy'):.1%} | {fmt(mean(rs, 'val_eer'))} | "
                    f"{fmt(mean(rs, 'val_auc'))} | {fmt(mean(rs, 'test_eer'))} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="TIME_BUDGET of each run (training minutes)")
    parser.add_argument("--epochs", type=int, default=30, help="the epoch cap of every contender")
    parser.add_argument("--size", default="small", help="demo size: tiny | small | medium")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11785, 1])
    parser.add_argument("--only", nargs="*", choices=list(CONTENDERS), help=f"contenders (default: {DEFAULT})")
    parser.add_argument("--out", default=str(REPO_ROOT / "runs" / "hw2_preset"))
    args = parse_with_threads(parser, argv, threads=1, device=None)
    out = Path(args.out)
    names = args.only or list(DEFAULT)
    print(f"{cpu_name()}, {os.cpu_count()} cores, {args.threads} thread(s); demo faces '{args.size}'; "
          f"{args.minutes:g} min, at most {args.epochs} epochs each; load average {os.getloadavg()[0]:.2f}",
          flush=True)
    results = []
    for seed in args.seeds:
        for name in names:
            load = os.getloadavg()[0]
            if name == "baseline":
                c0, w0 = time.process_time(), time.perf_counter()
                r = run_baseline(args.size, args.minutes, args.epochs, seed)
                r["cpu_per_wall"] = (time.process_time() - c0) / (time.perf_counter() - w0)
            else:
                r = run_notebook_contender(name, args.size, args.minutes, args.epochs, seed, args.threads,
                                           out / f"{name}_seed{seed}")
            r.update(contender=name, seed=seed, load_before=load)
            results.append(r)
            print(f"   {name} seed {seed}: dev {r['dev_accuracy']:.1%}, val EER {r['val_eer']:.3f}, "
                  f"AUC {r['val_auc']:.3f}, test EER {r['test_eer']:.3f}; {r['epochs']} epochs in "
                  f"{r['train_s']:.0f} s, cpu/wall {r['cpu_per_wall']:.2f}, load {load:.2f}", flush=True)
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
