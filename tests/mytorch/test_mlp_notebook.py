"""Runs hw1_mlp/mytorch_experiments.ipynb in FAST mode and checks what its experiments claim."""
import pytest

from common.notebook.execute import REPO_ROOT, run_notebook

NOTEBOOK = REPO_ROOT / "hw1_mlp" / "mytorch_experiments.ipynb"


@pytest.mark.notebook
def test_mytorch_experiments_notebook(tmp_path):
    m = run_notebook(NOTEBOOK, tmp_path, {"FAST": True})
    # 1. hand-set weights compute XOR exactly; 2. backprop agrees with finite differences
    assert m["xor_solved"] is True
    assert m["gradcheck_max_rel_error"] < 1e-6
    # 2. per epoch, mini-batches beat one full-batch step
    assert m["minibatch_final_loss"] < m["fullbatch_final_loss"]
    # 3. Adam and momentum beat plain SGD on the spirals
    assert m["optim_final_loss_Adam"] < m["optim_final_loss_SGD"] / 5
    assert m["optim_final_loss_SGD_momentum_0.9"] < m["optim_final_loss_SGD"]
    # 4. the networks classify 3-class spirals and circles far above chance on fresh points
    assert m["spirals_val_accuracy"] > 0.9 and m["circles_val_accuracy"] > 0.95
    # 5. two hidden layers beat one; width 64 beats width 4
    assert m["arch_val_acc_2_hidden"] > m["arch_val_acc_1_hidden"]
    assert m["arch_val_acc_width_64"] > m["arch_val_acc_width_4"] + 0.3
    # 6. without regularization the model overfits; L2 keeps train loss up and val loss down
    assert m["reg_no_regularization_final_val_loss"] > 1.5 * m["reg_no_regularization_best_val_loss"]
    assert m["reg_L2_final_train_loss"] > m["reg_no_regularization_final_train_loss"]
    assert m["reg_L2_final_val_loss"] < m["reg_no_regularization_final_val_loss"]
    # 7. speech frames: far above the majority class, and mytorch learns what torch learns
    assert m["speech_dev_accuracy_mytorch"] > m["speech_majority_accuracy"] + 0.2
    assert abs(m["speech_dev_accuracy_mytorch"] - m["speech_dev_accuracy_torch"]) < 0.05
    for name in ("xor", "optimizers", "decision_boundaries", "regularization", "speech_mytorch_vs_torch"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
