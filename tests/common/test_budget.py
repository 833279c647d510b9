"""TIME_BUDGET (common.engine.budget) with a fake clock: every training step costs one second.

Relations tested (each could fail): training stops at the end of the last epoch that fits, before
the budget, where one more epoch would not fit; the re-sized schedule's last step is its final
value and its lr sequence is that of a warmup_cosine of the trained length; an interrupted run
resumed with the budget left equals the uninterrupted one bit for bit (same epochs, same weights);
stages share the budget (a later stage gets what the earlier left, also when the earlier is skipped
on resume); two data-parallel ranks with different clocks stop at the same epoch; without a budget
the schedule is the old closed form.
"""
import math

import pytest
import torch
from torch import nn

from common.engine.budget import TimeBudget
from common.engine.schedule import WarmupCosine, resize_schedule, warmup_cosine
from common.engine.options import Checkpointing, Validation
from common.engine.train import fit

STEPS = 4                                   # batches per epoch: an epoch costs 4 fake seconds


class FakeClock:
    def __init__(self, step_s=1.0):
        self.now, self.step_s = 1000.0, step_s

    def __call__(self):
        return self.now

    def tick(self):
        self.now += self.step_s


def _batches():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS * 8, 5, generator=g)
    y = (x[:, 0] > 0).long()
    return [(x[i:i + 8], y[i:i + 8]) for i in range(0, len(x), 8)]


def _run(budget, stage="train", epochs=100, ckpt=None, resume=False, crash_at=None, lrs=None, warmup=STEPS,
         min_lr_ratio=0.1):
    """One fit on the fake clock: returns (history, model, optimizer, scheduler)."""
    clock = budget.clock if budget is not None else FakeClock()
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    sched = warmup_cosine(opt, total_steps=epochs * STEPS, warmup_steps=warmup, min_lr_ratio=min_lr_ratio)
    steps = [0]

    def loss(m, batch):
        steps[0] += 1
        if crash_at is not None and steps[0] == crash_at:
            raise KeyboardInterrupt("simulated interruption")
        if lrs is not None:
            lrs.append(opt.param_groups[0]["lr"])
        clock.tick()
        x, y = batch
        return nn.functional.cross_entropy(m(x), y), {"n": len(y)}

    if budget is not None:
        budget = budget if stage is None else budget.stage(stage)    # None: the TimeBudget itself, one stage
    hist = fit(model, opt, _batches(), loss, epochs=epochs, device="cpu", scheduler=sched,
               validation=Validation(monitor="train_loss"),
               checkpoints=Checkpointing(ckpt, resume=resume) if ckpt is not None else None, time_budget=budget)
    return hist, model, opt, sched


def test_time_budget_rejects_bad_values_with_the_fix():
    for bad in (0, -1, float("nan"), "3", True):
        with pytest.raises(ValueError, match="TIME_BUDGET must be a positive number of minutes"):
            TimeBudget(bad)
    with pytest.raises(KeyError, match="not among the declared stages"):
        TimeBudget(1, stages={"lstm": 1}).stage("transformer")


def test_stops_at_the_last_epoch_end_that_fits_before_the_budget():
    budget = TimeBudget(0.5, clock=FakeClock())              # 30 s, an epoch takes 4 s: 7 epochs fit (28 s)
    hist, *_ = _run(budget)
    assert len(hist) == 7
    stage = budget.stages["train"]
    assert stage.spent_s <= budget.total_s < stage.spent_s + 4       # within the budget; one more epoch would not be
    assert hist.attrs["time_budget"]["planned"] == 7


def test_a_first_epoch_longer_than_the_budget_is_cut_at_it():
    budget = TimeBudget(0.05, clock=FakeClock())              # 3 s; an epoch takes 4 s
    lrs = []
    hist, _, opt, sched = _run(budget, lrs=lrs)
    assert len(hist) == 1 and len(lrs) == 3                    # 3 optimizer steps, then the stop
    assert budget.stages["train"].spent_s == pytest.approx(3.0)
    assert sched.last_epoch == 3 == sched.lr_lambdas[0].total_steps
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5)
    # later epochs are not cut: the plan keeps to the budget (an epoch that fits runs whole)
    budget = TimeBudget(0.2, clock=FakeClock())               # 12 s: 3 whole epochs
    hist, *_ = _run(budget)
    assert len(hist) == 3 and budget.stages["train"].spent_s == pytest.approx(12.0)


class SlowStartClock(FakeClock):
    """The first optimizer step costs ``extra`` seconds more: a first epoch's one-off costs."""

    def __init__(self, extra):
        super().__init__()
        self.extra = extra

    def tick(self):
        self.now += self.step_s + self.extra
        self.extra = 0.0


def test_a_slow_first_epoch_does_not_shrink_the_plan_for_good():
    # 60 s; epochs take 4 s but the first 24 s: after it 24 s/epoch says 2 epochs fit (then 32 s are left
    # unused); after the second, 4 s/epoch says 10 fit (24 + 9 x 4 = 60), and the schedule ends with them
    budget = TimeBudget(1.0, clock=SlowStartClock(20.0))
    lrs = []
    hist, _, opt, sched = _run(budget, lrs=lrs)
    stage = budget.stages["train"]
    assert len(hist) == 10 and stage.planned == 10 and stage.first_s == pytest.approx(24.0)
    assert stage.spent_s == pytest.approx(60.0) and stage.spent_s <= budget.total_s
    assert sched.last_epoch == 10 * STEPS == sched.lr_lambdas[0].total_steps
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5)       # the schedule's final value at the end
    # the plan grows only once, after the second epoch: a later faster epoch does not stretch it again
    budget = TimeBudget(1.0, clock=FakeClock())
    stage = budget.stage("train")
    stage.begin()
    for done, now in ((1, 24.0), (2, 28.0), (3, 29.0)):
        budget.clock.now = 1000.0 + now
        stage.measure()
        stage.plan(done, 100)
    assert stage.planned == 10                                   # not 2 + (31 / 2.5) = 14 after epoch 3


def test_a_whole_time_budget_is_one_stage():
    budget = TimeBudget(0.5, clock=FakeClock())
    hist, *_ = _run(budget, stage=None)
    assert len(hist) == 7 and budget.spent_s == pytest.approx(28.0)


def test_the_epochs_decide_when_they_fit_in_the_budget():
    budget = TimeBudget(10, clock=FakeClock())
    hist, *_ = _run(budget, epochs=5)
    assert len(hist) == 5


def test_the_schedule_ends_at_the_last_step():
    budget = TimeBudget(0.5, clock=FakeClock())
    lrs = []
    hist, _, opt, sched = _run(budget, lrs=lrs)
    total = len(hist) * STEPS                                   # 28 optimizer steps were taken
    assert sched.last_epoch == total == sched.lr_lambdas[0].total_steps
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5)   # the schedule's final value (min_lr_ratio)
    # from the re-sizing on (after epoch 1) the lrs are those of a warmup_cosine of 28 steps, decaying to the end
    ref = WarmupCosine(total, STEPS, 0.1)
    assert lrs[STEPS:] == pytest.approx([0.5 * ref(k) for k in range(STEPS, total)])
    assert lrs[-1] < 0.5 * ref(total // 2) and lrs[-1] == pytest.approx(0.5 * ref(total - 1))
    # without a budget the same 100-epoch schedule would still be near its peak there
    assert 0.5 * WarmupCosine(100 * STEPS, STEPS, 0.1)(total - 1) > 0.45


def test_a_long_warmup_is_capped_to_a_quarter_of_the_resized_schedule():
    budget = TimeBudget(0.5, clock=FakeClock())
    hist, _, _, sched = _run(budget, warmup=40)                 # 10 epochs of warm-up requested, 7 fit
    assert sched.lr_lambdas[0].warmup_steps == int(0.25 * len(hist) * STEPS)


def test_resume_continues_with_the_budget_left_bit_for_bit(tmp_path):
    full, model_full, *_ = _run(TimeBudget(0.5, clock=FakeClock()), ckpt=tmp_path / "a")
    # interrupted in epoch 4 (3 epochs checkpointed, 12 s); the new kernel's clock is elsewhere
    with pytest.raises(KeyboardInterrupt):
        _run(TimeBudget(0.5, clock=FakeClock()), ckpt=tmp_path / "b", crash_at=3 * STEPS + 2)
    clock = FakeClock()
    clock.now = 5.0
    budget = TimeBudget(0.5, clock=clock)
    resumed, model_resumed, *_ = _run(budget, ckpt=tmp_path / "b", resume=True)
    assert len(resumed) == len(full) == 7
    assert budget.stages["train"].spent_s == pytest.approx(28.0)   # 12 s restored + 4 epochs of 4 s
    for a, b in zip(model_full.state_dict().values(), model_resumed.state_dict().values()):
        assert torch.equal(a, b)
    # a resume of the finished stage trains nothing more
    again, *_ = _run(TimeBudget(0.5, clock=FakeClock()), ckpt=tmp_path / "b", resume=True)
    assert len(again) == 7


def test_stages_share_the_budget_and_a_resumed_stage_keeps_its_share(tmp_path):
    budget = TimeBudget(0.5, stages={"a": 1, "b": 1}, clock=FakeClock())
    a, *_ = _run(budget, "a", ckpt=tmp_path / "a")              # 15 s: 3 epochs (12 s)
    b, *_ = _run(budget, "b", ckpt=tmp_path / "b", crash_at=None)   # the 18 s left: 4 epochs (16 s)
    assert (len(a), len(b)) == (3, 4)
    assert budget.spent_s == pytest.approx(28.0)
    # an earlier stage that ends early leaves its time to the next
    budget = TimeBudget(0.5, stages={"a": 1, "b": 1}, clock=FakeClock())
    a, *_ = _run(budget, "a", epochs=1)
    b, *_ = _run(budget, "b")
    assert (len(a), len(b)) == (1, 6)                           # 26 s left for b
    # resume of stage b alone (a skipped, as a notebook skips a finished warm-up): b keeps its 18 s
    with pytest.raises(KeyboardInterrupt):
        budget = TimeBudget(0.5, stages={"a": 1, "b": 1}, clock=FakeClock())
        _run(budget, "a", ckpt=tmp_path / "a2")
        _run(budget, "b", ckpt=tmp_path / "b2", crash_at=2 * STEPS + 1)
    budget = TimeBudget(0.5, stages={"a": 1, "b": 1}, clock=FakeClock())
    b, *_ = _run(budget, "b", ckpt=tmp_path / "b2", resume=True)
    assert len(b) == 4 and budget.stages["b"].earlier_s == pytest.approx(12.0)


def test_a_resumed_run_trained_without_a_budget_counts_its_epochs_time(tmp_path):
    _run(None, epochs=3, ckpt=tmp_path)                         # no budget: 3 epochs, real time_s (tiny)
    budget = TimeBudget(0.5, clock=FakeClock())
    hist, *_ = _run(budget, ckpt=tmp_path, resume=True)
    assert 3 < len(hist) <= 10                                  # ~30 s of 4-s epochs after a near-free start


def test_warmup_cosine_is_the_closed_form_without_a_budget():
    def old(step, total, warmup, floor):                       # the schedule before it became resizable
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    f = WarmupCosine(50, 7, 0.02)
    assert [f(s) for s in range(60)] == [old(s, 50, 7, 0.02) for s in range(60)]


def test_resize_schedule_refuses_what_it_cannot_resize():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0)
    assert not resize_schedule(torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0), 10)
    sched = warmup_cosine(opt, 100, 0, 0.0)
    for _ in range(10):
        opt.step()
        sched.step()
    assert resize_schedule(sched, 10) and opt.param_groups[0]["lr"] == 0.0


def _ddp_rank_run(out_dir):
    """Rank 1's clock runs 3x faster than rank 0's: rank 0's time decides for both."""
    from common.engine.distributed import get_rank
    rank = get_rank()
    budget = TimeBudget(0.5, clock=FakeClock(step_s=1.0 if rank == 0 else 1 / 3))
    hist, *_ = _run(budget)
    (out_dir / f"rank{rank}").write_text(str(len(hist)))
    return len(hist)


def test_data_parallel_ranks_take_rank_0s_stop_decision(tmp_path):
    from common.engine.distributed import launch
    assert launch(_ddp_rank_run, 2, tmp_path) == 7
    assert (tmp_path / "rank0").read_text() == (tmp_path / "rank1").read_text() == "7"
