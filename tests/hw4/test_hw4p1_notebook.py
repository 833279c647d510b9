"""hw4p1.ipynb end to end on the tiny real-text demo (both models), then its resume path."""
import math

import numpy as np
import pytest

from common.lm.checkpoint import load_lm_state
from common.notebook.execute import REPO_ROOT, run_notebook
from common.text import read_wikitext_vocab

NOTEBOOK = REPO_ROOT / "hw4_transformer" / "hw4p1.ipynb"
TINY = {"DEMO": True, "DEMO_SIZE": "tiny", "EMB_SIZE": 48, "HIDDEN_SIZE": 96, "LSTM_LAYERS": 2, "D_MODEL": 48,
        "N_HEADS": 2, "N_LAYERS": 1, "D_FF": 96, "MAX_LEN": 128, "EPOCHS": 2, "BATCH_SIZE": 32, "BPTT": 32,
        "LR": {"lstm": 4e-3, "transformer": 3e-3}, "WARMUP_STEPS": 10, "NGRAM_ORDER": 2, "DROPOUT_INPUT": 0.25,
        "DROPOUT_HIDDEN": 0.15, "DROPOUT_OUTPUT": 0.25, "WEIGHT_DROP": 0.2}


@pytest.mark.notebook
def test_notebook_on_tiny_demo_text(tmp_path):
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    metrics = run_notebook(NOTEBOOK, tmp_path / "run", params)
    V = metrics["vocab_size"]
    # learnt something: far below a uniform guess over the vocabulary, below the unigram model
    for kind in ("lstm", "transformer"):
        assert metrics[f"dev_ppl_{kind}"] < 0.15 * V
    assert min(metrics["dev_ppl_lstm"], metrics["dev_ppl_transformer"]) < metrics["dev_ppl_unigram"]
    assert metrics["dev_ppl_ngram"] < metrics["dev_ppl_unigram"] < 0.2 * V
    # the tasks: (N, V) log-probabilities whose NLL on the true next words is the reported one
    root = tmp_path / "data" / "hw4p1-shakespeare"
    task = np.load(root / "prediction.npz")
    log_probs = np.load(tmp_path / "run" / "predictions.npy")
    assert log_probs.shape == (len(task["inp"]), V)
    np.testing.assert_allclose(np.logaddexp.reduce(log_probs, axis=1), 0, atol=1e-4)
    nll = -log_probs[np.arange(len(log_probs)), task["out"]].mean()
    assert nll == pytest.approx(metrics["prediction_nll"], rel=1e-5) and nll < math.log(V)
    generated = np.load(tmp_path / "run" / "generated.npy")
    assert generated.shape == (len(np.load(root / "generation.npy")), 20) and generated.max() < V
    assert len((tmp_path / "run" / "generated.txt").read_text().splitlines()) == len(generated)
    for plot in ("learning_curves", "loss_per_position"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 10_000
    lm = load_lm_state(tmp_path / "run" / "lm.pt", vocab=read_wikitext_vocab(root))
    assert lm["kind"] == "transformer" and lm["config"]["d_model"] == 48

    # RESUME=True with more epochs continues from last.pt instead of starting over
    resumed = run_notebook(NOTEBOOK, tmp_path / "run2", {**params, "EPOCHS": 3, "RESUME": True,
                                                         "MODELS": ["transformer"]})
    executed = (tmp_path / "run2" / "hw4p1.ipynb").read_text()
    assert "Resumed from" in executed and "2 epoch(s) done" in executed
    assert resumed["epochs"] == 3 and "dev_ppl_lstm" not in resumed


@pytest.mark.notebook
def test_time_budget_shared_by_the_models_stops_early_and_writes_the_task_files(tmp_path):
    """TIME_BUDGET: far more EPOCHS than fit in 0.3 minutes, epochs of 3,000 tokens; the files come from the
    model best on dev (here, after a few seconds of training, usually the n-gram) and say so."""
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt"),
              "TIME_BUDGET": 0.3, "EPOCHS": 60, "EPOCH_TOKENS": 3000}
    metrics = run_notebook(NOTEBOOK, tmp_path / "run", params)
    assert 1 <= metrics["epochs_lstm"] < 60 and 1 <= metrics["epochs_transformer"] < 60
    executed = (tmp_path / "run" / "hw4p1.ipynb").read_text()
    assert "TIME_BUDGET stage 'lstm'" in executed and "TIME_BUDGET stage 'transformer'" in executed
    assert "epochs fit; the lr schedule now ends at step" in executed
    # the prediction file is the dev-best model's: its NLL is that model's (the n-gram's when it won)
    ppl = {k: metrics[f"dev_ppl_{k}"] for k in ("lstm", "transformer", "ngram")}
    best = min(ppl, key=ppl.get)
    assert (metrics["best_model"] == "lstm" or metrics["best_model"] == "transformer") == (best != "ngram")
    assert f"best on dev: {metrics['best_model']}" in executed
    if best == "ngram":
        assert metrics["prediction_nll"] == pytest.approx(metrics["prediction_nll_ngram"], rel=1e-4)
    root = tmp_path / "data" / "hw4p1-shakespeare"
    log_probs = np.load(tmp_path / "run" / "predictions.npy")
    np.testing.assert_allclose(np.logaddexp.reduce(log_probs, axis=1), 0, atol=1e-4)
    assert np.load(tmp_path / "run" / "generated.npy").shape == (len(np.load(root / "generation.npy")), 20)
