"""The training loop against hand-written references."""
import inspect
import math

import pytest
import torch
from torch import nn

from common.engine.schedule import warmup_cosine
from common.engine.options import MOVED_KEYWORDS, Checkpointing, Precision, Stepping, Validation
from common.engine.train import evaluate, fit, train_epoch


def _data(n=32, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y


def _loss(model, batch):
    x, y = batch
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), {"acc": (logits.argmax(1) == y).sum(), "n": len(y)}


def test_gradient_accumulation_equals_one_big_batch():
    x, y = _data()
    torch.manual_seed(0)
    a = nn.Linear(5, 3)
    b = nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1)
    # 4 micro-batches of 8 accumulated == 1 batch of 32 (equal sizes: mean of means = mean)
    micro = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)]
    train_epoch(a, micro, _loss, opt_a, device="cpu", step=Stepping(grad_accum_steps=4))
    train_epoch(b, [(x, y)], _loss, opt_b, device="cpu")
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)


def test_clipping_limits_the_gradient_norm():
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    start = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    # reference: the unclipped gradient norm
    ref = nn.Linear(5, 3)
    ref.load_state_dict(model.state_dict())
    nn.functional.cross_entropy(ref(x * 100), y).backward()
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in ref.parameters()))
    assert norm > 0.01
    train_epoch(model, [(x * 100, y)], _loss, opt, device="cpu", step=Stepping(max_grad_norm=0.01))
    step = math.sqrt(sum(float(((p.detach() - s) ** 2).sum()) for p, s in zip(model.parameters(), start)))
    assert step == pytest.approx(0.01, rel=1e-4)  # lr 1: the step is the clipped gradient


def test_epoch_means_are_weighted_by_batch_size():
    x, y = _data(n=30)
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    batches = [(x[:20], y[:20]), (x[20:], y[20:])]  # unequal sizes
    out = evaluate(model, batches, _loss, device="cpu")
    with torch.no_grad():
        logits = model(x)
        ref_loss = nn.functional.cross_entropy(logits, y).item()
        ref_acc = (logits.argmax(1) == y).float().mean().item()
    assert out["loss"] == pytest.approx(ref_loss, rel=1e-6)
    assert out["acc"] == pytest.approx(ref_acc)


def test_scheduler_steps_once_per_optimizer_step():
    x, y = _data(n=40)
    model = nn.Linear(5, 3)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = warmup_cosine(opt, total_steps=100, warmup_steps=10)
    batches = [(x[i:i + 4], y[i:i + 4]) for i in range(0, 40, 4)]  # 10 batches
    train_epoch(model, batches, _loss, opt, device="cpu", scheduler=sched, step=Stepping(grad_accum_steps=3))
    assert sched.last_epoch == 4  # ceil(10 / 3) optimizer steps, the last one partial


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0)
    sched = warmup_cosine(opt, total_steps=20, warmup_steps=4, min_lr_ratio=0.1)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[3] == pytest.approx(2.0)   # linear warmup
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))                    # then decays
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)                  # to min_lr_ratio
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine(opt, total_steps=5, warmup_steps=6)


def test_diverging_loss_is_reported():
    x, y = _data()

    def nan_loss(model, batch):
        return model(batch[0]).sum() * float("nan"), {"n": 1}

    model = nn.Linear(5, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="learning rate"):
        train_epoch(model, [(x, y)] * 20, nan_loss, opt, device="cpu")


def test_missing_count_is_a_clear_error():
    x, y = _data()
    model = nn.Linear(5, 3)
    with pytest.raises(KeyError, match="'n'"):
        evaluate(model, [(x, y)], lambda m, b: (m(b[0]).sum(), {}), device="cpu")


def test_fit_refuses_a_validation_monitor_without_validation_data():
    x, y = _data()
    model = nn.Linear(5, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def counting_loss(m, b):
        calls.append(1)
        return _loss(m, b)

    with pytest.raises(ValueError, match=r"needs a Validation\(loader=...\)"):
        fit(model, opt, [(x, y)], counting_loss, epochs=1, device="cpu")
    assert not calls  # refused before any training step
    history = fit(model, opt, [(x, y)], counting_loss, epochs=2, device="cpu",
                  validation=Validation(monitor="train_loss"))
    assert list(history.columns[:3]) == ["epoch", "train_loss", "train_acc"] and len(history) == 2


# --- the option groups (common.engine.options): each field reaches what it controls ---

def test_checkpointing_resume_is_honoured(tmp_path):
    """resume=True goes on after the saved epochs (training only the rest, the earlier run's files in place);
    the same call with resume=False trains every epoch again and moves the earlier files aside."""
    x, y = _data()
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    calls = []

    def counting_loss(m, b):
        calls.append(1)
        return _loss(m, b)

    def run(epochs, resume):
        calls.clear()
        torch.manual_seed(0)
        model = nn.Linear(5, 3)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        history = fit(model, opt, batches, counting_loss, epochs=epochs, device="cpu",
                      validation=Validation(monitor="train_loss"), checkpoints=Checkpointing(tmp_path, resume=resume))
        return history, len(calls)

    first, trained = run(2, resume=False)
    assert trained == 2 * len(batches)
    resumed, trained = run(3, resume=True)
    assert trained == len(batches) and list(resumed["epoch"]) == [1, 2, 3]      # only epoch 3 trained
    assert resumed["train_loss"].iloc[:2].tolist() == first["train_loss"].tolist()
    assert not (tmp_path / "earlier").exists()
    fresh, trained = run(3, resume=False)
    assert trained == 3 * len(batches) and (tmp_path / "earlier").is_dir()      # a new run: nothing resumed
    assert fresh["train_loss"].tolist() == resumed["train_loss"].tolist()       # and the same numbers


def test_precision_reaches_both_the_training_and_the_validation_pass():
    """bf16 autocast on the CPU: fit's train and val losses are those of the model under autocast, not fp32."""
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    with torch.no_grad():
        fp32 = nn.functional.cross_entropy(model(x), y).item()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = nn.functional.cross_entropy(model(x), y).item()
    assert bf16 != fp32
    opt = torch.optim.SGD(model.parameters(), lr=0.0)                            # the weights stay
    history = fit(model, opt, [(x, y)], _loss, epochs=1, device="cpu", validation=Validation([(x, y)]),
                  precision=Precision(torch.bfloat16))
    assert history["train_loss"].iloc[0] == pytest.approx(bf16, abs=1e-6)
    assert history["val_loss"].iloc[0] == pytest.approx(bf16, abs=1e-6)


def test_stepping_ema_is_what_fit_validates():
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.5))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = fit(model, opt, [(x, y)] * 3, _loss, epochs=1, device="cpu", validation=Validation([(x, y)]),
                  step=Stepping(ema=ema))
    with torch.no_grad():
        averaged = nn.functional.cross_entropy(ema.module(x), y).item()
        trained = nn.functional.cross_entropy(model(x), y).item()
    assert averaged != pytest.approx(trained, abs=1e-4)
    assert history["val_loss"].iloc[0] == pytest.approx(averaged, rel=1e-6)


@pytest.mark.parametrize("old", sorted(MOVED_KEYWORDS))
def test_the_old_flat_keywords_fail_naming_their_group(old):
    group = MOVED_KEYWORDS[old].split("=")[0]
    model = nn.Linear(5, 3)
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{old}'.*{old} -> {group}="):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), [], _loss, epochs=1, device="cpu", **{old: None})
    assert group in inspect.signature(fit).parameters
    for fn, args in ((train_epoch, (model, [], _loss, None)), (evaluate, (model, [], _loss))):
        match = rf"{old} -> {group}=" if group in inspect.signature(fn).parameters else f"argument '{old}'$"
        with pytest.raises(TypeError, match=match):
            fn(*args, device="cpu", **{old: None})


def test_a_group_given_as_something_else_names_the_group(tmp_path):
    model = nn.Linear(5, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="checkpoints must be a Checkpointing or None .* got PosixPath"):
        fit(model, opt, [], _loss, epochs=1, device="cpu", checkpoints=tmp_path)
    with pytest.raises(TypeError, match="precision must be a Precision"):
        evaluate(model, [], _loss, device="cpu", precision=torch.bfloat16)
    with pytest.raises(ValueError, match="grad_accum_steps must be >= 1"):
        Stepping(grad_accum_steps=0)
    with pytest.raises(TypeError, match="fit\\(checkpoints=None\\)"):
        Checkpointing(None)
