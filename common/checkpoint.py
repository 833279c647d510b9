"""Atomic checkpoints that carry everything needed to resume a run exactly.

A checkpoint is a dict saved with ``torch.save``::

    {"format": "idl-notebooks-checkpoint", "version": 1, "epoch": int, "best_metric": float|None,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ..., "ema": ...,
     "rng": {"python", "numpy", "torch", "cuda"}, "generators": {name: state},
     "history": [row dicts], "extra": {...}}

``generators`` are the task's own ``torch.Generator`` objects (e.g. the one that draws the
device-side augmentations): without them a resumed run is correct but not bit-identical.

It is written to a temporary file in the same folder and renamed over the target, so an
interruption (Colab disconnect, Kaggle time limit) never leaves a half-written ``last.pt``.
It loads with ``weights_only=True``: only tensors and plain Python values are stored.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state",
           "unwrap"]

FORMAT = "idl-notebooks-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, foreign or for another model."""


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module whose ``state_dict`` to save: strips ``torch.compile`` and DataParallel."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model) if isinstance(model, torch.nn.DataParallel) else model


def rng_state() -> dict:
    """Python, NumPy, torch CPU and CUDA generator states, in a weights_only-safe form."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npst = state["numpy"]
    np.random.set_state({"bit_generator": npst["bit_generator"],
                         "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": npst["pos"]},
                         "has_gauss": npst["has_gauss"], "gauss": npst["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, *, model, optimizer=None, scheduler=None, scaler=None, ema=None,
                    epoch: int = 0, best_metric: float | None = None, history=None,
                    extra: dict | None = None, generators: dict | None = None) -> Path:
    """Write a resumable checkpoint atomically (temporary file + rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT, "version": VERSION, "epoch": int(epoch),
        "best_metric": None if best_metric is None else float(best_metric),
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "ema": ema.state_dict() if ema is not None else None,
        "rng": rng_state(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
        "history": list(history) if history is not None else [],
        "extra": extra or {},
    }
    with atomic_write(path, "wb") as f:
        torch.save(state, f)
    return path


def _read(path: Path, map_location) -> dict:
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: train first, or set RESUME=False to start fresh")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle of arbitrary objects, text file ...
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {str(err)[:200]}). "
            "It may be truncated by an interrupted copy; delete it, or resume from the other "
            "file (best.pt / last.pt)") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        keys = list(state)[:5] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not an IDL Notebooks checkpoint (found {keys}). For bare weights use "
            "model.load_state_dict(torch.load(path)) instead")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state['version']}, newer than this "
                              f"code ({VERSION}): update the repository")
    return state


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, scaler=None, ema=None,
                    map_location="cpu", restore_rng: bool = True, generators: dict | None = None) -> dict:
    """Restore what is given from ``path`` and return the checkpoint dict.

    Raises ``CheckpointError`` with the file name and the fix for a missing, truncated or
    foreign file, or one whose weights do not fit ``model``.
    """
    path = Path(path)
    state = _read(path, map_location)
    parts = [("model", unwrap(model) if model is not None else None), ("optimizer", optimizer),
             ("scheduler", scheduler), ("scaler", scaler), ("ema", ema)]
    for name, obj in parts:
        if obj is None:
            continue
        if state.get(name) is None:
            raise CheckpointError(f"{path} holds no {name} state; it was saved without one")
        try:
            obj.load_state_dict(state[name])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(
                f"{path}: the saved {name} does not fit this run ({str(err)[:300]}). Did the "
                "model or optimizer parameters change? Use the same parameters or start fresh "
                "(RESUME=False)") from err
    if restore_rng:
        set_rng_state(state["rng"])
        saved = state.get("generators", {})
        for name, g in (generators or {}).items():
            if name not in saved:
                raise CheckpointError(f"{path} holds no state for the generator {name!r} (saved: {sorted(saved)})")
            g.set_state(saved[name].cpu())
    return state
