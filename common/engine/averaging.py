"""Checkpoint averaging: the weights of the N best epochs, averaged (ESPnet's ``average_checkpoints``).

The last epochs of a run sit around a minimum; their average often lies nearer its centre than
any one of them (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"), for the price
of keeping N weight files. Two pieces:

- ``KeepBest``: passed to ``fit`` as its ``logger`` (it forwards every row to the wandb run it
  wraps, if any), it saves the model's weights of every epoch that enters the N best by the
  monitored value to ``checkpoint_dir/best_k/epoch_<E>.pt`` (atomic writes) with an
  ``index.json`` of (epoch, value, file), and deletes the weights that drop out of the N best.
  ``fit`` calls the logger after the epoch's validation and before it saves ``last.pt``, so a run
  killed in between trains that epoch again and its entry is replaced, never duplicated.
- ``average_best(checkpoint_dir, n, model)``: averages the weights of the ``n`` best kept epochs
  and loads them into ``model``; ``average_state_dicts`` is the arithmetic itself.

Floating-point tensors are averaged in float64 and cast back; each element's values are sorted
before they are added, so the average does not depend on the order of the checkpoints. Integer
tensors (BatchNorm's ``num_batches_tracked``) take the floor of their mean.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch

from .checkpoint import CheckpointError, unwrap
from .files import atomic_write

__all__ = ["average_state_dicts", "average_checkpoints", "average_best", "best_k_entries", "KeepBest"]

FOLDER = "best_k"


def average_state_dicts(states: list[dict]) -> dict:
    """The element-wise mean of state dicts with the same keys and shapes (order-independent)."""
    if not states:
        raise ValueError("average_state_dicts needs at least one state dict")
    keys = list(states[0])
    for i, state in enumerate(states[1:], 1):
        if list(state) != keys:
            missing, extra = sorted(set(keys) - set(state)), sorted(set(state) - set(keys))
            raise ValueError(f"state dict {i} has other keys than state dict 0 (missing {missing[:5]}, "
                             f"extra {extra[:5]}): average checkpoints of the same model only")
    averaged = {}
    for key in keys:
        tensors = [s[key] for s in states]
        first = tensors[0]
        if not torch.is_tensor(first):
            averaged[key] = first
            continue
        if any(t.shape != first.shape for t in tensors):
            raise ValueError(f"{key}: shapes {[tuple(t.shape) for t in tensors]} differ: average checkpoints of the "
                             "same model only")
        stacked = torch.stack([t.detach().to("cpu", torch.float64) for t in tensors])     # (N, ...)
        total = stacked.sort(dim=0).values.sum(0) if len(tensors) > 1 else stacked[0]      # order-independent
        if first.is_floating_point() or first.is_complex():
            averaged[key] = (total / len(tensors)).to(first.dtype)
        else:
            averaged[key] = torch.floor(total / len(tensors)).to(first.dtype)
    return averaged


def average_checkpoints(paths) -> dict:
    """The averaged model weights of weight files (``KeepBest``'s) or full checkpoints (their ``model``)."""
    states = []
    for path in paths:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise CheckpointError(f"{path} is not a readable weight file ({type(err).__name__}: {str(err)[:200]}); "
                                  "delete it from best_k/index.json or set AVERAGE_BEST = 0 (best.pt alone)") from err
        states.append(state["model"] if isinstance(state, dict) and "format" in state else state)
    return average_state_dicts(states)


def best_k_entries(checkpoint_dir) -> list[dict]:
    """The kept epochs of ``checkpoint_dir/best_k/index.json``, best first (empty when there is none)."""
    index = Path(checkpoint_dir) / FOLDER / "index.json"
    if not index.exists():
        return []
    data = json.loads(index.read_text())
    return sorted(data["entries"], key=lambda e: e["value"], reverse=data["mode"] == "max")


def average_best(checkpoint_dir, n: int, model: torch.nn.Module | None = None) -> tuple[dict, list[int]]:
    """Average the weights of the ``n`` best kept epochs of ``checkpoint_dir`` (``KeepBest``) and load
    them into ``model`` when given; returns (state dict, the epochs averaged)."""
    entries = best_k_entries(checkpoint_dir)[:n]
    if not entries:
        raise CheckpointError(
            f"{Path(checkpoint_dir) / FOLDER / 'index.json'} does not exist: no epoch weights were kept. Train with "
            "AVERAGE_BEST = N (it keeps the N best epochs' weights), or set AVERAGE_BEST = 0 to use best.pt")
    if len(entries) < n:
        print(f"averaging {len(entries)} epochs: only {len(entries)} were kept (AVERAGE_BEST = {n})")
    state = average_checkpoints([Path(checkpoint_dir) / FOLDER / e["file"] for e in entries])
    if model is not None:
        unwrap(model).load_state_dict(state)
    return state, [e["epoch"] for e in entries]


class KeepBest:
    """A ``fit`` logger that keeps the weights of the ``k`` best epochs by ``monitor`` (see module doc).

    ``logger``: the run it forwards ``log`` calls to (a wandb run), or None. ``resume=False`` moves
    weights kept by an earlier run to ``checkpoint_dir/earlier/best_k-<time>/`` when the first epoch
    is logged (a notebook that only decodes never touches them); ``resume=True`` continues its index.
    ``ema``: keep the EMA weights (what ``fit`` validates) instead of the model's.
    """

    def __init__(self, model, checkpoint_dir, k: int, monitor: str, mode: str = "min", logger=None,
                 resume: bool = False, ema=None):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.model, self.ema, self.k, self.logger = model, ema, int(k or 0), logger
        self.monitor, self.mode = monitor, mode
        self.folder = Path(checkpoint_dir) / FOLDER
        self.entries = best_k_entries(checkpoint_dir) if resume and self.k > 0 else []
        self.fresh = not resume         # the folder of an earlier run is moved aside at the first epoch, not before

    def log(self, row: dict, step: int | None = None) -> None:
        if self.logger is not None:
            self.logger.log(row, step=step)
        if self.k <= 0:
            return
        if self.fresh and self.folder.exists():
            target = self.folder.parent / "earlier" / f"{FOLDER}-{time.strftime('%Y%m%d-%H%M%S')}"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.folder, target)
            print(f"the earlier run's kept weights are moved to {target}")
        self.fresh = False
        value, epoch = row.get(self.monitor), int(row.get("epoch", step or 0))
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        entries = [e for e in self.entries if e["epoch"] != epoch]        # an epoch trained again replaces its entry
        ranked = sorted(entries + [{"epoch": epoch, "value": float(value), "file": f"epoch_{epoch:03d}.pt"}],
                        key=lambda e: e["value"], reverse=self.mode == "max")
        kept = ranked[:self.k]
        if any(e["epoch"] == epoch for e in kept):
            self.folder.mkdir(parents=True, exist_ok=True)
            source = self.ema.module if self.ema is not None else unwrap(self.model)
            with atomic_write(self.folder / f"epoch_{epoch:03d}.pt", "wb") as f:
                torch.save({k: v.detach().cpu() for k, v in source.state_dict().items()}, f)
        if kept != self.entries:
            with atomic_write(self.folder / "index.json") as f:
                f.write(json.dumps({"monitor": self.monitor, "mode": self.mode, "entries": kept}, indent=1))
        for dropped in {e["file"] for e in self.entries} - {e["file"] for e in kept}:
            (self.folder / dropped).unlink(missing_ok=True)
        self.entries = kept

    def __getattr__(self, name):        # summary, finish, ... of the wrapped run
        if self.__dict__.get("logger") is None:
            raise AttributeError(name)
        return getattr(self.logger, name)


def load_best(model: torch.nn.Module, path, average: int = 0, metadata: dict | None = None) -> list[int]:
    """Load the weights a notebook decodes with into ``model``: the checkpoint ``path`` (``best.pt``; its
    ``metadata`` checked against the notebook's), or with ``average`` > 1 the average of the ``average``
    best epochs kept next to it (``best_k/``). Prints which, and returns the epochs used (1-based)."""
    from .checkpoint import load_checkpoint

    state = load_checkpoint(path, model, restore_rng=False, metadata=metadata)
    if average and average > 1:
        _, epochs = average_best(Path(path).parent, average, model)
        print(f"decoding with the average of the {len(epochs)} best epochs {epochs} (AVERAGE_BEST = {average})")
        return epochs
    print(f"decoding with {path} (epoch {state['epoch'] + 1})")
    return [state["epoch"] + 1]
