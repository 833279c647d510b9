"""benchmarks/gpu_suite.py: the smoke run (every measurement on the CPU at tiny sizes, no errors,
nothing appended to RESULTS.md) and the pieces it relies on to run unattended on a GPU."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import gpu_suite  # noqa: E402
from gpu import goals, notebooks  # noqa: E402

NOTEBOOK_ROWS = ["hw1p2", "hw2p2", "hw3p2", "las", "hw4p1 lstm", "hw4p1 transformer", "hw4p2"]
GOAL_ROWS = ["hw1 end to end", "hw1 our pipeline's share", "hw1 MLP training step, share of the 16-bit peak",
             "hw2 data + step: device-side augmentation", "hw2 input pipeline's share", "hw2 training step",
             "hw3 CTC training: bucketed vs random", "hw3 BiLSTM forward + backward",
             "ctc beam search", "hw4 greedy decoding, K/V cache", "hw4 training step: SDPA",
             "hw4p1 LM greedy generation, K/V cache", "ddp scaling"]


def test_smoke_run_measures_every_row_without_errors(tmp_path):
    out = tmp_path / "rows.json"
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, str(BENCH / "gpu_suite.py"), "--smoke", "--json", str(out)],
                         capture_output=True, text=True, timeout=240, cwd=str(REPO))
    seconds = time.perf_counter() - t0
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert result["smoke"] is True and result["device"].startswith("CPU")
    errors = [(r["measure"], r["detail"]) for r in rows if r["met"] == "error"]
    assert not errors, errors
    names = [r["measure"] for r in rows]
    assert [n.split(":")[0] for n in names[:len(NOTEBOOK_ROWS)]] == NOTEBOOK_ROWS
    assert len(names) == len(NOTEBOOK_ROWS) + len(GOAL_ROWS)
    for prefix, name in zip(GOAL_ROWS, names[len(NOTEBOOK_ROWS):]):
        assert name.startswith(prefix), (prefix, name)
    for r in rows[:len(NOTEBOOK_ROWS)]:                   # minutes per epoch: positive and finite
        assert r["value"] > 0 and math.isfinite(r["value"]) and r["rate"] > 0, r
    for r in rows[len(NOTEBOOK_ROWS):-1]:                 # every goal row measured a ratio or share,
        if r["ours"] == "n/a":                            # or names the benchmark file it lacks
            missing = r["detail"].split()[0]                 # e.g. benchmarks/hw3_training.py
            assert missing.startswith("benchmarks/") and not (REPO / missing).exists(), r
        else:
            assert r["value"] is not None or r["ratio"] == "n/a", r
    assert "| measure | ours | baseline | ratio | goal | met | detail |" in run.stdout
    assert "appended" not in run.stdout                    # smoke mode never writes RESULTS.md
    print(f"smoke run {seconds:.0f} s")


def test_peak_table_matches_specific_names_first():
    assert goals.peak_flops("NVIDIA H100 PCIe") == 756e12
    assert goals.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert goals.peak_flops("NVIDIA H200") == 989e12
    assert goals.peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert goals.peak_flops("NVIDIA L40S") == 362e12                 # not the L4's
    assert goals.peak_flops("NVIDIA L4") == 121e12
    assert goals.peak_flops("Tesla T4") == 65e12
    assert goals.peak_flops("Tesla V100-SXM2-16GB") == 125e12
    assert goals.peak_flops("Tesla P100-PCIE-16GB") == 18.7e12
    assert goals.peak_flops("NVIDIA GeForce RTX 4090") is None       # unknown: MFU n/a


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(path))
    return path


def test_load_notebook_runs_definitions_and_never_trains(tmp_path):
    calls = []
    path = _notebook(tmp_path / "nb.ipynb",
                     "WIDTH = 8\nDEMO = True\nOUTPUT_DIR = 'out'",
                     "import math\nclass Net:\n    def __init__(self, w):\n        self.w = w\n"
                     "train_set = load_data(DATA_ROOT)\n"            # needs the data: skipped
                     "model = Net(WIDTH * train_set.dim)\nextra = 1",
                     "history = fit(model)\nsave_figure(model)\nif DEMO:\n    demo = 1\nelse:\n    real = math.pi",
                     "for i in range(3):\n    looped = i\nprint('hi')")
    stubs = {"train_set": type("S", (), {"dim": 3})(), "fit": calls.append, "save_figure": calls.append,
             "load_data": lambda root: calls.append(root)}
    ns = notebooks.load_notebook(path, {"WIDTH": 2}, stubs)
    assert ns["model"].w == 6 and ns["extra"] == 1                    # override applied, stub read
    assert calls == []                                                 # fit, save_*, load_* never called
    assert "history" not in ns and "looped" not in ns
    assert ns["DEMO"] is False and ns["real"] == math.pi and "demo" not in ns
    assert ns["OUTPUT_DIR"] != "out"                                   # a temporary folder
    with pytest.raises(KeyError, match="NOT_A_PARAMETER"):
        notebooks.load_notebook(path, {"NOT_A_PARAMETER": 1}, stubs)


def test_speech_batches_follow_the_bucket_sampler():
    from common.speech.utterances import BucketBatchSampler

    lengths = notebooks.speech_lengths(300, 100, 0.3, 40, 250, seed=1)
    assert lengths.min() >= 40 and lengths.max() <= 250 and abs(lengths.mean() - 100) < 10
    batches, per_epoch = notebooks.speech_batches(lengths, 1000, 5, 0.2, (3, 9), 1, 4, torch.device("cpu"))
    assert per_epoch == len(BucketBatchSampler(lengths, 1000, seed=0))
    assert len(batches) == 4
    longest = [int(b.feature_lengths.max()) for b in batches]
    assert longest == sorted(longest)                                  # spread from short to long batches
    for b in batches:
        B, T, D = b.features.shape
        assert D == 5 and B * T <= 1000 and T == int(b.feature_lengths.max())
        assert sorted(b.feature_lengths.tolist()) == sorted(lengths[[int(i) for i in b.ids]].tolist())
        pad_frames = torch.arange(T)[None, :] >= b.feature_lengths[:, None]
        assert (b.features[pad_frames] == 0).all() and (b.features[~pad_frames] != 0).all()
        n = b.target_lengths
        assert torch.equal(n, (b.feature_lengths * 0.2).round().clamp(min=1).long())
        pad_tokens = torch.arange(b.targets.size(1))[None, :] >= n[:, None]
        assert (b.targets[pad_tokens] == 1).all()
        assert ((b.targets[~pad_tokens] >= 3) & (b.targets[~pad_tokens] < 9)).all()


def test_time_limit_stops_a_measurement():
    t0 = time.perf_counter()
    with pytest.raises(gpu_suite.BudgetExceeded):
        with gpu_suite.time_limit(0.3):
            time.sleep(5)
    assert time.perf_counter() - t0 < 2


def test_errors_timeouts_and_spent_budget_become_rows(monkeypatch):
    ok = goals.row("fine", "1 x/s", "2 x/s", 0.5, "> 1x", False)
    monkeypatch.setattr(gpu_suite, "measurements", lambda device, smoke, images: [
        ("boom", 5, lambda: 1 / 0), ("ok", 5, lambda: [dict(ok)]), ("slow", 0.3, lambda: time.sleep(5))])
    rows, seconds = gpu_suite.run_all(torch.device("cpu"), True, 60, None, 1)
    assert [r["met"] for r in rows] == ["error", "no", "error"] and seconds < 4
    assert rows[0]["detail"] == "ZeroDivisionError: division by zero"
    assert rows[1]["ratio"] == "0.50x"
    assert rows[2]["detail"].startswith("BudgetExceeded: stopped after")
    rows, _ = gpu_suite.run_all(torch.device("cpu"), True, 0, None, 1)
    assert [r["measure"] for r in rows] == ["boom", "ok", "slow"]
    assert all(r["met"] == "error" and "budget is spent" in r["detail"] for r in rows)
    rows, _ = gpu_suite.run_all(torch.device("cpu"), True, 60, "ok", 1)          # --only
    assert [r["measure"] for r in rows] == ["fine"]
    table = gpu_suite.markdown([dict(ok, detail="a | b")])
    assert table.splitlines()[2] == "| fine | 1 x/s | 2 x/s | 0.50x | > 1x | no | a / b |"
