"""The GPU goals of the other benchmarks, measured with their own pieces at sizes that fit the
suite's few minutes (smoke: tiny sizes on the CPU, same code paths). Each function returns rows
of the suite's table: measure, ours, baseline, ratio, goal, met, detail.

    hw1_pipeline.py   >= 10x the starter end to end with 4 workers; < 10% pipeline share; >= 40% MFU
    hw3_training.py   bucketed vs random batches (CTC training); BiLSTM packed vs padded
    hw2_pipeline.py   device-side augmentation vs PIL in 4 workers; its share over the step; AMP + channels_last
    ctc_decoding.py   >= 20x pyctcdecode (default settings) at width 10 (ours batched: the search runs on the
                      host in NumPy, the posteriors copied from the device once)
    hw4_decoding.py   K/V cache >= 3x at 200 tokens; SDPA vs hand-written attention
    lm_generation.py  K/V cache ratio of the HW4P1 transformer LM
    ddp_scaling.py    >= 1.8x on 2 GPUs (only with more than one GPU)
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
from _harness import PEAK_16BIT, peak_flops  # noqa: F401  (goals.peak_flops: tests, the MFU row)

HERE = Path(__file__).resolve().parents[1]          # benchmarks/
REPO_ROOT = HERE.parent


def row(measure, ours, baseline="-", ratio=None, goal="-", met=None, detail="", value=None) -> dict:
    return {"measure": measure, "ours": ours, "baseline": baseline,
            "ratio": "-" if ratio is None else f"{ratio:.2f}x", "goal": goal,
            "met": "-" if met is None else ("yes" if met else "no"), "detail": detail,
            "value": ratio if value is None else value}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def notebook_parameters(path: str) -> dict:
    """The values of a notebook's parameters cell (its defaults)."""
    cells = json.loads((REPO_ROOT / path).read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    ns: dict = {}
    exec("".join(cell["source"]), ns)
    return ns


def hw1(device, smoke: bool) -> list[dict]:
    from hw1_pipeline import StarterDataset, make_model, matmul_flops_per_step, synthetic_store, timed, training_loops

    from common.engine.device import amp_dtype
    from common.speech.frames import FrameBatches

    p = notebook_parameters("hw1_mlp/hw1p2.ipynb")
    full = (p["HIDDEN_SIZES"], p["CONTEXT"], p["BATCH_SIZE"])          # read in smoke runs too
    hidden, context, batch = ([64, 64], 3, 256) if smoke else full
    workers, n = (1, 2) if smoke else (4, 20)
    store = synthetic_store(batch * 40 if smoke else 800_000, 28, context, utt_len=100 if smoke else 1000)
    cuda = device.type == "cuda"
    starter = torch.utils.data.DataLoader(StarterDataset(store), batch_size=batch, shuffle=True, num_workers=workers,
                                          pin_memory=cuda, persistent_workers=True, drop_last=True)
    ours = FrameBatches(store.to(device), batch, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    model = make_model((2 * context + 1) * 28, hidden, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dtype = amp_dtype(device)

    _, training, model_only = training_loops(model, opt, device, dtype, ours)

    t = {"starter": timed(lambda: training(starter), n, device), "ours": timed(lambda: training(ours), n, device),
         "step": timed(model_only, n, device)}
    fps = {k: n * batch / v for k, v in t.items()}
    params = sum(q.numel() for q in model.parameters())
    share = t["ours"] / t["step"] - 1
    name = torch.cuda.get_device_name(device) if cuda else "CPU"
    peak = peak_flops(name) if cuda else None
    achieved = matmul_flops_per_step(model, batch) * n / t["ours"]
    shape = f"MLP {hidden} ({params / 1e6:.1f}M), context {context}, batch {batch}, {dtype or 'fp32'}"
    return [
        row(f"hw1 end to end (data + step): ours vs starter, {workers} workers", f"{fps['ours']:,.0f} frames/s",
            f"{fps['starter']:,.0f} frames/s", fps["ours"] / fps["starter"], ">= 10x",
            fps["ours"] / fps["starter"] >= 10, shape),
        row("hw1 our pipeline's share over the model step", f"{share:+.1%}", f"step alone {fps['step']:,.0f} frames/s",
            None, "< 10%", share < 0.10, shape, value=share),
        row("hw1 MLP training step, share of the 16-bit peak (MFU)", f"{achieved / 1e12:.1f} TFLOP/s",
            f"peak {peak / 1e12:.0f} TFLOP/s" if peak else "peak n/a", None, ">= 40%",
            None if peak is None else achieved / peak >= 0.40,
            shape + ("" if peak else f"; no peak known for {name}"), value=achieved / peak if peak else None)
        | {"ratio": f"{achieved / peak:.0%}" if peak else "n/a"},
    ]


def hw2(device, smoke: bool) -> list[dict]:
    from hw2_pipeline import AUG, PILAugmented, measure, small_resnet
    from torch import nn

    from common.demo.faces import write_hw2p2
    from common.engine.device import amp_dtype, autocast
    from common.faces.folders import scan_split
    from common.faces.images import FaceImages, make_loader

    batch, n, warm, workers, width, stem, size = ((8, 2, 1, 1, 32, 2, "tiny") if smoke else
                                                  (256, 10, 2, 4, 64, 1, "small"))
    cuda = device.type == "cuda"
    # the notebooks' demo folder: written once, then reused
    train = scan_split(write_hw2p2(REPO_ROOT / "data" / "demo", size=size, seed=0) / "cls_data" / "train")
    classes = len(train.classes)
    loader_a = torch.utils.data.DataLoader(PILAugmented(train.paths, train.labels), batch_size=batch,
                                           shuffle=True, drop_last=True, num_workers=workers, pin_memory=cuda,
                                           persistent_workers=True)
    loader_b = make_loader(FaceImages.from_list(train), batch, shuffle=True, drop_last=True, workers=workers,
                           device=device)
    gen = torch.Generator(device=device).manual_seed(0)

    def data_a(b):
        return b[0].to(device, non_blocking=True), b[1].to(device, non_blocking=True)

    def data_b(b):
        return AUG(b[0].to(device, non_blocking=True), gen), b[1].to(device, non_blocking=True)

    def trainer(get, dtype=None, channels_last=False):
        torch.manual_seed(0)
        model = small_resnet(width, classes, stem).to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(b):
            x, y = get(b)
            with autocast(device, dtype):
                loss = nn.functional.cross_entropy(model(x.contiguous(memory_format=fmt)), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    fixed = [next(iter(loader_b))] * (n + warm)              # one uint8 batch: no data loading
    ips = {"a": measure(loader_a, trainer(data_a), device, n, warm),
           "b": measure(loader_b, trainer(data_b), device, n, warm),
           "b fixed": measure(fixed, trainer(data_b), device, n, warm)}
    amp = amp_dtype(device) if cuda else torch.bfloat16
    ips["fp32"] = ips["b fixed"]                               # fp32, contiguous, no data loading
    ips["amp"] = measure(fixed, trainer(data_b, amp, True), device, n, warm)
    del loader_a, loader_b
    shape = f"small ResNet width {width}, stem stride {stem}, batch {batch}, demo faces 112x112 ({size})"
    share = ips["b fixed"] / ips["b"] - 1
    amp_name = str(amp).replace("torch.", "")
    return [
        row(f"hw2 data + step: device-side augmentation vs PIL in {workers} workers", f"{ips['b']:,.0f} img/s",
            f"{ips['a']:,.0f} img/s", ips["b"] / ips["a"], "> 1x", ips["b"] / ips["a"] > 1, shape + ", fp32"),
        row(f"hw2 input pipeline's share over the step ({workers} workers)", f"{share:+.1%}",
            f"fixed batch {ips['b fixed']:,.0f} img/s", None, "< 10%", share < 0.10, shape, value=share),
        row(f"hw2 training step: {amp_name} autocast + channels_last vs fp32", f"{ips['amp']:,.0f} img/s",
            f"{ips['fp32']:,.0f} img/s", ips["amp"] / ips["fp32"], "> 1x", ips["amp"] / ips["fp32"] > 1,
            shape + ("" if cuda else "; CPU autocast is not the GPU's tensor-core path")),
    ]


def hw3(device, smoke: bool) -> list[dict]:
    """hw3_training.py on synthetic train-clean-100 lengths: bucketed vs random batches at the same
    padded-frame budget (CTC training, utterances/s), and the BiLSTM packed vs padded."""
    import numpy as np
    from _harness import interleaved_times
    from padding import random_budget_batches
    from torch import nn

    from common.speech.layers import BLSTM
    from common.speech.utterances import BucketBatchSampler
    from gpu.notebooks import PHONEMES_PER_FRAME, SPEECH_MEAN_FRAMES, speech_lengths, synthetic_batch

    names = ("hw3 CTC training: bucketed vs random batches, same frame budget",
             "hw3 BiLSTM forward + backward: packed vs padded (random batches)")
    try:
        from hw3_training import build_model, ctc_training_pass
    except ImportError as e:
        return [row(name, "n/a", detail=f"benchmarks/hw3_training.py is not importable ({e})") for name in names]
    n_utt, mean, clip, budget, channels, hidden, nb = ((60, 100, (40, 250), 1500, 16, 16, 2) if smoke else
                                                       (3000, SPEECH_MEAN_FRAMES, (100, 3500), 80_000, 512, 384, 4))
    lengths = speech_lengths(n_utt, mean, 0.3, *clip)
    chosen = [list(b) for b in BucketBatchSampler(lengths, budget, seed=0)][:nb]
    picked, count = [], 0
    for b in random_budget_batches(lengths, budget, np.random.default_rng(0)):
        if count >= sum(len(c) for c in chosen):
            break
        picked.append(b.tolist())
        count += len(b)
    g = torch.Generator().manual_seed(0)
    batches = {k: [synthetic_batch(lengths[b], 28, PHONEMES_PER_FRAME, (1, 41), 0, g).to(device) for b in v]
               for k, v in (("bucketed", chosen), ("random", picked))}
    utts = {k: sum(len(b) for b in v) for k, v in batches.items()}
    torch.manual_seed(0)
    model = build_model(28, channels, hidden, 41).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CTCLoss(blank=0, zero_infinity=True)

    def train(name):
        return lambda: ctc_training_pass(model, opt, loss_fn, batches[name], device)

    t = interleaved_times({"random": train("random"), "bucketed": train("bucketed")}, 1 if smoke else 2)
    speed = {k: utts[k] / t[k][0] for k in t}
    blstm = BLSTM(28, hidden).to(device)
    xs = [(b.features, b.feature_lengths) for b in batches["random"]]

    def lstm(packed):
        def run():
            for x, n in xs:
                (blstm(x, n)[0] if packed else blstm.lstm(x)[0]).square().mean().backward()
            sync(device)
        return run

    lt = interleaved_times({"padded": lstm(False), "packed": lstm(True)}, 1 if smoke else 2)
    real = sum(int(n.sum()) for _, n in xs)
    shape = (f"hw3_training model (conv {channels}, 2 pBLSTM {hidden}), fp32, <= {budget:,} padded frames per batch, "
             f"lengths around {mean} frames")
    return [row(names[0], f"{speed['bucketed']:,.1f} utt/s",
                f"{speed['random']:,.1f} utt/s", speed["bucketed"] / speed["random"], "> 1x",
                speed["bucketed"] / speed["random"] > 1, shape),
            row(names[1], f"{real / lt['packed'][0]:,.0f} real frames/s",
                f"{real / lt['padded'][0]:,.0f} real frames/s",
                lt["padded"][0] / lt["packed"][0], "-", None, f"hidden {hidden}; padded is also wrong (the backward "
                "direction starts in the padding)")]


def ctc(device, smoke: bool) -> list[dict]:
    from ctc_decoding import peaky_posteriors, pyctcdecode_decoder

    from common.speech.decoding import ctc_beam_search

    B, lo, hi, width = (2, 20, 30, 4) if smoke else (8, 300, 600, 10)    # pyctcdecode: ~0.2 s per utterance
    log_probs, lengths = peaky_posteriors(B, lo, hi, 41)
    lp = log_probs.to(device)
    ctc_beam_search(lp[:2, :50], lengths.clamp(max=50)[:2], beam_width=width)          # warm-up
    sync(device)
    t0 = time.perf_counter()
    ours = ctc_beam_search(lp, lengths, beam_width=width)                               # its default pruning
    sync(device)
    t_ours = time.perf_counter() - t0
    detail = (f"B={B} utterances of {lo}-{hi} frames, 41 classes, width {width}, no LM; ours batched, posteriors "
              f"on {device.type} (the search runs on the host)")
    decoder = pyctcdecode_decoder(41)
    if decoder is None:
        t0 = time.perf_counter()
        ctc_beam_search(log_probs, lengths, beam_width=width)
        t_cpu = time.perf_counter() - t0
        return [row(f"ctc beam search width {width}: ours, posteriors on {device.type} vs on the CPU",
                    f"{B / t_ours:,.1f} utt/s", f"{B / t_cpu:,.1f} utt/s", t_cpu / t_ours,
                    ">= 20x vs pyctcdecode default", None,
                    detail + "; pyctcdecode not installed (pip install --no-deps pyctcdecode pygtrie)")]
    dec, to_ids = decoder
    utts = [log_probs[b, :lengths[b]].double().numpy() for b in range(B)]
    t0 = time.perf_counter()
    theirs = [to_ids(dec.decode_beams(u, beam_width=width)[0][0]) for u in utts]      # its DEFAULT settings
    t_theirs = time.perf_counter() - t0
    same = sum(ours[b][0][0] == theirs[b] for b in range(B)) / B
    return [row(f"ctc beam search width {width}: ours (batched, posteriors on {device.type}) vs pyctcdecode "
                "default (CPU, one at a time)", f"{B / t_ours:,.1f} utt/s", f"{B / t_theirs:,.2f} utt/s",
                t_theirs / t_ours,
                ">= 20x", t_theirs / t_ours >= 20, detail + f"; same best hypothesis {same:.0%}")]


def hw4(device, smoke: bool) -> list[dict]:
    import torch.nn.functional as F

    from common.notebook.cells import notebook_namespace
    from common.speech.transformer import manual_attention

    p = notebook_parameters("hw4_transformer/hw4p2.ipynb")
    full = (p["D_MODEL"], p["N_HEADS"], p["ENC_LAYERS"], p["DEC_LAYERS"], p["D_FF"], p["CONV_CHANNELS"])
    d, heads, enc, dec, ff, ch = (32, 2, 1, 1, 64, 16) if smoke else full
    batch, frames, N = (2, 40, 12) if smoke else (4, 1000, 200)
    ns = notebook_namespace(REPO_ROOT / "hw4_transformer" / "hw4p2.ipynb", ("model",))
    V, sos, blank = 31, 0, 1
    eos = V                                              # never emitted: every row runs N steps
    torch.manual_seed(0)
    model = ns["SpeechTransformer"](V, d_model=d, n_heads=heads, enc_layers=enc, dec_layers=dec, d_ff=ff, dropout=0.0,
                                    channels=ch, max_frames=4096, max_len=N + 8).to(device).eval()
    x = torch.randn(batch, frames, 80, device=device)
    lengths = torch.full((batch,), frames, device=device)
    secs, out = {}, {}
    for cached in (False, True):
        ns["greedy_decode"](model, x, lengths, sos, eos, 3, cached=cached)           # warm-up
        sync(device)
        t0 = time.perf_counter()
        out[cached] = ns["greedy_decode"](model, x, lengths, sos, eos, N, cached=cached)
        sync(device)
        secs[cached] = time.perf_counter() - t0
    if out[True] != out[False]:
        raise AssertionError(f"cached and uncached greedy decoding differ at N={N}")
    shape = f"hw4p2 transformer d_model {d}, {enc}+{dec} layers, d_ff {ff}, batch {batch}, {frames} frames"
    rows = [row(f"hw4 greedy decoding, K/V cache vs none, {N} tokens", f"{batch * N / secs[True]:,.0f} tokens/s",
                f"{batch * N / secs[False]:,.0f} tokens/s", secs[False] / secs[True], ">= 3x at 200 tokens",
                secs[False] / secs[True] >= 3, shape + "; same tokens")]

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    B, L = (2, 8) if smoke else (8, 100)
    y = torch.randint(3, V, (B, L), device=device)
    xt, xl = torch.randn(B, frames, 80, device=device), torch.full((B,), frames, device=device)

    def steps(attend, n):
        ns["attend"] = attend
        for _ in range(n):
            logits, ctc_logits, enc_lengths = model(xt, xl, torch.cat([torch.full((B, 1), sos, device=device), y], 1))
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), y.flatten()) + F.ctc_loss(
                ctc_logits.log_softmax(-1).transpose(0, 1), y, enc_lengths, torch.full((B,), L, device=device),
                blank=blank)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sync(device)

    t = {}
    n = 2 if smoke else 5
    try:
        for name, fn in (("sdpa", F.scaled_dot_product_attention), ("manual", manual_attention)):
            steps(fn, 1)
            t0 = time.perf_counter()
            steps(fn, n)
            t[name] = time.perf_counter() - t0
    finally:
        ns["attend"] = F.scaled_dot_product_attention
    rows.append(row("hw4 training step: SDPA vs hand-written attention", f"{n * B * L / t['sdpa']:,.0f} tokens/s",
                    f"{n * B * L / t['manual']:,.0f} tokens/s", t["manual"] / t["sdpa"], "> 1x",
                    t["manual"] / t["sdpa"] > 1, f"fp32, batch {B} x {L} target tokens, {frames} frames"))
    return rows


def lm(device, smoke: bool) -> list[dict]:
    from lm_generation import generation_steps, timed_generation

    from tests.hw4.nbcode import notebook_models

    p = notebook_parameters("hw4_transformer/hw4p1.ipynb")
    full = (p["D_MODEL"], p["N_HEADS"], p["N_LAYERS"])
    d, heads, layers = (32, 2, 1) if smoke else full
    vocab, batch, prefix, N = (50, 2, 4, 10) if smoke else (1000, 8, 16, 200)
    torch.manual_seed(0)
    model = notebook_models().TransformerLM(vocab, d, heads, layers, 4 * d, 0.0, prefix + N).to(device).eval()
    start = torch.randint(0, vocab, (batch, prefix), device=device)
    secs, out = {}, {}
    for name, step in zip(("uncached", "cached"), generation_steps(model)):
        out[name], secs[name] = timed_generation(step, start, N, device, warmup=3)
    if not torch.equal(out["cached"], out["uncached"]):
        raise AssertionError("cached generation differs from uncached generation")
    return [row(f"hw4p1 LM greedy generation, K/V cache vs none, {N} tokens",
                f"{batch * N / secs['cached']:,.0f} tokens/s", f"{batch * N / secs['uncached']:,.0f} tokens/s",
                secs["uncached"] / secs["cached"], "-", None,
                f"TransformerLM d_model {d}, {layers} layers, vocabulary {vocab}, batch {batch}, prefix {prefix}; "
                "same tokens")]


def ddp(device, smoke: bool, timeout: float = 150) -> list[dict]:
    measure = "ddp scaling: all GPUs vs one (HW2P2)"
    script = HERE / "ddp_scaling.py"
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if gpus < 2:
        return [row(measure, "n/a", goal=">= 1.8x on 2 GPUs", detail=f"{gpus} GPU(s): needs 2 or more")]
    if not script.exists():
        return [row(measure, "n/a", goal=">= 1.8x on 2 GPUs", detail="benchmarks/ddp_scaling.py does not exist yet")]
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
                         cwd=str(REPO_ROOT))
    if run.returncode:
        raise RuntimeError(f"ddp_scaling.py exited {run.returncode}: {run.stderr.strip()[-300:]}")
    ratios = [float(m) for m in re.findall(r"([0-9]+(?:\.[0-9]+)?)x", run.stdout)]
    if not ratios:
        raise RuntimeError(f"no ratio (NN.NNx) in ddp_scaling.py's output: {run.stdout.strip()[-300:]}")
    return [row(measure, f"{ratios[-1]:.2f}x", "1 GPU", ratios[-1], ">= 1.8x on 2 GPUs", ratios[-1] >= 1.8,
                f"{gpus} GPUs; last ratio printed by benchmarks/ddp_scaling.py")]
