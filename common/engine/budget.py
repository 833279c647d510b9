"""``TIME_BUDGET``: minutes of training that the stages of a notebook share, and ``fit`` keeps to.

A notebook makes one ``TimeBudget`` for all its training stages (a CTC warm-up, LM pretraining,
each model of ``MODELS``) and hands each ``fit`` its stage::

    budget = TimeBudget(TIME_BUDGET, stages={"ctc_warmup": CTC_WARMUP_EPOCHS, "main": EPOCHS}) if TIME_BUDGET else None
    fit(..., epochs=EPOCHS, time_budget=budget.stage("main") if budget else None)

What a stage gets: when it begins, its weight's share of the time the earlier stages left, among
itself and the stages declared after it (``{"lstm": 1, "transformer": 1}``: the first model half,
the second whatever the first left). A stage that ends early (its ``epochs`` reached) leaves its
time to the later ones; a declared stage that is skipped takes nothing.

What ``fit`` does with it (``common.engine.train``): after the first epoch it estimates the epochs
that fit from the measured epoch time (evaluation and checkpoints included), at most ``epochs``, and
re-sizes a per-step learning-rate schedule (``warmup_cosine``) to end at the last step of the last of
those epochs. After the second epoch it plans again from the second epoch alone, and that plan may
grow: a first epoch carries one-off costs (the data's first read and caches, the allocator's warm-up,
cuDNN autotuning, ``torch.compile``) that would otherwise shrink the plan for good (a demo run whose
first epoch took twice the later ones stopped after 73 of its 120 s). After every later epoch it
checks the estimate again (the mean of the epochs after the first): a slower epoch shrinks the plan
and the schedule with it, never grows it.
Training stops at the end of the last epoch that fits, after its checkpoint, so the notebook
goes on to evaluation and submission. Every stage trains at least one epoch (there must be a
model); a first epoch that alone outlasts the stage's time is cut when that time is spent (after an
optimizer step), so a corpus of any size keeps to the budget.

Resume: the stage's time spent, the time spent before it and its plan are saved in every
checkpoint (``extra["budget"]``); ``RESUME = True`` continues with the budget left (a changed
``TIME_BUDGET`` re-shares what is left). ``clock`` is injectable for tests (any callable giving
seconds).
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch

from .distributed import broadcast_object
from .schedule import resize_schedule

__all__ = ["TimeBudget", "BudgetStage"]


class TimeBudget:
    """``minutes`` of training shared by the stages named in ``stages`` (name -> weight, in order)."""

    def __init__(self, minutes: float, stages: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) \
                or minutes <= 0:
            raise ValueError(f"TIME_BUDGET must be a positive number of minutes (or None: the epochs decide), "
                             f"got {minutes!r}")
        self.total_s = float(minutes) * 60.0
        self.weights = dict(stages) if stages else {}
        bad = {k: w for k, w in self.weights.items() if not isinstance(w, (int, float)) or not w >= 0}
        if bad:
            raise ValueError(f"TimeBudget stages: weights must be numbers >= 0 (e.g. the stage's epochs), got {bad}")
        self.clock = clock
        self.stages: dict[str, BudgetStage] = {}

    @property
    def minutes(self) -> float:
        return self.total_s / 60.0

    @property
    def spent_s(self) -> float:
        """Seconds spent by the stages begun so far (a resumed stage knows the time spent before it)."""
        return max((s.earlier_s + s.spent_s for s in self.stages.values() if s.earlier_s is not None), default=0.0)

    @property
    def left_s(self) -> float:
        return max(0.0, self.total_s - self.spent_s)

    def share(self, name: str) -> float:
        """The fraction of the time left when ``name`` begins that it gets."""
        if not self.weights:
            return 1.0
        if name not in self.weights:
            raise KeyError(f"TimeBudget: stage {name!r} is not among the declared stages {list(self.weights)}; "
                           "declare it in TimeBudget(..., stages={...}) with its weight")
        names = list(self.weights)
        rest = sum(self.weights[n] for n in names[names.index(name):])
        return self.weights[name] / rest if rest > 0 else 1.0

    def stage(self, name: str = "train") -> BudgetStage:
        """The stage ``name`` (a new one each call: a rerun cell starts it again; ``fit`` restores a resumed one)."""
        self.share(name)                       # an undeclared name is an error now, not at the end of training
        self.stages[name] = BudgetStage(self, name)
        return self.stages[name]

    def __repr__(self) -> str:
        return f"TimeBudget({self.minutes:g} min, spent {self.spent_s / 60:.2f} min, stages {list(self.weights)})"


class BudgetStage:
    """One stage's part of a ``TimeBudget``; ``fit`` begins it, measures it and plans its epochs."""

    def __init__(self, budget: TimeBudget, name: str):
        self.budget, self.name = budget, name
        self.earlier_s: float | None = None    # spent by the earlier stages when this one began
        self.spent_s = 0.0                      # this stage's seconds so far
        self.planned: int | None = None         # epochs that fit (None until the first epoch is measured)
        self.first_s: float | None = None       # the first epoch's seconds (its one-off costs are left out later)
        self._clock_start = self._spent_start = 0.0

    @property
    def clock(self) -> Callable[[], float]:
        return self.budget.clock

    @property
    def allotted_s(self) -> float:
        return self.budget.share(self.name) * max(0.0, self.budget.total_s - (self.earlier_s or 0.0))

    @property
    def left_s(self) -> float:
        return max(0.0, self.allotted_s - self.spent_s)

    def begin(self, saved: dict | None = None) -> None:
        """Start measuring; ``saved`` is ``state_dict()`` of a resumed checkpoint (None: a fresh stage)."""
        if saved:
            self.earlier_s, self.spent_s = float(saved["earlier_s"]), float(saved["spent_s"])
            self.planned, self.first_s = saved.get("planned"), saved.get("first_s")
        else:
            self.earlier_s = self.budget.spent_s if self.earlier_s is None else self.earlier_s
        self._clock_start, self._spent_start = self.clock(), self.spent_s

    def measure(self) -> float:
        """This stage's seconds up to now (updates ``spent_s``)."""
        self.spent_s = self._spent_start + (self.clock() - self._clock_start)
        return self.spent_s

    def plan(self, done: int, epochs: int) -> int:
        """Epochs of this stage that fit, given ``done`` finished epochs (``spent_s`` measured after them).

        The estimate is the mean time of the epochs after the first (the first alone after epoch 1, and
        the mean of all where the first is not known: a stage resumed from an older checkpoint). Never
        more than ``epochs``, never fewer than ``done`` (or 1); never more than the earlier plan, except
        after the second epoch, the first plan made without the first epoch's one-off costs.
        """
        if done == 1:
            self.first_s = self.spent_s
        steady = done >= 2 and self.first_s is not None
        per_epoch = (self.spent_s - self.first_s) / (done - 1) if steady else self.spent_s / max(done, 1)
        more = int(self.left_s / per_epoch + 1e-9) if per_epoch > 0 else epochs
        fits = max(done, 1, min(epochs, done + more))
        may_grow = self.planned is None or (steady and done == 2)
        self.planned = fits if may_grow else max(done, min(self.planned, fits))
        return self.planned

    def state_dict(self) -> dict:
        return {"name": self.name, "earlier_s": float(self.earlier_s or 0.0), "spent_s": float(self.spent_s),
                "planned": self.planned, "first_s": self.first_s, "total_s": self.budget.total_s}

    def summary(self) -> str:
        return (f"TIME_BUDGET stage {self.name!r}: {self.spent_s / 60:.2f} of its {self.allotted_s / 60:.2f} min "
                f"({self.budget.total_s / 60:g} min in all)")

    def __repr__(self) -> str:
        return f"BudgetStage({self.name!r}, allotted {self.allotted_s:.1f} s, spent {self.spent_s:.1f} s, " \
               f"planned {self.planned})"


# ---------------------------------------------------------------- how fit applies a stage
def begin_stage(time_budget, path, history: list, main: bool) -> BudgetStage | None:
    """The budget stage of this fit, begun: restored from the resumed checkpoint's ``extra["budget"]``
    (rank 0 reads it, every rank gets it), or from the history's epoch times when it was trained
    without a budget."""
    if time_budget is None:
        return None
    stage = time_budget.stage() if isinstance(time_budget, TimeBudget) else time_budget
    if not isinstance(stage, BudgetStage):
        raise TypeError(f"time_budget must be a TimeBudget, one of its stages (budget.stage(name)) or None, "
                        f"got {type(time_budget).__name__}")
    saved = None
    if path is not None and main:
        saved = (torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("extra") or {}).get("budget")
        if saved is None and history:           # trained without a budget so far: its epochs' time counts
            saved = {"earlier_s": stage.budget.spent_s, "spent_s": sum(r.get("time_s", 0.0) for r in history),
                     "planned": None}
    stage.begin(broadcast_object(saved))
    if main:
        done = f"; resumed after {len(history)} epoch(s), {stage.spent_s / 60:.2f} min spent" if saved else ""
        print(f"TIME_BUDGET stage {stage.name!r}: {stage.allotted_s / 60:.2f} min of the "
              f"{stage.budget.total_s / 60:g} (the earlier stages spent {stage.earlier_s / 60:.2f}){done}")
    return stage


def first_epoch_stop(stage: BudgetStage | None, distributed: bool, main: bool):
    """While a budget stage has no epoch measured yet: end the epoch once the stage's whole time is spent
    (a corpus whose one pass outlasts the budget); afterwards the epoch plan keeps to it. Data-parallel:
    rank 0's clock decides, asked every 20 optimizer steps (a collective on every rank)."""
    if stage is None or stage.planned is not None:
        return None

    def stop(step: int) -> bool:
        if distributed and step % 20:
            return False
        over = stage.measure() >= stage.allotted_s
        over = bool(broadcast_object(over)) if distributed else over
        if over and main:
            print(f"TIME_BUDGET: the first epoch alone outlasts stage {stage.name!r} ({stage.allotted_s:.0f} s): "
                  f"cut after {step} steps")
        return over
    return stop


def plan_stage(stage: BudgetStage, done: int, epochs: int, scheduler, interval: str, epoch_steps: int,
                main: bool) -> None:
    """After ``done`` epochs: rank 0's time, the epochs that fit, the scheduler re-sized to end with them."""
    stage.spent_s = broadcast_object(stage.measure())        # every rank decides on rank 0's clock
    before = stage.planned
    planned = stage.plan(done, epochs)
    if planned != before and scheduler is not None:
        total = planned if interval == "epoch" else scheduler.last_epoch + (planned - done) * epoch_steps
        resized = resize_schedule(scheduler, total)
        if main:
            sized = (f"the lr schedule now ends at {'epoch' if interval == 'epoch' else 'step'} {total}" if resized
                     else f"{type(scheduler).__name__} cannot be re-sized (warmup_cosine can): its lr does not "
                          "end with training")
            print(f"TIME_BUDGET: {done} epoch(s) took {stage.spent_s:.0f} s of the stage's {stage.allotted_s:.0f} s: "
                  f"{planned} of {epochs} epochs fit; {sized}")
    if main and planned == done:
        stop = f"stops after {done} of {epochs} epochs" if done < epochs else f"all {epochs} epochs fitted"
        print(f"{stage.summary()}: {stop}")
