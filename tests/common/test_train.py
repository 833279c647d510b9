"""The training loop against hand-written references."""
import math

import pytest
import torch
from torch import nn

from common.engine.schedule import warmup_cosine
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
    train_epoch(a, micro, _loss, opt_a, device="cpu", grad_accum_steps=4)
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
    train_epoch(model, [(x * 100, y)], _loss, opt, device="cpu", max_grad_norm=0.01)
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
    train_epoch(model, batches, _loss, opt, device="cpu", scheduler=sched, grad_accum_steps=3)
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

    with pytest.raises(ValueError, match="needs a val_loader"):
        fit(model, opt, [(x, y)], counting_loss, epochs=1, device="cpu")
    assert not calls  # refused before any training step
    history = fit(model, opt, [(x, y)], counting_loss, epochs=2, device="cpu", monitor="train_loss")
    assert list(history.columns[:3]) == ["epoch", "train_loss", "train_acc"] and len(history) == 2
