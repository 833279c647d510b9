"""hw3_rnn/mytorch_rnn.ipynb end to end in FAST mode on a small demo corpus."""
import pytest

from common.notebook.execute import REPO_ROOT, run_notebook

NOTEBOOK = REPO_ROOT / "hw3_rnn" / "mytorch_rnn.ipynb"


@pytest.mark.notebook
def test_mytorch_rnn_notebook(tmp_path):
    params = {"FAST": True, "DEMO_SIZE": 120, "MAX_UTTERANCES": 120,
              "DEMO_DIR": str(tmp_path / "data")}
    metrics = run_notebook(NOTEBOOK, tmp_path / "run", params)
    # the mytorch RNN and GRU learned: far above always guessing the most frequent phoneme
    assert metrics["rnn_dev_accuracy"] > metrics["majority_rate"] + 0.2
    assert metrics["gru_dev_accuracy"] > metrics["majority_rate"] + 0.2
    # CTC training with mytorch.nn.CTCLoss made the transcripts far more likely
    assert metrics["ctc_last_epoch_loss"] < 0.6 * metrics["ctc_first_epoch_loss"]
    assert metrics["greedy_mean_distance"] < metrics["dev_mean_phonemes"]
    # beam search's best string scores at least the greedy path; the exact probability of that
    # string (CTC forward over all alignments) is at least the pruned beam's score
    assert metrics["decoded_utterances"] >= 3
    assert metrics["beam_minus_greedy_log10_min"] >= -1e-9
    assert metrics["exact_minus_beam_log10_min"] >= -1e-9
    assert metrics["gamma_sum_error"] < 1e-9
    for plot in ("learning_curves", "ctc_training", "ctc_posterior"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 10_000
