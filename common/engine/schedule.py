"""Learning-rate schedules stepped once per optimizer step, and re-sizing one to a new length.

``warmup_cosine`` keeps its shape in a ``WarmupCosine`` object (saved in the scheduler's
``state_dict``, so a checkpoint restores a re-sized schedule); ``resize_schedule`` gives it a new
total number of steps, which ``fit(time_budget=...)`` does after the first epoch so that the decay
ends where the time budget ends training.
"""
from __future__ import annotations

import math

import torch

__all__ = ["warmup_cosine", "WarmupCosine", "resize_schedule"]


class WarmupCosine:
    """The factor of the base lr at a step: linear warmup from 0 over ``warmup_steps``, then cosine
    decay to ``min_lr_ratio`` at ``total_steps`` (and after it).

    ``resize(total_steps)``: the decay ends at the new total; the warm-up keeps its length in steps, at
    most ``max_warmup_fraction`` of the new total (a warm-up sized for 40 epochs must not fill a
    3-minute run); the current step's factor follows the new shape.
    """

    def __init__(self, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0,
                 max_warmup_fraction: float = 0.25):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
        self.total_steps, self.warmup_steps, self.min_lr_ratio = int(total_steps), int(warmup_steps), min_lr_ratio
        self.requested_warmup, self.max_warmup_fraction = int(warmup_steps), max_warmup_fraction

    def __call__(self, step: int) -> float:
        warmup_steps, total_steps, min_lr_ratio = self.warmup_steps, self.total_steps, self.min_lr_ratio
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def resize(self, total_steps: int) -> None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.total_steps = int(total_steps)
        self.warmup_steps = min(self.requested_warmup, int(self.max_warmup_fraction * self.total_steps))


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                  min_lr_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup from 0 to the base lr over ``warmup_steps``, then cosine decay to
    ``min_lr_ratio * base lr`` at ``total_steps``; ``resize_schedule`` can change ``total_steps``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(total_steps, warmup_steps, min_lr_ratio))


def resize_schedule(scheduler, total_steps: int) -> bool:
    """Make ``scheduler`` end at ``total_steps`` (counted from its start); the optimizer's lr is set to
    the new schedule's value at the current step. True when it could (a ``LambdaLR`` whose factors
    have ``resize``, as ``warmup_cosine``'s), False for any other scheduler (left as it is)."""
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if not lambdas or not all(hasattr(f, "resize") for f in lambdas):
        return False
    for f in lambdas:
        f.resize(total_steps)
    step = scheduler.last_epoch
    lrs = [base * f(step) for base, f in zip(scheduler.base_lrs, lambdas)]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs
    return True
