"""Each Part 2 notebook as a Kaggle/Colab user runs it: alone in an empty folder, ``common`` installed.

One training run per notebook (tiny demo, one or two epochs) serves several checks:
- every file lands inside the notebook's folder (``./runs/<notebook>``, ``./data/demo``), nothing next
  to it (the old defaults wrote ``../runs`` and ``../data``);
- ``SUBMIT`` without the ``kaggle`` command prints what to install and the run still succeeds;
- ``TRAIN = False`` (no training, ``best.pt`` loaded) writes exactly the same submission, and with a fake
  ``kaggle`` on PATH submits it with the right arguments;
- a ``TRAIN = False`` run whose model configuration differs from the checkpoint's is refused, both named.
"""
import json
import os
import shutil
import stat
import sys
import time

import pytest

from common.notebook.execute import REPO_ROOT

from tests.hw1.test_hw1_notebook import TINY as HW1_TINY
from tests.hw2.test_hw2p2_notebook import TINY as HW2_TINY
from tests.hw3.test_hw3p2_notebook import TINY as HW3P2_TINY
from tests.hw3.test_las_notebook import TINY as LAS_TINY
from tests.hw4.test_hw4p1_notebook import TINY as HW4P1_TINY
from tests.hw4.test_hw4p2_notebook import TINY as HW4P2_TINY

# notebook, its short name, tiny parameters, the submission file, a parameter that changes the model
CASES = {
    "hw1p2": ("hw1_mlp/hw1p2.ipynb", {**HW1_TINY, "EPOCHS": 1}, "submission.csv", {"HIDDEN_SIZES": [128, 256]}),
    "hw2p2": ("hw2_cnn/hw2p2.ipynb", {**HW2_TINY, "EPOCHS": 1}, "verification_submission.csv", {"EMBEDDING_DIM": 32}),
    # AVERAGE_BEST = 2: the TRAIN = False run averages the two kept epochs again, to the same submission
    "hw3p2": ("hw3_rnn/hw3p2.ipynb", {**HW3P2_TINY, "DEMO_SIZE": "tiny", "EPOCHS": 2, "AVERAGE_BEST": 2},
              "submission.csv", {"LSTM_HIDDEN": 32}),
    "las": ("hw3_rnn/las.ipynb", {**LAS_TINY, "EPOCHS": 2, "CTC_WARMUP_EPOCHS": 1, "PRETRAIN_LM_EPOCHS": 0,
                                  "AVERAGE_BEST": 2}, "submission.csv", {"SPELLER_HIDDEN": 48}),
    # HW4P1 is graded by Autolab, not Kaggle: its "submission" is predictions.npy, and it has no SUBMIT
    "hw4p1": ("hw4_transformer/hw4p1.ipynb", {**HW4P1_TINY, "EPOCHS": 2, "MODELS": ["transformer"], "AVERAGE_BEST": 2},
              "predictions.npy", {"D_FF": 64}),
    "hw4p2": ("hw4_transformer/hw4p2.ipynb", {**HW4P2_TINY, "EPOCHS": 2, "AVERAGE_BEST": 2}, "submission.csv",
              {"CONV_CHANNELS": 8}),
}


def _fake_kaggle(folder):
    record = folder / "kaggle_args.json"
    script = folder / "bin" / "kaggle"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
                      "print('Successfully submitted')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script.parent, record


def _run(work, name, params):
    import papermill as pm

    out = work / f"executed_{len(list(work.glob('executed_*')))}.ipynb"
    pm.execute_notebook(str(work / f"{name}.ipynb"), str(out), parameters=params, cwd=str(work),
                        kernel_name="python3", progress_bar=False, execution_timeout=900)
    return out.read_text()


@pytest.mark.notebook
@pytest.mark.parametrize("name", list(CASES))
def test_notebook_alone_in_an_empty_folder(name, tmp_path, monkeypatch):
    path, tiny, submission_name, changed = CASES[name]
    outer = tmp_path / "outer"
    work = outer / "work"
    work.mkdir(parents=True)
    shutil.copy(REPO_ROOT / path, work / f"{name}.ipynb")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))            # no ~/.kaggle of the machine running the tests
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                                if not (p and os.path.exists(os.path.join(p, "kaggle")))))
    started = time.time()
    slug = {"hw1p2": "11785-hw1p2-f24", "hw2p2": "11785-hw-2-p-2-face-verification-fall-2024",
            "hw3p2": "hw3p2-785-f24", "las": "hw3p2-785-f24", "hw4p2": "11785-hw4p2-f24"}.get(name)

    executed = _run(work, name, {**tiny, **({"SUBMIT": "first try"} if slug else {})})
    if slug:
        assert "SUBMIT: the kaggle command is not installed: `pip install kaggle`" in executed
    assert sorted(p.name for p in outer.iterdir()) == ["work"]                # nothing next to the folder
    out = work / "runs" / name
    submission = out / submission_name
    assert submission.stat().st_mtime >= started and (out / "metrics.json").exists()
    assert list((out / "checkpoints").glob("**/best.pt")) and any((work / "data" / "demo").iterdir())
    assert f"outputs -> {out}" in executed                                      # the notebook says where
    trained = submission.read_bytes()
    submission.unlink()

    bin_dir, record = _fake_kaggle(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-key")
    executed = _run(work, name, {**tiny, "TRAIN": False, **({"SUBMIT": "from best.pt"} if slug else {})})
    assert "TRAIN = False: nothing trained" in executed and "epoch 1/" not in executed
    assert submission.read_bytes() == trained                                  # the same submission, exactly
    if slug:
        assert json.loads(record.read_text()) == ["competitions", "submit", "-c", slug, "-f", str(submission),
                                                  "-m", "from best.pt"]

    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError, match="another configuration or vocabulary"):
        _run(work, name, {**tiny, **changed, "TRAIN": False})
    assert sorted(p.name for p in outer.iterdir()) == ["work"]
