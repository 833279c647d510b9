"""The homework notebooks with GPUS=2 on the CPU: the training cell forks 2 gloo processes (DDP); and the
sequence notebooks from the command line, ``torchrun --nproc_per_node=2 -m common.notebook.run_script``."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.notebook.execute import REPO_ROOT, run_notebook

HW1 = {"DEMO": True, "DEMO_SIZE": "tiny", "CONTEXT": 10, "HIDDEN_SIZES": [256, 256], "EPOCHS": 4,
       "BATCH_SIZE": 256, "LR": 3e-3}


@pytest.mark.notebook
def test_hw1_notebook_trains_on_two_processes(tmp_path):
    params = {**HW1, "GPUS": 2, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    metrics = run_notebook(REPO_ROOT / "hw1_mlp" / "hw1p2.ipynb", tmp_path / "run", params)
    executed = (tmp_path / "run" / "hw1p2.ipynb").read_text()
    assert "2 training process(es)" in executed
    assert metrics["epochs"] == 4
    # learned as the one-process notebook test requires (tests/hw1/test_hw1_notebook.py)
    assert metrics["dev_accuracy"] > metrics["majority_rate"] + 0.25
    assert metrics["test_accuracy"] > metrics["majority_rate"] + 0.25
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["best.pt", "last.pt"]


HW2 = {"DEMO": True, "DEMO_SIZE": "tiny", "IMAGE_SIZE": 64, "STEM_STRIDE": 1, "WIDTHS": [16, 32, 64, 128],
       "DEPTHS": [1, 1, 1, 1], "EMBEDDING_DIM": 64, "EPOCHS": 20, "BATCH_SIZE": 32, "OPTIMIZER": "adamw",
       "LR": 6e-3, "WEIGHT_DECAY": 0.05, "ERASE_P": 0.0, "WORKERS": 0}


@pytest.mark.notebook
def test_hw2_notebook_trains_on_two_processes(tmp_path):
    params = {**HW2, "GPUS": 2, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    m = run_notebook(REPO_ROOT / "hw2_cnn" / "hw2p2.ipynb", tmp_path / "run", params)
    assert "2 training process(es)" in (tmp_path / "run" / "hw2p2.ipynb").read_text()
    # the one-process notebook test's bars (tests/hw2/test_hw2p2_notebook.py)
    assert m["epochs"] == 20 and m["dev_accuracy"] > 5 * m["chance"]
    assert m["val_eer"] < 0.35 and m["val_auc"] > 0.7
    assert (tmp_path / "run" / "verification_submission.csv").is_file()


@pytest.mark.notebook
def test_las_notebook_trains_on_two_processes(tmp_path):
    from tests.hw3.test_las_notebook import TINY as LAS
    params = {**LAS, "GPUS": 2, "CPU_THREADS": 1, "DEMO_DIR": str(tmp_path / "data"),
              "CHECKPOINT_DIR": str(tmp_path / "ckpt"), "CTC_METRICS": str(tmp_path / "none.json")}
    m = run_notebook(REPO_ROOT / "hw3_rnn" / "las.ipynb", tmp_path / "run", params)
    executed = (tmp_path / "run" / "las.ipynb").read_text()
    assert "2 training process(es)" in executed
    # the speller LM pretraining ran inside the processes, before the main run
    assert "speller LM: train perplexity" in executed
    # the one-process notebook test's bars (tests/hw3/test_las_notebook.py)
    assert m["epochs"] == LAS["EPOCHS"] and m["empty_prediction_per"] == 1.0
    assert m["dev_perplexity"] < 0.9 * 41
    assert 0.0 < m["attention_diagonality_chance"] < 1.0
    assert {"attention", "best.pt", "last.pt"} <= {p.name for p in (tmp_path / "ckpt").iterdir()}
    if LAS.get("CTC_WARMUP_EPOCHS"):          # the listener's CTC warm-up ran in the processes too
        assert (tmp_path / "ckpt" / "ctc_warmup" / "last.pt").is_file()
    # rank 0 alone recorded the attention of every epoch
    assert len(list((tmp_path / "ckpt" / "attention").glob("epoch_*.npz"))) == LAS["EPOCHS"]
    assert (tmp_path / "run" / "submission.csv").is_file()


@pytest.mark.notebook
def test_hw3p2_notebook_trains_on_two_processes(tmp_path):
    from tests.hw3.test_hw3p2_notebook import TINY as HW3
    params = {**HW3, "GPUS": 2, "CPU_THREADS": 1, "DEMO_DIR": str(tmp_path / "data"),
              "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    m = run_notebook(REPO_ROOT / "hw3_rnn" / "hw3p2.ipynb", tmp_path / "run", params)
    assert "2 training process(es)" in (tmp_path / "run" / "hw3p2.ipynb").read_text()
    # the one-process notebook test's bars (tests/hw3/test_hw3p2_notebook.py): far below the empty prediction
    assert m["epochs"] == HW3["EPOCHS"]
    assert m["dev_distance_greedy"] < 0.6 * m["empty_prediction_distance"]
    assert m["test_distance"] < 0.6 * m["empty_prediction_distance"]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["best.pt", "last.pt"]
    assert (tmp_path / "run" / "submission.csv").is_file()


@pytest.mark.notebook
def test_hw4p2_notebook_trains_on_two_processes(tmp_path):
    from tests.hw4.test_hw4p2_notebook import TINY as HW4P2
    # the LM pretrains here (LM_CHECKPOINT None) for more steps than the one-process test's single one
    params = {**HW4P2, "GPUS": 2, "CPU_THREADS": 1, "LM_EPOCHS": 30, "LM_BATCH_TOKENS": 1000, "LM_LR": 1e-2,
              "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    m = run_notebook(REPO_ROOT / "hw4_transformer" / "hw4p2.ipynb", tmp_path / "run", params)
    executed = (tmp_path / "run" / "hw4p2.ipynb").read_text()
    assert "2 training process(es)" in executed
    # the LM was pretrained inside the processes (LM_CHECKPOINT None), exported by rank 0, and loaded back
    assert m["lm_source"] == "pretrained here" and (tmp_path / "run" / "lm.pt").is_file()
    assert (tmp_path / "run" / "lm_perplexity.png").stat().st_size > 5_000
    # the one-process test's bars (tests/hw4/test_hw4p2_notebook.py) and the LM below the uniform perplexity
    assert m["epochs"] == HW4P2["EPOCHS"]
    for key in ("dev_cer_greedy", "dev_cer_beam", "dev_cer_beam_ctc", "dev_cer_beam_ctc_lm", "lm_dev_perplexity"):
        assert np.isfinite(m[key]), key
    # the LM trained in the processes came back to the kernel: below the unigram baseline on dev
    assert m["lm_dev_perplexity"] < 0.9 * m["unigram_dev_perplexity"]
    assert m["dev_cer_beam_ctc"] < 1.0                  # the empty prediction's CER is 1
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["best.pt", "last.pt"]
    assert (tmp_path / "run" / "submission.csv").is_file()


@pytest.mark.notebook
def test_hw4p1_notebook_trains_both_models_on_two_processes(tmp_path):
    from tests.hw4.test_hw4p1_notebook import TINY as HW4P1
    params = {**HW4P1, "GPUS": 2, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    m = run_notebook(REPO_ROOT / "hw4_transformer" / "hw4p1.ipynb", tmp_path / "run", params)
    assert "2 training process(es)" in (tmp_path / "run" / "hw4p1.ipynb").read_text()
    # the one-process notebook test's bars (tests/hw4/test_hw4p1_notebook.py), for both models
    V = m["vocab_size"]
    for kind in ("lstm", "transformer"):
        assert m[f"dev_ppl_{kind}"] < 0.15 * V
    assert min(m["dev_ppl_lstm"], m["dev_ppl_transformer"]) < m["dev_ppl_unigram"]
    for kind in ("lstm", "transformer"):
        assert sorted(p.name for p in (tmp_path / "ckpt" / kind).iterdir()) == ["best.pt", "last.pt"]
    assert (tmp_path / "run" / "lm.pt").is_file() and (tmp_path / "run" / "predictions.npy").is_file()


def _torchrun(notebook, params: dict, out: Path) -> subprocess.CompletedProcess:
    """The notebook's code on 2 CPU processes through torchrun (the README's command-line path)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "common.notebook.run_script", str(notebook)]
    for name, value in {**params, "OUTPUT_DIR": str(out)}.items():
        cmd += ["--param", f"{name}={value!r}"]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["las", "hw4p2"])
def test_sequence_notebook_trains_under_torchrun(tmp_path, name):
    """Pretraining and main run in one launch: under torchrun the other rank exits after training, so
    a second launch would wait for it forever; rank 0 alone evaluates and writes the submission."""
    from tests.hw3.test_las_notebook import TINY as LAS
    from tests.hw4.test_hw4p2_notebook import TINY as HW4P2
    notebook, params = {"las": (REPO_ROOT / "hw3_rnn" / "las.ipynb", {**LAS, "EPOCHS": 2, "CPU_THREADS": 1}),
                        "hw4p2": (REPO_ROOT / "hw4_transformer" / "hw4p2.ipynb", {**HW4P2, "CPU_THREADS": 1})}[name]
    params = {**params, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    done = _torchrun(notebook, params, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 training process(es)" in done.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["epochs"] == params["EPOCHS"]
    assert done.stdout.count(f"[{notebook.name}] cell ") == len([c for c in json.loads(notebook.read_text())["cells"]
                                                                 if c["cell_type"] == "code"]) + 1   # + overrides
    # rank 0 alone ran the cells after training: one "wrote .../submission.csv (N rows ..." line
    assert done.stdout.count("submission.csv (") == 1 and (tmp_path / "out" / "submission.csv").is_file()
    assert {"best.pt", "last.pt"} <= {p.name for p in (tmp_path / "ckpt").iterdir()}
    if name == "hw4p2":          # pretrained in the processes, exported by rank 0, loaded back by the kernel code
        assert metrics["lm_source"] == "pretrained here" and (tmp_path / "out" / "lm.pt").is_file()


def test_a_second_launch_under_torchrun_is_a_clear_error_not_a_hang(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("GPUS = None"),
                nbformat.v4.new_code_cell("from common.engine.distributed import get_world_size, gpus_to_use, launch\n"
                                          "GPUS = gpus_to_use(GPUS)\n"
                                          "first = launch(get_world_size, GPUS)\n"
                                          "print(f'first launch: {first} ranks')\n"
                                          "second = launch(get_world_size, GPUS)")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    path = tmp_path / "two_launches.ipynb"
    nbformat.write(nb, str(path))
    done = _torchrun(path, {}, tmp_path / "out")
    assert "first launch: 2 ranks" in done.stdout
    assert done.returncode != 0 and "launch runs once under torchrun" in done.stderr
