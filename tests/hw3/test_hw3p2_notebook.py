"""The HW3P2 notebook end to end on tiny demo data, and its resume path."""
import csv

import numpy as np
import pytest

from common.metrics import levenshtein_distances
from common.notebook.execute import REPO_ROOT, run_notebook
from common.vocab import HW3_PHONEMES

NOTEBOOK = REPO_ROOT / "hw3_rnn" / "hw3p2.ipynb"
# 40 training utterances ("tiny") are too few for CTC to leave its all-blank start within a
# minute of CPU: 200 utterances, a 123k-parameter model, 12 epochs at lr 1e-2 (~300 steps)
TINY = {"DEMO": True, "DEMO_SIZE": {"train": 200, "dev": 20, "test": 20}, "CONV_CHANNELS": 48,
        "RESNET_BLOCKS": 1, "CONV_KERNEL": 3, "LSTM_HIDDEN": 64, "PYRAMID_LAYERS": 1, "LSTM_LAYERS": 0, "PACKED": False,
        "CLASSIFIER_HIDDEN": 128, "LOCKED_DROPOUT": 0.0, "DROPOUT": 0.0, "EPOCHS": 12, "MAX_FRAMES": 3000,
        "LR": 1e-2, "WARMUP_EPOCHS": 0, "TIME_MASKS": 1, "TIME_WIDTH": 5, "FREQ_MASKS": 1, "FREQ_WIDTH": 2,
        "BEAM_WIDTH": 4, "LM_ORDER": 3, "LM_WEIGHTS": [0.0, 0.3], "INSERTION_BONUSES": [0.0, 1.0]}


@pytest.mark.notebook
def test_notebook_on_tiny_demo(tmp_path):
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    metrics = run_notebook(NOTEBOOK, tmp_path / "run", params)
    # learned something real: far below the distance of predicting nothing, on dev and on the scored test set
    empty = metrics["empty_prediction_distance"]
    assert metrics["dev_distance_greedy"] < 0.6 * empty
    assert metrics["test_distance"] < 0.6 * empty
    # the grid includes (0, 0), which is plain beam search, so the tuned beam + LM cannot be worse on the
    # tuning utterances (all 20 dev utterances here)
    assert metrics["dev_distance_beam_lm"] <= metrics["dev_distance_beam"] + 1e-9
    # the submission: header of random_submission.csv, one row per test utterance in order, code characters
    root = tmp_path / "data" / "11-785-f24-hw3p2"
    test_ids = sorted(p.stem for p in (root / "test-clean" / "mfcc").glob("*.npy"))
    with open(tmp_path / "run" / "submission.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "label"] and len(rows) == len(test_ids) + 1
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(len(test_ids))]
    assert set("".join(r[1] for r in rows[1:])) <= set(HW3_PHONEMES.codes[1:])
    # rows are in sorted-file order: row i scores against utterance i's transcript
    truth = [HW3_PHONEMES.to_string(HW3_PHONEMES.encode(np.load(root / "demo_truth" / "test-clean" / "transcript"
                                                                 / f"{u}.npy")[1:-1])) for u in test_ids]
    assert levenshtein_distances([r[1] for r in rows[1:]], truth).mean() == pytest.approx(metrics["test_distance"])
    for plot in ("learning_curves", "ctc_posteriors", "distance_histogram", "error_breakdown"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 10_000

    # RESUME=True with more epochs continues from last.pt instead of starting over
    resumed = run_notebook(NOTEBOOK, tmp_path / "run2", {**params, "EPOCHS": TINY["EPOCHS"] + 1, "RESUME": True})
    executed = (tmp_path / "run2" / "hw3p2.ipynb").read_text()
    assert "Resumed from" in executed and f"{TINY['EPOCHS']} epoch(s) done" in executed
    assert resumed["epochs"] == TINY["EPOCHS"] + 1
