"""The LAS notebook end to end on tiny demo data, its resume path, and a wrong DATA_ROOT."""
import json
import re

import numpy as np
import pytest

from common.metrics import levenshtein_distances
from common.notebook.execute import REPO_ROOT, run_notebook
from common.submission import validate_submission
from common.vocab import HW3_PHONEMES

NOTEBOOK = REPO_ROOT / "hw3_rnn" / "las.ipynb"
TINY = {"DEMO": True, "DEMO_SIZE": "tiny", "CONV_CHANNELS": 32, "CONV_LAYERS": 1, "LISTENER_HIDDEN": 32,
        "PYRAMID_LAYERS": 1, "ATTENTION_DIM": 32, "LOCATION_CHANNELS": 4, "EMBEDDING_DIM": 32,
        "SPELLER_HIDDEN": 64, "SPELLER_LAYERS": 1, "LOCKED_DROPOUT": 0.0, "DROPOUT": 0.0, "EPOCHS": 3,
        "MAX_FRAMES": 6000, "LR": 3e-3, "PRETRAIN_LM_EPOCHS": 1, "TF_HOLD_EPOCHS": 1, "TF_DECAY_EPOCHS": 2,
        "TF_FLOOR": 0.8, "GUIDED_ATTENTION": 1.0, "GUIDED_ATTENTION_EPOCHS": 2, "BEAM_WIDTH": 2, "LM_ORDER": 2,
        "LM_WEIGHT": 0.2, "ATTENTION_PLOT_UTTERANCES": 2, "CTC_WARMUP_EPOCHS": 2}


@pytest.mark.notebook
def test_notebook_on_tiny_demo_and_resume(tmp_path):
    ctc = tmp_path / "ctc_metrics.json"
    ctc.write_text(json.dumps({"dev_distance_greedy": 7.5, "dev_distance_beam": 7.0}))
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt"),
              "CTC_METRICS": str(ctc)}
    metrics = run_notebook(NOTEBOOK, tmp_path / "run", params)
    for key in ("dev_per_greedy", "dev_per_beam", "dev_per_beam_lm", "empty_prediction_per",
                "attention_diagonality", "attention_diagonality_chance", "test_distance", "distinct_greedy_share",
                "dev_per_ctc_head", "dev_per_beam_ctc"):
        assert np.isfinite(metrics[key]), key
    assert metrics["empty_prediction_per"] == 1.0
    # the submission is decoded with the setting best on dev (PER; the CTC head alone is one), reported as
    # dev_per_best / dev_distance_best
    decoders = {"greedy": "dev_per_greedy", "beam": "dev_per_beam", "beam_ctc": "dev_per_beam_ctc",
                "beam_lm": "dev_per_beam_lm", "ctc head": "dev_per_ctc_head"}
    assert metrics["dev_per_best"] == min(metrics[k] for k in decoders.values())
    assert metrics[decoders[metrics["submission_decoder"]]] == metrics["dev_per_best"]
    suffix = decoders[metrics["submission_decoder"]].removeprefix("dev_per_")
    assert metrics["dev_distance_best"] == metrics[f"dev_distance_{suffix}"]
    assert metrics["dev_perplexity"] < 0.9 * 41               # below uniform over 40 phonemes + eos (41)
    assert 0.0 < metrics["attention_diagonality_chance"] < 1.0
    # the submission passes the validator (header of random_submission.csv, one row per test utterance,
    # indices in order, code characters only) and scores as the notebook's test distance: row i is
    # test utterance i in sorted-file order
    root = tmp_path / "data" / "11-785-f24-hw3p2"
    transcripts = sorted((root / "demo_truth" / "test-clean" / "transcript").glob("*.npy"))
    submission = tmp_path / "run" / "submission.csv"
    validate_submission(submission, header=("index", "label"), n_rows=len(transcripts),
                        label_chars=HW3_PHONEMES.codes[1:])
    predicted = [line.split(",")[1] for line in submission.read_text().splitlines()[1:]]
    truth = [HW3_PHONEMES.to_string(HW3_PHONEMES.encode(np.load(f)[1:-1])) for f in transcripts]
    assert levenshtein_distances(predicted, truth).mean() == pytest.approx(metrics["test_distance"])
    for plot in ("learning_curves", "attention_over_epochs", "decoding_comparison", "error_breakdown", "las_vs_ctc"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 10_000
    executed = (tmp_path / "run" / "las.ipynb").read_text()
    assert "CTC notebook results from" in executed
    assert len(list((tmp_path / "ckpt" / "attention").glob("epoch_*.npz"))) == TINY["EPOCHS"]
    # the CTC warm-up ran first, lowered its loss, and kept its own checkpoints
    warm_up = re.search(r"CTC warm-up: train CTC loss ([\d.]+) -> ([\d.]+) in 2 epochs", executed)
    first, last = map(float, warm_up.groups())
    assert last < first
    assert (tmp_path / "ckpt" / "ctc_warmup" / "last.pt").is_file()

    # RESUME=True with one more epoch continues from last.pt (no warm-up, no LM pretraining again), and the
    # teacher-forcing schedule continues: epoch 4 runs at the floor
    resumed = run_notebook(NOTEBOOK, tmp_path / "run2", {**params, "EPOCHS": TINY["EPOCHS"] + 1, "RESUME": True})
    executed = (tmp_path / "run2" / "las.ipynb").read_text()
    assert "Resumed from" in executed and f"{TINY['EPOCHS']} epoch(s) done" in executed
    assert not re.search(r"speller LM: train perplexity \d", executed)
    assert not re.search(r"CTC warm-up: train CTC loss \d", executed)
    assert "tf_rate 0.8 " in executed
    assert resumed["epochs"] == TINY["EPOCHS"] + 1
    assert len(list((tmp_path / "ckpt" / "attention").glob("epoch_*.npz"))) == TINY["EPOCHS"] + 1


@pytest.mark.notebook
def test_wrong_data_root_is_a_clear_error(tmp_path):
    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError, match="DataFormatError.*hw3p2-785-f24"):
        run_notebook(NOTEBOOK, tmp_path / "run", {"DEMO": False, "DATA_ROOT": str(tmp_path / "nowhere")})


@pytest.mark.parametrize("stride, pyramid", [(1, 2), (2, 1), (2, 2)])
def test_strided_listener_lengths_and_padding(stride, pyramid):
    # CONV_STRIDE (issue 23): the first conv halves the frames before the first LSTM; the listener's output
    # lengths are what LAS.frame_lengths (attention plots, feasibility) computes, and an utterance encodes the
    # same alone as inside a padded batch (the masks follow the strided lengths)
    import math
    from types import SimpleNamespace

    import torch
    import torch.nn.functional as F
    from torch import nn

    from common.notebook.cells import notebook_namespace
    ns = notebook_namespace(NOTEBOOK, ("model",), {"torch": torch, "nn": nn, "F": F, "math": math})
    torch.manual_seed(0)
    listener = ns["Listener"](28, 8, 2, 6, 0, pyramid, 0.0, packed=False, conv_stride=stride).eval()
    lengths = torch.tensor([37, 20, 9])
    x = torch.randn(3, 37, 28)
    with torch.no_grad():
        out, out_lengths = listener(x, lengths)
        alone, alone_lengths = listener(x[1:2, :20], lengths[1:2])
    expected = ns["LAS"].frame_lengths(SimpleNamespace(listener=listener), lengths)
    assert out_lengths.tolist() == expected.tolist()
    frames = (37 - 1) // stride + 1                   # ceil(37 / stride): the conv's kernel 3, padding 1
    for _ in range(pyramid):
        frames = (frames + 1) // 2
    assert out.shape[1] == frames == expected[0]
    n = int(alone_lengths[0])
    assert n == int(out_lengths[1])
    torch.testing.assert_close(out[1, :n], alone[0, :n], atol=1e-5, rtol=1e-5)
