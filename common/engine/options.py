"""The option groups of ``fit``, ``train_epoch`` and ``evaluate``: small frozen dataclasses, one per concern.

A training call names what it sets, group by group::

    history = fit(model, optimizer, train_loader, compute_loss, epochs=EPOCHS, device=device,
                  validation=Validation(dev_loader, monitor="val_acc", mode="max"),
                  scheduler=scheduler, precision=Precision(dtype, scaler), step=Stepping(max_grad_norm=5.0),
                  checkpoints=Checkpointing(CHECKPOINT_DIR, resume=RESUME, metadata=metadata))

- ``Validation``: what each epoch is judged on and which history column is "best";
- ``Precision``: autocast's dtype and the gradient scaler that goes with it;
- ``Stepping``: what each optimizer step does besides stepping (accumulation, clipping, EMA);
- ``Checkpointing``: the run folder, and everything that only means something with one.

``fit`` keeps flat what belongs to no group or to several: ``epochs``, ``device``, ``scheduler`` with
``scheduler_interval``, ``logger``, ``stateful`` (checkpointed, but also ``set_epoch`` every epoch
without checkpoints), ``ddp_options`` and ``time_budget``.

>>> Precision()                                   # the defaults: fp32, no scaler
Precision(amp_dtype=None, scaler=None)
>>> Stepping(grad_accum_steps=4).max_grad_norm is None
True
>>> Checkpointing("runs/ckpt", resume=True).dir.name
'ckpt'
>>> Validation(mode="largest")
Traceback (most recent call last):
    ...
ValueError: Validation(mode=...) must be 'min' or 'max', got 'largest'

The keywords ``fit`` took before these groups existed fail with a ``TypeError`` naming their group
(``explain_moved_keywords``), so code copied from an older notebook says what to write instead.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

__all__ = ["Validation", "Precision", "Stepping", "Checkpointing", "MOVED_KEYWORDS", "explain_moved_keywords"]


@dataclass(frozen=True)
class Validation:
    """How each epoch is judged: the data and loss it is scored on, extra columns, and the column that is "best".

    They travel together because ``monitor`` names a column that ``loader``/``extra`` produce (``val_<stat>``),
    and every reader of "best" reads it, with or without checkpoints: ``best.pt``, ``ReduceLROnPlateau`` (with
    ``scheduler_interval="epoch"``) and the printed "(best)" mark. Without validation data, monitor a training
    column: ``Validation(monitor="train_loss")``.

    - ``loader``: validation batches (None: no validation pass); ``compute_loss``: its loss (None: the
      training one), in eval mode without gradients; columns ``val_<stat>``.
    - ``extra(model, epoch) -> dict``: more columns (e.g. a verification EER, a decoded error rate);
      data-parallel, it runs on rank 0 only.
    - ``monitor``: the history column to select on; ``mode``: "min" or "max".
    """

    loader: object = None
    compute_loss: Callable | None = None
    extra: Callable | None = None
    monitor: str = "val_loss"
    mode: str = "min"

    def __post_init__(self):
        if self.mode not in ("min", "max"):
            raise ValueError(f"Validation(mode=...) must be 'min' or 'max', got {self.mode!r}")


@dataclass(frozen=True)
class Precision:
    """Mixed precision: autocast's dtype (None: fp32) and the ``GradScaler`` that fp16 needs.

    They travel together because the scaler exists only for the dtype (``common.engine.device.amp_dtype`` and
    ``make_grad_scaler(device, dtype)`` choose them as a pair, and both change with the device). ``evaluate``
    uses the dtype alone.
    """

    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def __post_init__(self):
        if self.amp_dtype is not None and not isinstance(self.amp_dtype, torch.dtype):
            raise TypeError(f"Precision(amp_dtype=...) must be a torch.dtype or None, got {self.amp_dtype!r}")


@dataclass(frozen=True)
class Stepping:
    """What each optimizer step does besides ``optimizer.step()``: gradients summed over ``grad_accum_steps``
    micro-batches (the loss of a group is the mean of theirs), clipped to ``max_grad_norm`` (None: not
    clipped; the scaler unscales first), then ``ema`` (an ``AveragedModel``) updated.

    They travel together because all three act at the same point, the end of an accumulated group; with
    an ``ema``, ``fit`` validates and checkpoints the averaged weights.
    """

    grad_accum_steps: int = 1
    max_grad_norm: float | None = None
    ema: torch.optim.swa_utils.AveragedModel | None = None

    def __post_init__(self):
        if self.grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {self.grad_accum_steps}")


@dataclass(frozen=True)
class Checkpointing:
    """The run folder: ``last.pt`` after every epoch, ``best.pt`` when the monitored column improves.

    They travel together because none of them means anything without the folder: they are what is written
    to it after each epoch and read back on a resume (``fit(checkpoints=None)``: no files, nothing resumed).

    - ``dir``: the folder (made if missing);
    - ``resume``: continue from ``last.pt`` (or ``best.pt``), bit-identical to an uninterrupted run;
    - ``keep_earlier``: a new run first moves an earlier run's files to ``dir/earlier/<time>/`` (False:
      deletes them);
    - ``metadata``: the model's configuration and vocabulary (``{"model_args": ..., "vocab": ...}``), saved in
      every checkpoint; a resume from a checkpoint whose metadata differs is refused;
    - ``generators``: named ``torch.Generator`` objects that ``compute_loss`` draws from (augmentation),
      saved and restored so that a resume draws what the uninterrupted run would have.
    """

    dir: Path
    resume: bool = False
    keep_earlier: bool = True
    metadata: dict | None = None
    generators: dict | None = None

    def __post_init__(self):
        if self.dir is None:
            raise TypeError("Checkpointing needs a folder; for no checkpoints pass fit(checkpoints=None)")
        object.__setattr__(self, "dir", Path(self.dir))


# the flat keywords fit, train_epoch and evaluate took before the groups, and where each went
MOVED_KEYWORDS = {
    "val_loader": "validation=Validation(loader=...)",
    "val_compute_loss": "validation=Validation(compute_loss=...)",
    "extra_eval": "validation=Validation(extra=...)",
    "monitor": "validation=Validation(monitor=...)",
    "mode": "validation=Validation(mode=...)",
    "amp_dtype": "precision=Precision(amp_dtype=...)",
    "scaler": "precision=Precision(scaler=...)",
    "grad_accum_steps": "step=Stepping(grad_accum_steps=...)",
    "max_grad_norm": "step=Stepping(max_grad_norm=...)",
    "ema": "step=Stepping(ema=...)",
    "checkpoint_dir": "checkpoints=Checkpointing(dir=...)",
    "resume": "checkpoints=Checkpointing(dir, resume=...)",
    "keep_earlier": "checkpoints=Checkpointing(dir, keep_earlier=...)",
    "metadata": "checkpoints=Checkpointing(dir, metadata=...)",
    "generators": "checkpoints=Checkpointing(dir, generators=...)",
}


def explain_moved_keywords(fn):
    """``fn`` unchanged (same signature), except that a keyword of ``MOVED_KEYWORDS`` whose group ``fn`` takes
    raises a ``TypeError`` that names the group, instead of Python's bare "unexpected keyword argument"."""
    params = inspect.signature(fn).parameters
    moved = {old: new for old, new in MOVED_KEYWORDS.items() if old not in params and new.split("=")[0] in params}

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        old = [k for k in kwargs if k in moved]
        if old:
            raise TypeError(f"{fn.__name__}() got an unexpected keyword argument {old[0]!r}: the options are grouped "
                            "now (common.engine.options): " + "; ".join(f"{k} -> {moved[k]}" for k in old))
        return fn(*args, **kwargs)
    return wrapper


def check_groups(**groups) -> None:
    """A TypeError naming the group for an option passed as something else (e.g. a folder as ``checkpoints``)."""
    for name, (value, kind) in groups.items():
        if not isinstance(value, kind):
            want = " or ".join("None" if k is type(None) else k.__name__ for k in getattr(kind, "__args__", (kind,)))
            raise TypeError(f"{name} must be a {want} (common.engine.options), got {type(value).__name__}")
