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
bar is refreshed, so a GPU is not stalled by a host sync every step. The same holds for the
NaN/inf check: every step adds its loss's finiteness to a device-side count, read with the
epoch means, so a non-finite loss in any step (even in an epoch of one step) is reported at
the end of the epoch at the latest, before anything is saved.

Data-parallel (a process group running: ``common.engine.distributed.launch`` or torchrun), ``fit``
trains a DDP wrapper of the model, each rank on its shard of every batch; the epoch sums of
all ranks are added before the means, so the history is that of the whole data; only rank 0
prints, logs and writes checkpoints, and a checkpoint resumes with any number of processes.
"""
from __future__ import annotations

import contextlib
import io
import math
import time
from typing import Callable, Iterable

import pandas as pd
import torch
from tqdm.auto import tqdm

from .budget import BudgetStage, TimeBudget, begin_stage, first_epoch_stop, plan_stage
from .checkpoint import (
    check_run_metadata,
    nonfinite_tensors,
    save_checkpoint,
    unwrap,
)
from .device import autocast
from .distributed import (
    ShardedLoader,
    barrier,
    broadcast_buffers,
    broadcast_object,
    is_distributed,
    is_main_process,
    reduce_sums,
    sharding_of,
    sharded,
    shards_itself,
    wrap_model,
)
from .options import Checkpointing, Precision, Stepping, Validation, check_groups, explain_moved_keywords
from .resume import (
    clean_temporaries,
    keep_earlier_run,
    optimizer_hyperparameters,
    rank_states,
    resume_run,
)

__all__ = ["train_epoch", "evaluate", "fit", "RunningStats"]

# seconds between progress-bar redraws: text bars (papermill, logs) store every redraw
_BAR_INTERVAL = 2.0


class RunningStats:
    """Sums of the loss (weighted by ``n``) and of every stat, kept as device tensors."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor | float] = {}
        self.steps = 0
        self.finite_steps: torch.Tensor | None = None     # device-side count of steps with a finite loss

    def add(self, loss: torch.Tensor, stats: dict) -> None:
        n = stats.get("n")
        if n is None:
            raise KeyError("compute_loss must return stats with the batch count under 'n'")
        finite = torch.isfinite(loss.detach()).all() if torch.is_tensor(loss) else torch.tensor(math.isfinite(loss))
        self.finite_steps = finite.int() if self.finite_steps is None else self.finite_steps + finite
        self.steps += 1
        for key, value in {"loss": loss.detach().float() * n, **stats}.items():
            value = value.detach().float() if torch.is_tensor(value) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value

    def means(self) -> dict[str, float]:
        sums = {k: float(v) for k, v in self.sums.items()}  # one host sync for all
        n = sums.get("n", 0.0)
        return {k: (v / n if n else math.nan) for k, v in sums.items() if k != "n"}

    def reduce(self, world: int) -> None:
        """Add the sums of the ``world`` ranks that shared the loader (a no-op for one)."""
        if world == 1:
            return
        finite = self.finite_steps if self.finite_steps is not None else 0.0
        total = reduce_sums({**self.sums, "\0steps": float(self.steps), "\0finite": finite})
        self.steps, self.finite_steps = int(total.pop("\0steps")), total.pop("\0finite")
        self.sums = total

    def nonfinite_steps(self) -> int:
        """Steps whose loss was NaN/inf (one host sync)."""
        return self.steps - (int(self.finite_steps) if self.finite_steps is not None else 0)


def _divergence_hint() -> str:
    return ("lower the learning rate, enable gradient clipping (step=Stepping(max_grad_norm=...)), or check the "
            "inputs for NaN/inf; with a checkpoint folder, RESUME=True continues from the last good epoch and "
            "takes the new learning rate")


def _postfix(means: dict) -> dict:
    return {k: f"{v:.4g}" for k, v in means.items()}


@explain_moved_keywords
def train_epoch(model: torch.nn.Module, loader: Iterable, compute_loss: Callable, optimizer,
                *, device, precision: Precision = Precision(), step: Stepping = Stepping(), scheduler=None,
                desc: str = "train", refresh_every: int = 20, stop: Callable[[int], bool] | None = None) -> dict:
    """One pass over ``loader`` with autocast, gradient scaling, accumulation and clipping.

    ``precision``: autocast's dtype and the gradient scaler; ``step``: accumulation, clipping and the EMA
    (``common.engine.options``).

    ``stop(step)`` (if given) is asked after each optimizer step; True ends the pass there (``fit``
    uses it to cut a first epoch that alone outlasts the time budget; in a data-parallel run it must
    answer the same on every rank).

    ``scheduler`` (if given) is stepped after every optimizer step; ``step.ema`` (an
    ``AveragedModel``) is updated after every optimizer step. Returns the epoch means.
    """
    check_groups(precision=(precision, Precision), step=(step, Stepping))
    amp_dtype, grad_accum_steps, max_grad_norm = precision.amp_dtype, step.grad_accum_steps, step.max_grad_norm
    ema = step.ema
    device = torch.device(device)
    scaler = precision.scaler if precision.scaler is not None else torch.amp.GradScaler(device.type, enabled=False)
    model.train()
    running = RunningStats()
    total = len(loader) if hasattr(loader, "__len__") else None
    optimizer.zero_grad(set_to_none=True)
    # tqdm.auto calls iter() on what it wraps when it is made, and again to loop: hand it one iterator, or a
    # DataLoader with workers starts them twice and its sampler skips the batches the first one prefetched
    bar = tqdm(iter(loader), total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=_BAR_INTERVAL,
               disable=not is_main_process())
    for i, batch in enumerate(bar, start=1):
        last_micro_step = i % grad_accum_steps == 0 or i == total
        # DDP: all-reduce the gradients only on the micro-batch that ends an accumulated group
        no_sync = model.no_sync() if hasattr(model, "no_sync") and not last_micro_step else contextlib.nullcontext()
        with no_sync:
            with autocast(device, amp_dtype):
                loss, stats = compute_loss(model, batch)
            # the loss of an accumulated group is the mean of its micro-batch losses
            scaler.scale(loss / grad_accum_steps).backward()
        running.add(loss, stats)
        if last_micro_step:
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
            if stop is not None and i != total and stop(i):
                break
        if i % refresh_every == 0:
            means = running.means()
            if not math.isfinite(means["loss"]):
                raise FloatingPointError(f"{desc}: the loss became {means['loss']} by step {i}; "
                                         + _divergence_hint())
            bar.set_postfix(_postfix(means), lr=f"{optimizer.param_groups[0]['lr']:.3g}")
    bar.close()
    running.reduce(sharding_of(loader).world)
    means = running.means()
    bad = running.nonfinite_steps()
    if bad:
        raise FloatingPointError(f"{desc}: the loss was NaN/inf in {bad} of {running.steps} step(s) of this "
                                 "epoch; nothing of this epoch is saved. " + _divergence_hint())
    return means


@explain_moved_keywords
@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader: Iterable, compute_loss: Callable, *, device,
             precision: Precision = Precision(), desc: str = "eval") -> dict:
    """Mean loss and stats over ``loader`` in eval mode without gradients (autocast: ``precision.amp_dtype``)."""
    check_groups(precision=(precision, Precision))
    amp_dtype = precision.amp_dtype
    device = torch.device(device)
    model.eval()
    running = RunningStats()
    total = len(loader) if hasattr(loader, "__len__") else None
    for batch in tqdm(iter(loader), total=total, desc=desc, leave=False, dynamic_ncols=True,
                      mininterval=_BAR_INTERVAL, disable=not is_main_process()):
        with autocast(device, amp_dtype):
            loss, stats = compute_loss(model, batch)
        running.add(loss, stats)
    running.reduce(sharding_of(loader).world)
    return running.means()


def _improved(value: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if mode == "min" else value > best


@explain_moved_keywords
def fit(model: torch.nn.Module, optimizer, train_loader, compute_loss: Callable, *, epochs: int, device,
        validation: Validation = Validation(), scheduler=None, scheduler_interval: str = "step",
        precision: Precision = Precision(), step: Stepping = Stepping(), checkpoints: Checkpointing | None = None,
        logger=None, stateful: dict | None = None, ddp_options: dict | None = None,
        time_budget: BudgetStage | TimeBudget | None = None) -> pd.DataFrame:
    """Train for ``epochs`` epochs and return the history (one row per epoch).

    The option groups are the frozen dataclasses of ``common.engine.options``::

        fit(model, optimizer, train_loader, compute_loss, epochs=EPOCHS, device=device,
            validation=Validation(dev_loader, eval_loss, extra=dev_eval, monitor="val_acc", mode="max"),
            scheduler=scheduler, precision=Precision(dtype, scaler),
            step=Stepping(grad_accum_steps=2, max_grad_norm=5.0, ema=ema),
            checkpoints=Checkpointing(CHECKPOINT_DIR, resume=RESUME, metadata=metadata,
                                      generators={"augment": aug_generator}),
            logger=run, stateful={"sampler": sampler}, time_budget=budget)

    - ``validation``: the validation loader and loss (columns ``val_<stat>``, computed with the EMA's
      weights when there is one), ``extra(model, epoch) -> dict`` (more columns, e.g. a verification
      EER), and the ``monitor`` column with its ``mode`` ("min" or "max"): ``best.pt``, the printed
      "(best)" and ``ReduceLROnPlateau`` follow it. The default monitors ``val_loss``, which needs a
      ``loader``; without validation data pass ``Validation(monitor="train_loss")``.
    - ``scheduler_interval``: "step" (stepped per optimizer step, e.g. warmup + cosine) or
      "epoch" (stepped after each epoch; ``ReduceLROnPlateau`` gets the monitored value).
    - ``precision``: autocast's dtype and the ``GradScaler``; ``step``: gradient accumulation,
      clipping and the EMA (``train_epoch``).
    - ``checkpoints`` (None: no files): ``last.pt`` after every epoch and ``best.pt`` when the
      monitored column improves, both atomic; ``Checkpointing(dir, resume=True)`` continues from
      ``last.pt`` (model, optimizer, scheduler, scaler, EMA, epoch, best value, history and RNG
      states, with its ``generators``: the ``torch.Generator`` objects ``compute_loss`` draws from),
      so 2 epochs + resume + 2 epochs equals 4 epochs, bit for bit. Its ``metadata`` (the model's
      configuration and vocabulary, ``{"model_args": ..., "vocab": ...}``) is saved in every
      checkpoint; a resume refuses a checkpoint whose metadata differs
      (``common.engine.checkpoint.check_metadata``: both values named).
    - ``logger``: anything with ``log(dict, step=int)`` (a wandb run), or None.
    - ``stateful``: named objects with ``state_dict()``/``load_state_dict()`` (e.g. a bucketing
      batch sampler), saved in every checkpoint and restored on resume; before each epoch
      ``obj.set_epoch(epoch)`` (0-based) is called on every one that has it (with or without
      checkpoints).

    Trained work is never lost:
    - a new run (``resume=False``) into a folder that holds an earlier run's ``last.pt`` /
      ``best.pt`` first moves them to ``<dir>/earlier/<time>/`` and says so
      (``Checkpointing(dir, keep_earlier=False)`` deletes them instead);
    - ``resume=True`` uses ``last.pt``, or ``best.pt`` when ``last.pt`` is missing, unreadable or
      holds NaN/inf (the unusable file is kept as ``last.pt.unreadable``; an unusable
      ``best.pt`` next to a good ``last.pt`` is kept aside the same way and the next epoch
      writes a new one); no usable file at all is an error naming the files, never a
      silent fresh start over them;
    - NaN/inf: a non-finite training loss in any step (counted on the device, read once per
      epoch), non-finite weights (model or EMA) or a non-finite validation loss / monitored
      value raises ``FloatingPointError`` before that epoch is saved, so ``last.pt`` and
      ``best.pt`` only ever hold finite weights.

    Data-parallel (``common.engine.distributed``): the model trains inside DistributedDataParallel
    (``ddp_options`` are passed to it), every rank iterates its shard of each batch (loaders that
    do not shard themselves are wrapped in ``ShardedLoader``), train and validation sums are
    added over the ranks, BatchNorm statistics are rank 0's after each epoch, ``validation.extra`` runs
    on rank 0 (its row goes to all), and rank 0 alone prints, logs and saves; the checkpoint also
    holds every rank's RNG states, so an interrupted run resumes exactly, and it resumes in one
    process (or another number of them) as well.

    Time budget (``time_budget``: a stage of a ``common.engine.budget.TimeBudget``, or a whole
    ``TimeBudget`` as one stage; None: the epochs decide, exactly as without it):
    - after each epoch the epochs that fit in the stage's time are estimated from the mean epoch
      time (evaluation and checkpoints included), at most ``epochs``; the first estimate (and any
      later smaller one) re-sizes the scheduler (``common.engine.schedule.resize_schedule``: a
      ``warmup_cosine`` schedule then ends at the last step of the last epoch that fits);
    - training stops after the checkpoint of the last epoch that fits (at least one epoch; a first
      epoch that alone outlasts the stage's time is cut there, after an optimizer step);
    - every checkpoint holds the stage's time spent and plan (``extra["budget"]``): ``resume=True``
      continues with the time left; ``history.attrs["time_budget"]`` holds the same at the end.

    Resuming a changed run (the notebook's new values win):
    - another optimizer class is a ``CheckpointError`` naming the checkpoint and both classes;
    - changed optimizer options (lr, weight_decay, momentum, betas, ...) take this run's
      values and are printed, e.g. ``changed on resume: lr 0.001 -> 0.0005``; a changed lr
      rescales the scheduled lr and the scheduler's base lrs (the schedule continues where
      it was, towards the new peak);
    - a changed ``monitor``/``mode`` starts a new best: the old ``best.pt`` is kept as
      ``best_<old monitor>.pt`` and the old best value is not compared with the new metric.
    """
    check_groups(validation=(validation, Validation), precision=(precision, Precision), step=(step, Stepping),
                  checkpoints=(checkpoints, Checkpointing | None))
    val_loader, val_compute_loss, extra_eval = validation.loader, validation.compute_loss, validation.extra
    monitor, mode = validation.monitor, validation.mode
    scaler, ema = precision.scaler, step.ema
    ckpt_dir = checkpoints.dir if checkpoints is not None else None
    resume = checkpoints is not None and checkpoints.resume
    generators = checkpoints.generators if checkpoints is not None else None
    metadata = checkpoints.metadata if checkpoints is not None else None
    if scheduler_interval not in ("step", "epoch"):
        raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
    if monitor.startswith("val_") and val_loader is None and extra_eval is None:
        raise ValueError(f"Validation(monitor={monitor!r}) needs a Validation(loader=...) (or an extra that returns "
                         "it); without validation data monitor a training column: Validation(monitor='train_loss')")
    device = torch.device(device)
    stateful = dict(stateful or {})
    for name, obj in stateful.items():
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(f"stateful[{name!r}] ({type(obj).__name__}) needs state_dict() and load_state_dict()")
    hyperparameters = optimizer_hyperparameters(optimizer)      # this run's values, before any load
    history: list[dict] = []
    best, start = None, 0
    main, distributed = is_main_process(), is_distributed()
    if ckpt_dir is not None:
        if main:
            clean_temporaries(ckpt_dir)
            if not resume:
                keep_earlier_run(ckpt_dir, keep=checkpoints.keep_earlier)
        if resume and metadata is not None:
            check_run_metadata(ckpt_dir, metadata)      # another configuration or vocabulary: refused
        if resume:
            # rank 0 chooses the file (and may set an unusable one aside), then the others read it
            args = (ckpt_dir, model, optimizer, scheduler, scaler, ema, device, generators, stateful,
                    hyperparameters, monitor, mode)
            path = None
            if main:
                start, best, history, path = resume_run(*args)
            path = broadcast_object(path)
            if not main and path is not None:
                with contextlib.redirect_stdout(io.StringIO()):
                    start, best, history, _ = resume_run(*args, path=path)
        barrier()
    stage = begin_stage(time_budget, path if ckpt_dir is not None and resume else None, history, main)
    train_model, eval_loader = model, val_loader
    if distributed:
        train_model = wrap_model(model, device, **(ddp_options or {}))
        train_loader = train_loader if shards_itself(train_loader) else ShardedLoader(train_loader)
        if val_loader is not None and not shards_itself(val_loader):
            eval_loader = ShardedLoader(val_loader)
    step_scheduler = scheduler if scheduler_interval == "step" else None
    saved_epoch = start            # epochs held by last.pt (for the messages)
    for epoch in range(start, epochs):
        if stage is not None and stage.planned is not None and epoch >= stage.planned:
            break                      # the time budget ends training here (a resumed stage may be done)
        shown = epochs if stage is None or stage.planned is None else stage.planned
        steps_before = scheduler.last_epoch if scheduler is not None else 0
        t0 = time.perf_counter()
        for obj in stateful.values():
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        row = {"epoch": epoch + 1}
        with sharded(train_loader, equal_steps=True):
            train = train_epoch(train_model, train_loader, compute_loss, optimizer, device=device,
                                precision=precision, step=step, scheduler=step_scheduler,
                                desc=f"epoch {epoch + 1}/{shown} train",
                                stop=first_epoch_stop(stage, distributed, main))
        broadcast_buffers(model, ema)       # BatchNorm statistics: rank 0's, as checkpointed
        row.update({f"train_{k}": v for k, v in train.items()})
        row["lr"] = optimizer.param_groups[0]["lr"]
        _check_weights(model, ema, epoch, ckpt_dir, saved_epoch)
        if val_loader is not None:
            eval_model = ema.module if ema is not None else model
            with sharded(eval_loader, equal_steps=False):
                val = evaluate(eval_model, eval_loader, val_compute_loss or compute_loss, device=device,
                               precision=precision, desc=f"epoch {epoch + 1}/{shown} val")
            row.update({f"val_{k}": v for k, v in val.items()})
        if extra_eval is not None:
            extra = extra_eval(ema.module if ema is not None else model, epoch + 1) if main else None
            row.update(broadcast_object(extra))
        row["time_s"] = time.perf_counter() - t0
        row = broadcast_object(row)         # one row, so every rank takes the same decisions
        if monitor not in row:
            raise KeyError(f"monitor={monitor!r} is not in the history columns {sorted(row)}")
        _check_validation(row, monitor, epoch, ckpt_dir, saved_epoch)
        if scheduler is not None and scheduler_interval == "epoch":
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(row[monitor])
            else:
                scheduler.step()
        history.append(row)
        improved = _improved(row[monitor], best, mode)
        if improved:
            best = row[monitor]
        if main:
            print(" | ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
                  + ("  (best)" if improved else ""))
        if logger is not None and main:
            logger.log(row, step=epoch + 1)
        if stage is not None:             # before the checkpoint, so that it holds the plan and the schedule
            plan_stage(stage, epoch + 1, epochs, scheduler, scheduler_interval,
                        scheduler.last_epoch - steps_before if scheduler is not None else 0, main)
        if ckpt_dir is not None:
            ranks = rank_states(generators) if distributed else None    # collective: every rank
            kwargs = dict(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                          ema=ema, epoch=epoch, best_metric=best, history=history, generators=generators,
                          stateful=stateful, monitor=monitor, mode=mode, hyperparameters=hyperparameters,
                          check_finite=False, extra=_extra(ranks, stage), metadata=metadata)  # checked above
            # best.pt first: a kill between the two writes leaves last.pt one epoch behind (that epoch is
            # trained again, identically), never a last.pt whose best value has no best.pt to go with it
            if main:
                if improved:
                    save_checkpoint(ckpt_dir / "best.pt", **kwargs)
                save_checkpoint(ckpt_dir / "last.pt", **kwargs)
            saved_epoch = epoch + 1
    barrier()                               # rank 0's files are complete when fit returns
    frame = pd.DataFrame(history)
    if stage is not None:
        frame.attrs["time_budget"] = stage.state_dict()
    return frame


def _extra(ranks, stage) -> dict | None:
    extra = {**({"ranks": ranks} if ranks else {}), **({"budget": stage.state_dict()} if stage is not None else {})}
    return extra or None


def _check_weights(model, ema, epoch: int, ckpt_dir, saved_epoch: int) -> None:
    bad = nonfinite_tensors(unwrap(model).state_dict(), ema.state_dict() if ema is not None else None)
    if bad:
        raise FloatingPointError(
            f"epoch {epoch + 1}: the weights hold NaN/inf ({', '.join(bad[:5])}){_not_saved(ckpt_dir, saved_epoch)}. "
            + _divergence_hint())


def _check_validation(row: dict, monitor: str, epoch: int, ckpt_dir, saved_epoch: int) -> None:
    bad = [k for k in dict.fromkeys(["val_loss", monitor]) if k in row and isinstance(row[k], (int, float))
           and not math.isfinite(row[k])]
    if bad:
        raise FloatingPointError(
            f"epoch {epoch + 1}: {', '.join(f'{k} = {row[k]}' for k in bad)} (the training loss and weights are "
            f"finite){_not_saved(ckpt_dir, saved_epoch)}. Check the validation data for NaN/inf or empty items, "
            "evaluate without AMP (fp16 overflow), or " + _divergence_hint())


def _not_saved(ckpt_dir, saved_epoch: int) -> str:
    if ckpt_dir is None:
        return "; nothing is saved (no checkpoints)"
    held = f"epoch {saved_epoch}" if saved_epoch else "nothing of this run"
    return f"; this epoch is not saved: {ckpt_dir / 'last.pt'} still holds {held}"
