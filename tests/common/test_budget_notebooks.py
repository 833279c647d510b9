"""TIME_BUDGET in the notebooks (issue 23): far more EPOCHS than fit, a budget of seconds; each stage stops
early at an epoch end, and the notebook goes on to evaluation and writes its submission.

hw1p2: one stage. las: three stages (CTC warm-up, speller LM, main run) share one budget in order.
"""
import csv
import re

import pytest

from common.notebook.execute import REPO_ROOT, run_notebook


def _budget_lines(path) -> list[str]:
    text = path.read_text().replace("\\n", "\n")
    return re.findall(r"TIME_BUDGET stage '(\w+)': [\d.]+ of its [\d.]+ min \([\d.]+ min in all\): ([^\"\n]+)", text)


@pytest.mark.notebook
def test_hw1p2_stops_at_the_budget_and_writes_its_submission(tmp_path):
    from tests.hw1.test_hw1_notebook import TINY
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt"),
              "TIME_BUDGET": 0.2, "EPOCHS": 60}
    metrics = run_notebook(REPO_ROOT / "hw1_mlp" / "hw1p2.ipynb", tmp_path / "run", params)
    assert 1 <= metrics["epochs"] < 60
    lines = _budget_lines(tmp_path / "run" / "hw1p2.ipynb")
    assert lines == [("train", f"stops after {metrics['epochs']} of 60 epochs")]
    with open(tmp_path / "run" / "submission.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "label"] and len(rows) > 100
    assert metrics["dev_accuracy"] > metrics["majority_rate"]       # the epochs it had, it learnt in


@pytest.mark.notebook
def test_las_stages_share_the_budget_in_order(tmp_path):
    from tests.hw3.test_las_notebook import TINY
    params = {**TINY, "DEMO_DIR": str(tmp_path / "data"), "CHECKPOINT_DIR": str(tmp_path / "ckpt"),
              "TIME_BUDGET": 0.4, "EPOCHS": 60, "CTC_WARMUP_EPOCHS": 30}
    metrics = run_notebook(REPO_ROOT / "hw3_rnn" / "las.ipynb", tmp_path / "run", params)
    lines = _budget_lines(tmp_path / "run" / "las.ipynb")
    stages = [name for name, _ in lines]
    assert stages[0] == "ctc_warmup" and stages[-1] == "main"
    assert "stops after" in lines[0][1] and "of 30 epochs" in lines[0][1]
    assert 1 <= metrics["epochs"] < 60 and lines[-1][1] == f"stops after {metrics['epochs']} of 60 epochs"
    assert (tmp_path / "run" / "submission.csv").stat().st_size > 0
