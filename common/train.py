"""Training and evaluation epochs, and ``fit`` over epochs with checkpoints and history.

Functions, not a framework. The task-specific part is one function you write::

    def compute_loss(model, batch):           # batch: whatever your loader yields
        x, y = batch                           # move / augment on the device here
        logits = model(x)
        loss = F.cross_entropy(logits, y)      # mean over the batch
        return loss, {"acc": (logits.argmax(-1) == y).sum(), "n": y.numel()}

``stats`` holds SUMS over the batch plus the count ``"n"``; the epoch reports each stat as
``sum(stat) / sum(n)`` under the same name (so ``"acc"`` above is the accuracy) and the
loss weighted by ``n``. Sums stay on the device and are read back only when the progress
bar is refreshed, so a GPU is not stalled by a host sync every step.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd
import torch
from tqdm.auto import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .device import autocast

__all__ = ["train_epoch", "evaluate", "fit", "RunningStats"]

# seconds between progress-bar redraws: text bars (papermill, logs) store every redraw
_BAR_INTERVAL = 2.0


class RunningStats:
    """Sums of the loss (weighted by ``n``) and of every stat, kept as device tensors."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor | float] = {}

    def add(self, loss: torch.Tensor, stats: dict) -> None:
        n = stats.get("n")
        if n is None:
            raise KeyError("compute_loss must return stats with the batch count under 'n'")
        for key, value in {"loss": loss.detach().float() * n, **stats}.items():
            value = value.detach().float() if torch.is_tensor(value) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value

    def means(self) -> dict[str, float]:
        sums = {k: float(v) for k, v in self.sums.items()}  # one host sync for all
        n = sums.get("n", 0.0)
        return {k: (v / n if n else math.nan) for k, v in sums.items() if k != "n"}


def _postfix(means: dict) -> dict:
    return {k: f"{v:.4g}" for k, v in means.items()}


def train_epoch(model: torch.nn.Module, loader: Iterable, compute_loss: Callable, optimizer,
                *, device, amp_dtype=None, scaler=None, scheduler=None, grad_accum_steps: int = 1,
                max_grad_norm: float | None = None, ema=None, desc: str = "train",
                refresh_every: int = 20) -> dict:
    """One pass over ``loader`` with autocast, gradient scaling, accumulation and clipping.

    ``scheduler`` (if given) is stepped after every optimizer step; ``ema`` (an
    ``AveragedModel``) is updated after every optimizer step. Returns the epoch means.
    """
    if grad_accum_steps < 1:
        raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}")
    device = torch.device(device)
    scaler = scaler if scaler is not None else torch.amp.GradScaler(device.type, enabled=False)
    model.train()
    running = RunningStats()
    total = len(loader) if hasattr(loader, "__len__") else None
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(loader, total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=_BAR_INTERVAL)
    for step, batch in enumerate(bar, start=1):
        with autocast(device, amp_dtype):
            loss, stats = compute_loss(model, batch)
        # the loss of an accumulated group is the mean of its micro-batch losses
        scaler.scale(loss / grad_accum_steps).backward()
        running.add(loss, stats)
        if step % grad_accum_steps == 0 or step == total:
            if max_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if scheduler is not None:
                scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
        if step % refresh_every == 0:
            means = running.means()
            if not math.isfinite(means["loss"]):
                raise FloatingPointError(
                    f"{desc}: the loss became {means['loss']} at step {step}; lower the learning "
                    "rate, enable gradient clipping (max_grad_norm) or check the inputs")
            bar.set_postfix(_postfix(means), lr=f"{optimizer.param_groups[0]['lr']:.3g}")
    bar.close()
    return running.means()


@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader: Iterable, compute_loss: Callable, *, device,
             amp_dtype=None, desc: str = "eval") -> dict:
    """Mean loss and stats over ``loader`` in eval mode without gradients."""
    device = torch.device(device)
    model.eval()
    running = RunningStats()
    total = len(loader) if hasattr(loader, "__len__") else None
    for batch in tqdm(loader, total=total, desc=desc, leave=False, dynamic_ncols=True,
                      mininterval=_BAR_INTERVAL):
        with autocast(device, amp_dtype):
            loss, stats = compute_loss(model, batch)
        running.add(loss, stats)
    return running.means()


def _improved(value: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if mode == "min" else value > best


def fit(model: torch.nn.Module, optimizer, train_loader, compute_loss: Callable, *, epochs: int,
        device, val_loader=None, val_compute_loss: Callable | None = None,
        extra_eval: Callable | None = None, scheduler=None, scheduler_interval: str = "step",
        amp_dtype=None, scaler=None, grad_accum_steps: int = 1, max_grad_norm: float | None = None,
        ema=None, checkpoint_dir=None, resume: bool = False, monitor: str = "val_loss",
        mode: str = "min", logger=None, generators: dict | None = None) -> pd.DataFrame:
    """Train for ``epochs`` epochs and return the history (one row per epoch).

    - ``scheduler_interval``: "step" (stepped per optimizer step, e.g. warmup + cosine) or
      "epoch" (stepped after each epoch; ``ReduceLROnPlateau`` gets the monitored value).
    - ``extra_eval(model, epoch) -> dict`` adds columns (e.g. a verification EER).
    - with ``checkpoint_dir``: ``last.pt`` after every epoch and ``best.pt`` when ``monitor``
      improves (``mode`` "min" or "max"), both atomic; ``resume=True`` continues from
      ``last.pt`` (model, optimizer, scheduler, scaler, EMA, epoch, best value, history and
      RNG states), so 2 epochs + resume + 2 epochs equals 4 epochs.
    - ``logger``: anything with ``log(dict, step=int)`` (a wandb run), or None.
    - ``generators``: named ``torch.Generator`` objects that ``compute_loss`` draws from
      (augmentation); checkpointed and restored so that a resume stays bit-identical.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if scheduler_interval not in ("step", "epoch"):
        raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
    if monitor.startswith("val_") and val_loader is None and extra_eval is None:
        raise ValueError(f"monitor={monitor!r} needs a val_loader (or an extra_eval that returns it); "
                         "without validation data monitor a training column, e.g. monitor='train_loss'")
    device = torch.device(device)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    history: list[dict] = []
    best, start = None, 0
    if resume:
        last = ckpt_dir / "last.pt" if ckpt_dir is not None else None
        if last is None:
            raise ValueError("resume=True needs a checkpoint_dir")
        if last.exists():
            state = load_checkpoint(last, model, optimizer, scheduler, scaler, ema, map_location=device,
                                    generators=generators)
            start, best, history = state["epoch"] + 1, state["best_metric"], state["history"]
            print(f"Resumed from {last}: {start} epoch(s) done, best {monitor} = {best}")
        else:
            print(f"RESUME: no checkpoint in {ckpt_dir}, starting from scratch")
    step_scheduler = scheduler if scheduler_interval == "step" else None
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        row = {"epoch": epoch + 1}
        train = train_epoch(model, train_loader, compute_loss, optimizer, device=device,
                            amp_dtype=amp_dtype, scaler=scaler, scheduler=step_scheduler,
                            grad_accum_steps=grad_accum_steps, max_grad_norm=max_grad_norm,
                            ema=ema, desc=f"epoch {epoch + 1}/{epochs} train")
        row.update({f"train_{k}": v for k, v in train.items()})
        row["lr"] = optimizer.param_groups[0]["lr"]
        if val_loader is not None:
            eval_model = ema.module if ema is not None else model
            val = evaluate(eval_model, val_loader, val_compute_loss or compute_loss, device=device,
                           amp_dtype=amp_dtype, desc=f"epoch {epoch + 1}/{epochs} val")
            row.update({f"val_{k}": v for k, v in val.items()})
        if extra_eval is not None:
            row.update(extra_eval(ema.module if ema is not None else model, epoch + 1))
        row["time_s"] = time.perf_counter() - t0
        if monitor not in row:
            raise KeyError(f"monitor={monitor!r} is not in the history columns {sorted(row)}")
        if scheduler is not None and scheduler_interval == "epoch":
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(row[monitor])
            else:
                scheduler.step()
        history.append(row)
        improved = _improved(row[monitor], best, mode)
        if improved:
            best = row[monitor]
        print(" | ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
              + ("  (best)" if improved else ""))
        if logger is not None:
            logger.log(row, step=epoch + 1)
        if ckpt_dir is not None:
            kwargs = dict(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                          ema=ema, epoch=epoch, best_metric=best, history=history, generators=generators)
            save_checkpoint(ckpt_dir / "last.pt", **kwargs)
            if improved:
                save_checkpoint(ckpt_dir / "best.pt", **kwargs)
    return pd.DataFrame(history)
