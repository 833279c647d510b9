"""Kaggle/Colab plumbing: checkpoint averaging, keeping the N best epochs, submitting, output folders."""
import json
import os
import stat

import pytest
import torch
from torch import nn

from common.engine.averaging import KeepBest, average_best, average_state_dicts, best_k_entries
from common.notebook import kaggle
from common.notebook.setup import finish, resolve_folders


def _states(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"w": torch.randn(5, 3, generator=g), "b": torch.randn(3, generator=g),
             "num_batches_tracked": torch.tensor(10 + i)} for i in range(n)]


def test_averaging_identical_checkpoints_returns_the_same_weights():
    state = _states(1)[0]
    avg = average_state_dicts([state, {k: v.clone() for k, v in state.items()}, state])
    for k, v in state.items():
        assert avg[k].dtype == v.dtype
        torch.testing.assert_close(avg[k], v, rtol=0, atol=0)


def test_averaging_is_the_mean_and_order_independent():
    states = _states(5, seed=3)
    avg = average_state_dicts(states)
    torch.testing.assert_close(avg["w"], torch.stack([s["w"] for s in states]).double().mean(0).float())
    assert int(avg["num_batches_tracked"]) == 12                     # floor of the mean of 10..14
    for order in ([4, 2, 0, 1, 3], [1, 0, 3, 2, 4]):
        other = average_state_dicts([states[i] for i in order])
        for k in avg:
            assert torch.equal(other[k], avg[k]), k                    # bit for bit
    with pytest.raises(ValueError, match="other keys"):
        average_state_dicts([states[0], {"w": states[1]["w"]}])


def test_keep_best_keeps_the_n_best_epochs_and_averages_them(tmp_path):
    model = nn.Linear(3, 2)
    logged = []

    class Run:
        def log(self, row, step=None):
            logged.append(step)

    keeper = KeepBest(model, tmp_path, 2, monitor="val_loss", mode="min", logger=Run())
    weights = {}
    for epoch, loss in enumerate([0.9, 0.5, 0.7, 0.6, 0.8], 1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        weights[epoch] = model.weight.clone()
        keeper.log({"epoch": epoch, "val_loss": loss}, step=epoch)
    assert logged == [1, 2, 3, 4, 5]                                   # forwarded to the wrapped run
    assert [e["epoch"] for e in best_k_entries(tmp_path)] == [2, 4]
    assert sorted(p.name for p in (tmp_path / "best_k").glob("*.pt")) == ["epoch_002.pt", "epoch_004.pt"]
    state, epochs = average_best(tmp_path, 2, model)
    assert epochs == [2, 4]
    torch.testing.assert_close(model.weight, (weights[2] + weights[4]) / 2)
    # an epoch trained again after a kill replaces its entry; a resumed keeper continues the index
    resumed = KeepBest(model, tmp_path, 2, monitor="val_loss", mode="min", resume=True)
    resumed.log({"epoch": 4, "val_loss": 0.4}, step=4)
    assert [(e["epoch"], e["value"]) for e in best_k_entries(tmp_path)] == [(4, 0.4), (2, 0.5)]
    # a new run moves the earlier run's weights aside at its first epoch (building one, to decode, does not)
    fresh = KeepBest(model, tmp_path, 2, monitor="val_loss", resume=False)
    assert (tmp_path / "best_k" / "index.json").exists()
    fresh.log({"epoch": 1, "val_loss": 1.0})
    assert [e["epoch"] for e in best_k_entries(tmp_path)] == [1]
    assert len(list((tmp_path / "earlier").glob("best_k-*/epoch_*.pt"))) == 2


def _fake_kaggle(folder, exit_code=0):
    record = folder / "kaggle_args.json"
    script = folder / "bin" / "kaggle"
    script.parent.mkdir()
    script.write_text("#!/usr/bin/env python3\nimport json, sys\n"
                      f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
                      f"print('Successfully submitted' if {exit_code} == 0 else '403 Forbidden')\n"
                      f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script.parent, record


def test_submit_runs_the_kaggle_command_with_the_right_arguments(tmp_path, monkeypatch, capsys):
    bin_dir, record = _fake_kaggle(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    csv = tmp_path / "submission.csv"
    csv.write_text("index,label\n0,a\n")
    assert kaggle.submit(csv, "hw3p2-785-f24", "beam + LM")
    assert json.loads(record.read_text()) == ["competitions", "submit", "-c", "hw3p2-785-f24", "-f", str(csv),
                                              "-m", "beam + LM"]
    # finish() submits with the notebook's slug when SUBMIT is a message
    finish(tmp_path / "out", {"x": 1.0}, notebook="hw1p2", submission=csv, submit_message="first")
    assert json.loads(record.read_text())[3] == "11785-hw1p2-f24"


def test_submit_without_the_tool_or_token_says_what_to_do_and_never_raises(tmp_path, monkeypatch, capsys):
    csv = tmp_path / "submission.csv"
    csv.write_text("index,label\n")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert not kaggle.submit(csv, "hw3p2-785-f24", "m")
    assert "pip install kaggle" in capsys.readouterr().out
    bin_dir, _ = _fake_kaggle(tmp_path, exit_code=1)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert not kaggle.submit(csv, "hw3p2-785-f24", "m")
    assert "kaggle.json" in capsys.readouterr().out
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text("{}")
    assert not kaggle.submit(csv, "hw3p2-785-f24", "m")                 # the tool fails: reported, not raised
    assert "SUBMIT failed" in capsys.readouterr().out


def test_output_folders_inside_and_outside_a_checkout(tmp_path, monkeypatch):
    from common.notebook.execute import REPO_ROOT

    inside = resolve_folders("hw3p2", "hw3_rnn/hw3p2", cwd=REPO_ROOT / "hw3_rnn")
    assert inside["OUTPUT_DIR"] == REPO_ROOT / "runs" / "hw3_rnn" / "hw3p2"
    assert inside["DEMO_DIR"] == REPO_ROOT / "data" / "demo"
    outside = resolve_folders("hw3p2", "hw3_rnn/hw3p2", cwd=tmp_path)
    assert outside["OUTPUT_DIR"] == tmp_path.resolve() / "runs" / "hw3p2"
    assert outside["DEMO_DIR"] == tmp_path.resolve() / "data" / "demo"
    assert outside["CHECKPOINT_DIR"] == outside["OUTPUT_DIR"] / "checkpoints"
    # on Kaggle the folders go under /kaggle/working, and finish() copies the submission there
    working = tmp_path / "kaggle" / "working"
    working.mkdir(parents=True)
    monkeypatch.setattr(kaggle, "KAGGLE_WORKING", working)
    monkeypatch.setattr("common.notebook.setup.KAGGLE_WORKING", working)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    on_kaggle = resolve_folders("hw1p2", "hw1_mlp", cwd=tmp_path)
    assert on_kaggle["OUTPUT_DIR"] == working.resolve() / "runs" / "hw1p2"
    out = on_kaggle["OUTPUT_DIR"]
    out.mkdir(parents=True)
    (out / "submission.csv").write_text("id,label\n0,AH\n")
    finish(out, {"dev_accuracy": 0.5}, notebook="hw1p2", submission=out / "submission.csv")
    assert (working / "submission.csv").read_text() == "id,label\n0,AH\n"
    # DRIVE = True off Colab: one line, the checkpoints stay local
    drive = resolve_folders("hw1p2", "hw1_mlp", cwd=tmp_path, drive=True)
    assert drive["CHECKPOINT_DIR"] == drive["OUTPUT_DIR"] / "checkpoints"


def test_train_false_without_a_checkpoint_says_how_to_get_one(tmp_path):
    from common.notebook.setup import train_or_load

    with pytest.raises(FileNotFoundError, match="set CHECKPOINT to a checkpoint file"):
        train_or_load(lambda: None, False, 1, tmp_path / "best.pt")


def test_resume_check_falls_back_to_best_pt_and_passes_old_checkpoints(tmp_path, capsys):
    from common.engine.checkpoint import CheckpointError, check_run_metadata, save_checkpoint

    model = nn.Linear(2, 2)
    save_checkpoint(tmp_path / "best.pt", model=model, metadata={"vocab": ["a", "b"]})
    (tmp_path / "last.pt").write_bytes(b"truncated")                      # unreadable: best.pt is checked
    with pytest.raises(CheckpointError, match="best.pt"):
        check_run_metadata(tmp_path, {"vocab": ["b", "a"]})
    save_checkpoint(tmp_path / "best.pt", model=model)                     # written before metadata existed
    check_run_metadata(tmp_path, {"vocab": ["b", "a"]})
    assert "holds no configuration or vocabulary" in capsys.readouterr().out
