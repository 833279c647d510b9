"""fit and checkpoints under the mistakes of issue 11: earlier runs, missing/corrupt/non-finite
checkpoints, NaN/inf in any step, changed optimizer/lr/monitor on resume, stateful objects."""
import os
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from common.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    nonfinite_tensors,
    read_checkpoint,
    save_checkpoint,
)
from common.engine.options import Checkpointing, Validation
from common.engine.schedule import warmup_cosine
from common.engine.train import fit, train_epoch


def _data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return x, (x[:, 0] > 0).long()


def _batches(n=48, batch=16):
    x, y = _data(n)
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


def _loss(model, batch):
    x, y = batch
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), {"acc": (logits.argmax(1) == y).sum(), "n": len(y)}


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))


def _fit(model, ckpt, epochs, resume=False, opt=None, keep_earlier=True, validation=None, **kw):
    opt = opt or torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = _batches()
    return fit(model, opt, data, _loss, epochs=epochs, device="cpu", validation=validation or Validation(data),
               checkpoints=Checkpointing(ckpt, resume=resume, keep_earlier=keep_earlier), **kw)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ an earlier run is never replaced
def test_new_run_keeps_the_earlier_runs_checkpoints(tmp_path, capsys):
    _fit(_model(), tmp_path, 3)
    before = {n: (tmp_path / n).read_bytes() for n in ("last.pt", "best.pt")}
    _fit(_model(seed=1), tmp_path, 1)                                   # RESUME=False again
    out = capsys.readouterr().out
    kept = list((tmp_path / "earlier").iterdir())
    assert len(kept) == 1 and {p.name: p.read_bytes() for p in kept[0].iterdir()} == before
    assert "moved to" in out and str(tmp_path) in out and "RESUME=True" in out and "CHECKPOINT_DIR" in out
    assert read_checkpoint(tmp_path / "last.pt")["epoch"] == 0           # the new run's own files


def test_every_new_run_gets_its_own_earlier_folder(tmp_path):
    for seed in range(3):
        _fit(_model(seed), tmp_path, 1)
    kept = sorted((tmp_path / "earlier").iterdir())
    assert len(kept) == 2 and all((k / "last.pt").is_file() for k in kept)


def test_keep_earlier_false_is_the_explicit_overwrite(tmp_path, capsys):
    _fit(_model(), tmp_path, 1)
    _fit(_model(), tmp_path, 1, keep_earlier=False)
    assert "deleted the earlier run" in capsys.readouterr().out and not (tmp_path / "earlier").exists()


# ------------------------------------------------------------------ resume falls back, never starts over
def test_resume_without_last_uses_best_and_never_replaces_it_by_a_worse_model(tmp_path, capsys):
    _fit(_model(), tmp_path, 3)
    best_before = read_checkpoint(tmp_path / "best.pt")
    (tmp_path / "last.pt").unlink()
    h = _fit(_model(seed=5), tmp_path, 5, resume=True)
    out = capsys.readouterr().out
    assert "last.pt is missing: resuming from" in out and "best.pt" in out
    assert h["epoch"].tolist()[0] == 1 and len(h) == 5                   # history of best.pt carried on
    best_after = read_checkpoint(tmp_path / "best.pt")
    assert best_after["best_metric"] <= best_before["best_metric"]


@pytest.mark.parametrize("damage", ["truncate", "text", "nan"])
def test_unusable_last_falls_back_to_best_and_is_kept(tmp_path, capsys, damage):
    model = _model()
    _fit(model, tmp_path, 2)
    last = tmp_path / "last.pt"
    if damage == "truncate":
        last.write_bytes(last.read_bytes()[:1000])
    elif damage == "text":
        last.write_text("not a checkpoint")
    else:                                                                # NaN weights from an old version
        with torch.no_grad():
            model[0].weight[0, 0] = float("nan")
        save_checkpoint(last, model=model, epoch=1, check_finite=False)
    damaged = last.read_bytes()
    best_epoch = read_checkpoint(tmp_path / "best.pt")["epoch"]
    h = _fit(_model(seed=3), tmp_path, 3, resume=True)
    out = capsys.readouterr().out
    assert f"resuming from {tmp_path / 'best.pt'}" in out
    assert (tmp_path / "last.pt.unreadable").read_bytes() == damaged
    assert len(h) == 3 and h["epoch"].tolist() == [1, 2, 3] and best_epoch <= 1


def test_no_usable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    _fit(_model(), tmp_path, 1)
    for name in ("last.pt", "best.pt"):
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(CheckpointError) as err:
        _fit(_model(), tmp_path, 2, resume=True)
    msg = str(err.value)
    assert "last.pt" in msg and "best.pt" in msg and "RESUME=False" in msg and "CHECKPOINT_DIR" in msg
    assert (tmp_path / "last.pt").read_bytes() == b"garbage"             # nothing touched


def test_corrupt_checkpoint_message_does_not_say_delete(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", model=_model(), epoch=0)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, _model())
    assert "Do not delete" in str(err.value) and not re.search(r"(?<!not )delete it", str(err.value))
    assert "falls back" in str(err.value)


def test_resume_with_nothing_to_resume_starts_fresh_and_says_so(tmp_path, capsys):
    h = _fit(_model(), tmp_path / "new", 1, resume=True)
    assert "no checkpoint" in capsys.readouterr().out and len(h) == 1


def test_resume_of_a_finished_run_trains_nothing(tmp_path):
    model = _model()
    _fit(model, tmp_path, 2)
    ref = _weights(model)
    again = _model(seed=9)
    h = _fit(again, tmp_path, 2, resume=True)
    assert len(h) == 2 and all(torch.equal(v, ref[k]) for k, v in again.state_dict().items())


# ------------------------------------------------------------------ NaN / inf
@pytest.mark.parametrize("steps", [1, 3, 25])
def test_nonfinite_loss_in_the_last_step_is_caught_whatever_the_epoch_length(tmp_path, steps):
    """The old check ran every 20 steps: epochs shorter than that were never checked and the
    last steps of longer ones were saved before the error fired."""
    model = _model()
    calls = {"n": 0}
    poisoned_from = steps + steps   # the last step of the second epoch

    def loss(m, batch):
        calls["n"] += 1
        value, stats = _loss(m, batch)
        return (value * float("nan") if calls["n"] == poisoned_from else value), stats

    x, y = _data(steps * 4)
    data = [(x[i:i + 4], y[i:i + 4]) for i in range(0, steps * 4, 4)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match=r"NaN/inf in 1 of \d+ step|became nan") as err:
        fit(model, opt, data, loss, epochs=3, device="cpu", checkpoints=Checkpointing(tmp_path),
            validation=Validation(monitor="train_loss"))
    assert "learning rate" in str(err.value)
    for name in ("last.pt", "best.pt"):
        state = read_checkpoint(tmp_path / name)
        assert state["epoch"] == 0 and not nonfinite_tensors(state["model"])


def test_nonfinite_weights_after_a_finite_loss_are_never_saved(tmp_path):
    """The last optimizer step of an epoch makes the weights inf; every loss was finite."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = _batches()
    blow_up_at = 2 * len(data)                                              # step of epoch 2's last update
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: float("inf") if s == blow_up_at - 1 else 1.0)
    with pytest.raises(FloatingPointError, match=r"epoch 2: the weights hold NaN/inf .*still holds epoch 1"):
        fit(model, opt, data, _loss, epochs=3, device="cpu", scheduler=sched, checkpoints=Checkpointing(tmp_path),
            validation=Validation(monitor="train_loss"))
    assert read_checkpoint(tmp_path / "last.pt")["epoch"] == 0
    assert nonfinite_tensors(model)                                         # really diverged in memory


def test_nonfinite_validation_loss_is_reported_and_not_saved(tmp_path):
    model = _model()
    x, y = _data()
    bad_val = [(x.clone().fill_(float("nan")), y)]
    with pytest.raises(FloatingPointError, match=r"epoch 1: val_loss = nan.*validation data"):
        _fit(model, tmp_path, 2, validation=Validation(bad_val))
    assert not (tmp_path / "last.pt").exists() and not (tmp_path / "best.pt").exists()


def test_nonfinite_monitored_value_from_extra_eval_is_reported(tmp_path):
    with pytest.raises(FloatingPointError, match="val_eer = nan"):
        _fit(_model(), tmp_path, 1,
             validation=Validation(_batches(), extra=lambda m, e: {"val_eer": float("nan")}, monitor="val_eer"))


def test_save_checkpoint_refuses_nonfinite_weights_and_keeps_the_file(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "best.pt", model=model, epoch=0)
    before = path.read_bytes()
    with torch.no_grad():
        model[2].bias[1] = float("inf")
    with pytest.raises(FloatingPointError, match=r"not saving .*best.pt.*2.bias"):
        save_checkpoint(path, model=model, epoch=1)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["best.pt"]
    ema = torch.optim.swa_utils.AveragedModel(_model())
    with torch.no_grad():
        ema.module[0].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="module.0.weight"):
        save_checkpoint(path, model=_model(), ema=ema, epoch=1)


def test_the_finiteness_check_adds_no_host_sync_per_step(monkeypatch):
    """Syncs (item/float/bool/int/tolist on a tensor) are counted: 5 and 50 steps need the same number."""
    counts = {"n": 0}
    for name in ("item", "__float__", "__bool__", "__int__", "tolist"):
        original = getattr(torch.Tensor, name)

        def counting(self, *a, _original=original, **k):
            counts["n"] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counting)

    def run(steps):
        counts["n"] = 0
        model = _model()
        x, y = _data(steps * 2)
        data = [(x[i:i + 2], y[i:i + 2]) for i in range(0, steps * 2, 2)]
        train_epoch(model, data, lambda m, b: (_loss(m, b)[0], {"n": 2}), torch.optim.SGD(model.parameters(), 0.1),
                    device="cpu", refresh_every=10 ** 6)
        return counts["n"]

    assert run(5) == run(50) <= 4


# ------------------------------------------------------------------ stale temporaries
def test_fit_removes_dead_writers_temporaries_of_both_checkpoints(tmp_path):
    """Removed when fit starts, even by a run that writes neither file again (here: a finished run)."""
    _fit(_model(), tmp_path, 1, validation=Validation(monitor="train_loss"))
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    stale = [tmp_path / f".last.pt.{dead}.x1.tmp", tmp_path / f".best.pt.{dead}.x2.tmp"]
    for p in stale:
        p.write_bytes(b"\0" * 1000)
    live = tmp_path / f".best.pt.{os.getpid()}.x3.tmp"
    live.write_bytes(b"mine")
    _fit(_model(), tmp_path, 1, resume=True, validation=Validation(monitor="train_loss"))
    assert not any(p.exists() for p in stale) and live.exists()


# ------------------------------------------------------------------ resuming a changed run
def test_another_optimizer_class_is_named_with_the_checkpoint(tmp_path):
    _fit(_model(), tmp_path, 1)
    model = _model()
    with pytest.raises(CheckpointError, match=r"last.pt was saved with the optimizer SGD, this run uses AdamW"):
        _fit(model, tmp_path, 2, resume=True, opt=torch.optim.AdamW(model.parameters()))


def test_another_optimizer_in_a_checkpoint_without_its_class_name(tmp_path):
    _fit(_model(), tmp_path, 1)
    state = read_checkpoint(tmp_path / "last.pt")
    del state["optimizer_class"]                                        # as written by the earlier version
    torch.save(state, tmp_path / "last.pt")
    model = _model()
    with pytest.raises(CheckpointError, match=r"last.pt was saved by another optimizer than AdamW .*momentum"):
        _fit(model, tmp_path, 2, resume=True, opt=torch.optim.AdamW(model.parameters()))


def test_changed_lr_and_weight_decay_take_the_new_values_and_are_printed(tmp_path, capsys):
    def run(lr, wd, epochs, resume, ckpt):
        model = _model()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
        sched = warmup_cosine(opt, total_steps=4 * 3, warmup_steps=2)
        h = _fit(model, ckpt, epochs, resume=resume, opt=opt, scheduler=sched)
        return h, opt, sched

    run(1e-2, 0.01, 2, False, tmp_path / "a")
    h, opt, sched = run(5e-3, 0.05, 4, True, tmp_path / "a")
    assert "changed on resume: lr 0.01 -> 0.005, weight_decay 0.01 -> 0.05" in capsys.readouterr().out
    ref, _, _ = run(1e-2, 0.01, 4, False, tmp_path / "b")
    # the schedule continues at the same step, scaled to the new peak
    assert h["lr"].tolist()[2:] == pytest.approx([v / 2 for v in ref["lr"].tolist()[2:]], rel=1e-9)
    assert opt.param_groups[0]["weight_decay"] == 0.05 and sched.base_lrs == [5e-3]
    # resuming again with the same values prints nothing and changes nothing
    run(5e-3, 0.05, 5, True, tmp_path / "a")
    assert "changed on resume" not in capsys.readouterr().out


def test_unchanged_settings_with_a_plateau_scheduler_are_not_reported_as_changed(tmp_path, capsys):
    def run(epochs, resume):
        model = _model()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=10.0)
        _fit(model, tmp_path, epochs, resume=resume, opt=opt, scheduler=sched, scheduler_interval="epoch")
        return opt.param_groups[0]["lr"]

    reduced = run(3, False)
    assert reduced < 0.1                                                 # the plateau lowered it
    run(3, True)
    out = capsys.readouterr().out
    assert "changed on resume" not in out


def test_changed_monitor_does_not_reuse_the_old_best(tmp_path, capsys):
    _fit(_model(), tmp_path, 2, validation=Validation(_batches(), monitor="val_acc", mode="max"))
    old_best = (tmp_path / "best.pt").read_bytes()
    h = _fit(_model(), tmp_path, 3, resume=True, validation=Validation(_batches(), monitor="val_loss", mode="min"))
    out = capsys.readouterr().out
    assert "monitor changed on resume: val_acc (max) -> val_loss (min)" in out
    assert (tmp_path / "best_val_acc.pt").read_bytes() == old_best        # kept under its own name
    best = read_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == 2 and best["best_metric"] == pytest.approx(h["val_loss"].iloc[2])
    assert best["monitor"] == "val_loss"
    assert re.search(r"epoch 3 .*\(best\)", out)                        # a new best, whatever the old number


# ------------------------------------------------------------------ stateful objects
class Counter:
    def __init__(self):
        self.epochs, self.loaded, self.value = [], None, 0

    def set_epoch(self, epoch):
        self.epochs.append(epoch)
        self.value += 1

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.loaded = dict(state)
        self.value = state["value"]


def test_stateful_objects_are_saved_restored_and_told_the_epoch(tmp_path):
    c = Counter()
    _fit(_model(), tmp_path, 2, stateful={"sampler": c})
    assert c.epochs == [0, 1] and read_checkpoint(tmp_path / "last.pt")["stateful"] == {"sampler": {"value": 2}}
    d = Counter()
    _fit(_model(), tmp_path, 4, resume=True, stateful={"sampler": d})
    assert d.loaded == {"value": 2} and d.epochs == [2, 3] and d.value == 4


def test_stateful_problems_are_clear_errors(tmp_path):
    with pytest.raises(TypeError, match=r"stateful\['x'\] \(object\) needs state_dict"):
        _fit(_model(), tmp_path, 1, stateful={"x": object()})
    _fit(_model(), tmp_path / "b", 1)
    with pytest.raises(CheckpointError, match=r"last.pt holds no state for 'sampler'"):
        _fit(_model(), tmp_path / "b", 2, resume=True, stateful={"sampler": Counter()})


def test_identity_sampler_resumes_with_the_same_batches():
    import numpy as np

    from common.faces.samplers import IdentityBatchSampler

    labels = np.repeat(np.arange(10), 4)
    a = IdentityBatchSampler(labels, 3, 2, seed=1)
    epochs = []
    for e in range(3):
        a.set_epoch(e)
        epochs.append(list(a))
    b = IdentityBatchSampler(labels, 3, 2, seed=99)
    b.load_state_dict(a.state_dict())
    b.set_epoch(2)
    assert list(b) == epochs[2] and epochs[1] != epochs[2]


def test_unusable_best_next_to_a_good_last_is_kept_aside_and_rewritten(tmp_path, capsys):
    _fit(_model(), tmp_path, 2)
    (tmp_path / "best.pt").write_bytes(b"half a file")
    h = _fit(_model(), tmp_path, 3, resume=True)
    out = capsys.readouterr().out
    assert "best value is reset" in out and (tmp_path / "best.pt.unreadable").read_bytes() == b"half a file"
    best = read_checkpoint(tmp_path / "best.pt")                            # written again, at epoch 3
    assert best["epoch"] == 2 and best["best_metric"] == pytest.approx(h["val_loss"].iloc[2])
