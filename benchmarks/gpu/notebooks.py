"""Training throughput of each Part 2 notebook's default model on synthetic tensors of the real
shapes, and the minutes one epoch of the real training data would take on this device.

The model, its loss function and its optimizer come from the notebook itself (``load_notebook``):
its parameters cell runs, then the overrides (as papermill would inject them: the smoke sizes),
then every other code cell's top-level imports, definitions, assignments and ``if`` blocks, one
statement at a time. Statements that fail because they need the data (``train_set``, the data
folder) are skipped; statements that would train, read or write files are never run. Small
stand-ins give the model cell what it reads from the data (``train_set.dim``, ``num_classes``,
``V``). Each measurement runs ``common.engine.train.train_epoch`` (what ``fit`` runs per epoch: autocast,
gradient scaling, clipping, EMA) over a few batches after a warm-up.

Real sizes (F24 data): HW1P2 36.2M training frames; HW2P2 ``HW2_TRAIN_IMAGES`` images; HW3P2 and
HW4P2 train-clean-100: 28,539 utterances of 1,268 frames on average (36.2M frames), drawn here from
a lognormal around that mean, batched by the notebook's ``BucketBatchSampler`` and ``MAX_FRAMES``;
the timed batches are spread over the batch lengths and the epoch is their mean time x the epoch's
batch count. HW4P1: WikiText-2's training tokens.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import tempfile
import time
from itertools import islice
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]

HW1_TRAIN_FRAMES = 36_200_000          # train-clean-100, 10 ms frames (common/speech/utterances.py)
HW2_TRAIN_IMAGES = 140_000             # F24 cls_data/train, 8,631 identities (estimate; --hw2-images)
HW2_IDENTITIES = 8_631
SPEECH_UTTERANCES = 28_539             # train-clean-100
SPEECH_MEAN_FRAMES = 1_268             # 36.2M frames / 28,539 utterances (12.7 s)
SPEECH_SIGMA = 0.3                     # lognormal spread of the lengths (estimate)
PHONEMES_PER_FRAME = 0.12              # HW3 transcripts, [SIL] included (estimate)
CHARS_PER_FRAME = 0.15                 # HW4 transcripts, about 15 characters per second (estimate)
WIKITEXT2_TRAIN_TOKENS = 2_088_628

# calls never run while loading a notebook (training, file I/O, decoding, plots)
DENY = {"fit", "train_epoch", "evaluate", "check_call", "mkdir", "unlink", "rmtree", "savez", "save", "show",
        "savefig", "init_wandb", "set_epoch"}
DENY_PREFIXES = ("load", "write", "read", "save", "decode", "validate", "predict", "pretrain", "plot", "scan",
                 "check_", "locate")
SAFE = {"DEMO": False, "RESUME": False, "WANDB": False, "COMPILE": False}


def _called_names(node):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            yield f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _runnable(node) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True                       # bodies do not run now (decorators do, and are harmless)
    if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.If)):
        return False
    return not any(n in DENY or n.startswith(DENY_PREFIXES) for n in _called_names(node))


def load_notebook(path: Path, overrides: dict, stubs: dict) -> dict:
    """The notebook's namespace after its parameters cell, ``overrides``, and the runnable
    top-level statements of its other code cells (see the module docstring)."""
    cells = [c for c in json.loads(Path(path).read_text())["cells"] if c["cell_type"] == "code"]
    params = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if params is None:
        raise LookupError(f"{path} has no code cell tagged 'parameters'")
    out = Path(tempfile.mkdtemp(prefix="gpu_suite_"))
    ns: dict = {"__name__": "notebook_cells"}
    exec(compile("".join(params["source"]), f"{Path(path).name}[parameters]", "exec"), ns)
    unknown = sorted(k for k in overrides if k not in ns)
    if unknown:
        raise KeyError(f"{Path(path).name} has no parameter(s) {unknown}")
    ns.update(SAFE, OUTPUT_DIR=str(out), CHECKPOINT_DIR=str(out / "checkpoints"),
              DATA_ROOT=str(out / "no-data"), **overrides)
    ns.update(stubs)
    for i, cell in enumerate(cells):
        if cell is params:
            continue
        for node in ast.parse("".join(cell["source"])).body:
            if not _runnable(node):
                continue
            code = compile(ast.Module(body=[node], type_ignores=[]), f"{Path(path).name}[cell {i}]", "exec")
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    exec(code, ns)
                except Exception:         # needs the data (or a name defined by a skipped statement)
                    pass
    return ns


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _optimizer(ns, model):
    """The notebook's optimizer when it covers every trainable parameter, else AdamW."""
    opt = ns.get("optimizer")
    want = {id(p) for p in model.parameters() if p.requires_grad}
    if isinstance(opt, torch.optim.Optimizer):
        have = {id(p) for g in opt.param_groups for p in g["params"]}
        if want <= have:
            return opt
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)


def time_training(ns, model, compute_loss, warmup, timed) -> float:
    """Seconds of ``train_epoch`` over the iterable ``timed`` after one over ``warmup``."""
    from common.engine.device import amp_dtype, make_grad_scaler
    from common.engine.options import Precision, Stepping
    from common.engine.train import train_epoch

    device = ns["device"]
    dtype = ns.get("dtype") if "dtype" in ns else amp_dtype(device, enabled=ns.get("AMP", True))
    ema = ns.get("ema") if isinstance(ns.get("ema"), torch.optim.swa_utils.AveragedModel) else None
    kw = dict(device=device, precision=Precision(dtype, make_grad_scaler(device, dtype)),
              step=Stepping(max_grad_norm=ns.get("MAX_GRAD_NORM"), ema=ema))
    opt = _optimizer(ns, model)
    train_epoch(model, warmup, compute_loss, opt, desc="warm-up", **kw)
    _sync(device)
    t0 = time.perf_counter()
    train_epoch(model, timed, compute_loss, opt, desc="timed", **kw)
    _sync(device)
    return time.perf_counter() - t0


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def speech_lengths(n: int, mean: float, sigma: float, lo: int, hi: int, seed: int = 0) -> np.ndarray:
    """``n`` utterance lengths (frames): lognormal with mean ``mean``, clipped to [lo, hi]."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(mean) - sigma ** 2 / 2, sigma, n), lo, hi).round().astype(np.int64)


def synthetic_batch(lengths, dim: int, per_frame: float, tokens: tuple[int, int], pad: int, g, ids=None):
    """A SpeechBatch of random features (zero beyond each length) and random tokens in
    [tokens[0], tokens[1]) (``pad`` beyond each target length of ``per_frame`` x frames)."""
    from common.speech.utterances import SpeechBatch

    t = torch.as_tensor(np.asarray(lengths))
    n = (t.float() * per_frame).round().clamp(min=1).long()
    x = torch.randn(len(t), int(t.max()), dim, generator=g)
    x[torch.arange(x.size(1))[None, :] >= t[:, None]] = 0
    y = torch.randint(tokens[0], tokens[1], (len(t), int(n.max())), generator=g)
    y[torch.arange(y.size(1))[None, :] >= n[:, None]] = pad
    return SpeechBatch(x, t, y, n, [str(i) for i in (range(len(t)) if ids is None else ids)])


def speech_batches(lengths, max_frames: int, dim: int, per_frame: float, tokens: tuple[int, int], pad: int,
                   k: int, device, seed: int = 0):
    """(k SpeechBatches spread over the epoch's batch lengths, number of batches per epoch)."""
    from common.speech.utterances import BucketBatchSampler

    epoch = sorted((list(b) for b in BucketBatchSampler(lengths, max_frames, seed=seed)),
                   key=lambda b: int(lengths[b].max()))
    picks = sorted(set(np.linspace(0, len(epoch) - 1, min(k, len(epoch))).round().astype(int).tolist()))
    g = torch.Generator().manual_seed(seed)
    out = [synthetic_batch(lengths[epoch[j]], dim, per_frame, tokens, pad, g, ids=epoch[j]).to(device) for j in picks]
    return out, len(epoch)


def _speech_row(ns, model, loss, dim, per_frame, tokens, pad, cfg, unit="utterances"):
    lengths = speech_lengths(cfg["utterances"], cfg["mean_frames"], SPEECH_SIGMA, *cfg["clip"])
    batches, per_epoch = speech_batches(lengths, ns["MAX_FRAMES"], dim, per_frame, tokens, pad, cfg["k"],
                                        ns["device"])
    warm = [batches[0], batches[-1]][:cfg["warmup"]]
    sec = time_training(ns, model, loss, warm, batches)
    utts = sum(len(b) for b in batches)
    return {"rate": utts / sec, "unit": unit, "seconds_per_epoch": per_epoch * sec / len(batches),
            "detail": f"{len(batches)} of {per_epoch} batches of <= {ns['MAX_FRAMES']:,} padded frames"}


# ---- one function per notebook: (namespace, cfg) -> list of (label, model, result dict) ----

def hw1p2(ns, cfg):
    from hw1_pipeline import synthetic_store

    from common.speech.frames import FrameBatches

    model, device, B = ns.get("train_model", ns["model"]), ns["device"], ns["BATCH_SIZE"]
    w, n = cfg["warmup"], cfg["steps"]
    store = synthetic_store(B * (w + n + 1), ns["train_set"].feature_dim, ns["CONTEXT"],
                            utt_len=cfg["utt_len"]).to(device)
    it = iter(FrameBatches(store, B, shuffle=True, drop_last=True))
    sec = time_training(ns, model, ns["train_loss"], islice(it, w), islice(it, n))
    rate = n * B / sec
    return [("", model, {"rate": rate, "unit": "frames", "seconds_per_epoch": cfg["hw1_frames"] / rate,
                         "detail": f"batch {B}, context {ns['CONTEXT']}, data on the device"})]


def hw2p2(ns, cfg):
    model, device, B, S = ns.get("train_model", ns["model"]), ns["device"], ns["BATCH_SIZE"], ns["IMAGE_SIZE"]
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, generator=g).to(device),
                torch.randint(0, ns["num_classes"], (B,), generator=g).to(device)) for _ in range(2)]
    n = cfg["steps"]
    sec = time_training(ns, model, ns["train_loss"], batches[:cfg["warmup"]], [batches[i % 2] for i in range(n)])
    rate = n * B / sec
    return [("", model, {"rate": rate, "unit": "images", "seconds_per_epoch": cfg["hw2_images"] / rate,
                         "detail": f"{ns['ARCH']} {ns['WIDTHS']}x{ns['DEPTHS']}, batch {B}, {S}x{S}, "
                                   "uint8 on the device (JPEG decoding not included)"})]


def hw3p2(ns, cfg):
    v = ns["vocab"]
    return [("", ns["model"], _speech_row(ns, ns["model"], ns["train_loss"], ns["train_set"].dim, PHONEMES_PER_FRAME,
                                          (1, len(v)), 0, cfg))]


def las(ns, cfg):
    return [("", ns["model"], _speech_row(ns, ns["model"], ns["train_loss"], ns["train_set"].dim, PHONEMES_PER_FRAME,
                                          (1, len(ns["VOCAB"])), 0, cfg))]


def hw4p2(ns, cfg):
    v = ns["vocab"]
    first = max(t for t in (v.sos, v.eos, v.pad, v.unk) if t is not None) + 1
    return [("", ns["model"], _speech_row(ns, ns["model"], ns["joint_loss"], ns["train_set"].dim, CHARS_PER_FRAME,
                                          (first, len(v)), v.pad, cfg))]


def hw4p1(ns, cfg):
    from common.text.batching import BPTTBatch

    device, B, L, V = ns["device"], ns["BATCH_SIZE"], ns["BPTT"], ns["V"]
    g = torch.Generator().manual_seed(0)
    rows = []
    for kind, model in ns["models"].items():
        batches = [BPTTBatch(torch.randint(0, V, (B, L), generator=g).to(device),
                             torch.randint(0, V, (B, L), generator=g).to(device), i == 0) for i in range(2)]
        n = cfg["steps"]
        sec = time_training(ns, model, ns["make_loss"](kind), batches[:cfg["warmup"]],
                            [batches[1]] * n)
        rate = n * B * L / sec
        rows.append((kind, model, {"rate": rate, "unit": "tokens", "seconds_per_epoch": cfg["lm_tokens"] / rate,
                                   "detail": f"batch {B} x BPTT {L}, vocabulary {V:,} (WikiText-2)"}))
    return rows


def _speech_stub(dim):
    return SimpleNamespace(dim=dim, feature_dim=dim)


def notebook_specs(smoke: bool) -> list[dict]:
    """Per notebook: path, stand-ins for the data, parameter overrides (smoke sizes), measure."""
    from common.vocab import HW3_PHONEMES, HW4_CHARS

    speech = dict(MAX_FRAMES=600) if smoke else {}
    return [
        dict(key="hw1p2", path="hw1_mlp/hw1p2.ipynb", measure=hw1p2, stubs={"train_set": _speech_stub(28)},
             smoke=dict(HIDDEN_SIZES=[32, 32], CONTEXT=3, BATCH_SIZE=64)),
        dict(key="hw2p2", path="hw2_cnn/hw2p2.ipynb", measure=hw2p2,
             stubs={"num_classes": 10 if smoke else HW2_IDENTITIES, "workers": 0},
             smoke=dict(WIDTHS=[32, 32, 32, 32], DEPTHS=[1, 1, 1, 1], EMBEDDING_DIM=16, BATCH_SIZE=4, IMAGE_SIZE=64)),
        dict(key="hw3p2", path="hw3_rnn/hw3p2.ipynb", measure=hw3p2,
             stubs={"train_set": _speech_stub(28), "vocab": HW3_PHONEMES},
             smoke=dict(CONV_CHANNELS=16, RESNET_BLOCKS=1, LSTM_HIDDEN=16, CLASSIFIER_HIDDEN=32, **speech)),
        dict(key="las", path="hw3_rnn/las.ipynb", measure=las, stubs={"train_set": _speech_stub(28)},
             smoke=dict(CONV_CHANNELS=16, LISTENER_HIDDEN=16, ATTENTION_DIM=16, LOCATION_CHANNELS=4,
                        EMBEDDING_DIM=16, SPELLER_HIDDEN=32, **speech)),
        dict(key="hw4p1", path="hw4_transformer/hw4p1.ipynb", measure=hw4p1, stubs={"V": 50 if smoke else 33_278},
             smoke=dict(EMB_SIZE=16, HIDDEN_SIZE=32, D_MODEL=32, N_HEADS=2, N_LAYERS=1, D_FF=64, BATCH_SIZE=4,
                        BPTT=12)),
        dict(key="hw4p2", path="hw4_transformer/hw4p2.ipynb", measure=hw4p2,
             stubs={"train_set": _speech_stub(80), "vocab": HW4_CHARS},
             smoke=dict(D_MODEL=32, N_HEADS=2, ENC_LAYERS=1, DEC_LAYERS=1, D_FF=64, CONV_CHANNELS=16, **speech)),
    ]


def sizes(smoke: bool, hw2_images: int = HW2_TRAIN_IMAGES) -> dict:
    """Timed steps and real-data sizes; smoke: seconds on a CPU, same code paths."""
    if smoke:
        return dict(warmup=1, steps=2, k=2, utterances=40, mean_frames=100, clip=(40, 250), utt_len=50,
                    hw1_frames=HW1_TRAIN_FRAMES, hw2_images=hw2_images, lm_tokens=WIKITEXT2_TRAIN_TOKENS)
    return dict(warmup=2, steps=12, k=5, utterances=SPEECH_UTTERANCES, mean_frames=SPEECH_MEAN_FRAMES,
                clip=(100, 3500), utt_len=1000, hw1_frames=HW1_TRAIN_FRAMES, hw2_images=hw2_images,
                lm_tokens=WIKITEXT2_TRAIN_TOKENS)


def notebook_rows(spec: dict, cfg: dict, smoke: bool) -> list[dict]:
    """Rows of the suite's table for one notebook (raises when the notebook cannot be measured)."""
    path = REPO_ROOT / spec["path"]
    if not path.exists():
        raise FileNotFoundError(f"{spec['path']} does not exist yet")
    ns = load_notebook(path, spec["smoke"] if smoke else {}, spec["stubs"])
    if "device" not in ns or not {"model", "models"} & ns.keys():
        raise RuntimeError(f"{spec['path']}: its model cell did not build a model from the stand-ins "
                           f"(device defined: {'device' in ns}, model: {'model' in ns}, models: {'models' in ns})")
    rows = []
    for label, model, r in spec["measure"](ns, cfg):
        name = spec["key"] + (f" {label}" if label else "")
        minutes = r["seconds_per_epoch"] / 60
        shown = f"{minutes:,.1f}" if minutes >= 1 else f"{minutes:.2g}"
        rows.append({"measure": f"{name}: default model, minutes per epoch", "ours": f"{shown} min",
                     "baseline": "-", "ratio": "-", "goal": "-", "met": "-",
                     "detail": f"{r['rate']:,.0f} {r['unit']}/s, {n_params(model) / 1e6:.1f}M parameters, "
                               + r["detail"],
                     "value": minutes, "rate": r["rate"], "unit": r["unit"], "notebook": spec["key"],
                     "params": n_params(model)})
    return rows
