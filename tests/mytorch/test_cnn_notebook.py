"""The Part 1 CNN notebook, executed in FAST mode: it must learn the synthetic motif task and
show the scanning MLPs equal to an MLP applied window by window."""
import pytest

from common.notebook.execute import REPO_ROOT, run_notebook

NOTEBOOK = REPO_ROOT / "hw2_cnn" / "mytorch_cnn.ipynb"


@pytest.mark.notebook
def test_mytorch_cnn_notebook(tmp_path):
    metrics = run_notebook(NOTEBOOK, tmp_path, {"FAST": True})
    # 4 balanced classes: chance is 0.25; a CNN that found the motifs is far above it
    assert metrics["chance_accuracy"] == 0.25
    assert metrics["final_accuracy"] > 0.55
    assert metrics["scanning_max_abs_diff"] < 1e-10
    for plot in ("signals", "learning_curve", "confusion_matrix", "filters"):
        assert (tmp_path / f"{plot}.png").stat().st_size > 10_000
