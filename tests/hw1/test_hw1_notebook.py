"""The HW1P2 notebook end to end on tiny demo data, and its resume path."""
import csv

import numpy as np
import pytest

from common.notebook.execute import REPO_ROOT, run_notebook
from common.speech.io import PHONEMES

NOTEBOOK = REPO_ROOT / "hw1_mlp" / "hw1p2.ipynb"
TINY = {"DEMO": True, "DEMO_SIZE": "tiny", "CONTEXT": 10, "HIDDEN_SIZES": [256, 256], "EPOCHS": 4,
        "BATCH_SIZE": 256, "LR": 3e-3}


@pytest.mark.notebook
def test_notebook_on_tiny_demo(tmp_path):
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    metrics = run_notebook(NOTEBOOK, tmp_path / "run", params)
    # learned something real: far above the majority-class rate, on dev and on the scored test set
    assert metrics["dev_accuracy"] > metrics["majority_rate"] + 0.25
    assert metrics["test_accuracy"] > metrics["majority_rate"] + 0.25
    # the submission: exact header, one row per test frame in order, phoneme strings
    root = tmp_path / "data" / "11-785-f24-hw1p2"
    n_test = sum(np.load(f, mmap_mode="r").shape[0] for f in sorted((root / "test-clean" / "mfcc").glob("*.npy")))
    with open(tmp_path / "run" / "submission.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "label"] and len(rows) == n_test + 1
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(n_test)]
    assert {r[1] for r in rows[1:]} <= set(PHONEMES[:40])
    for plot in ("learning_curves", "confusion_matrix", "per_class_accuracy", "dev_utterance"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 10_000

    # RESUME=True with more epochs continues from last.pt instead of starting over
    resumed = run_notebook(NOTEBOOK, tmp_path / "run2", {**params, "EPOCHS": 5, "RESUME": True})
    executed = (tmp_path / "run2" / "hw1p2.ipynb").read_text()
    assert "Resumed from" in executed and "4 epoch(s) done" in executed
    assert resumed["epochs"] == 5
