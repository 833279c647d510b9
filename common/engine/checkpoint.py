"""Atomic checkpoints that carry everything needed to resume a run exactly.

A checkpoint is a dict saved with ``torch.save``::

    {"format": "idl-notebooks-checkpoint", "version": 1, "epoch": int, "best_metric": float|None,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ..., "ema": ...,
     "rng": {"python", "numpy", "torch", "cuda"}, "generators": {name: state},
     "stateful": {name: state_dict}, "history": [row dicts], "extra": {...},
     "optimizer_class": "AdamW", "hyperparameters": [per param group], "monitor": str, "mode": str,
     "metadata": {"model_args": {...}, "vocab": [...], ...}}

``metadata`` is what rebuilds and checks the model without the notebook that trained it (as
nanoGPT's ``model_args``): the constructor's arguments and the vocabulary (token strings in id
order). ``rebuild_model(path, build)`` makes the model from the file alone; ``check_metadata``
refuses a checkpoint whose configuration or vocabulary differs from this run's, naming both
(a same-size vocabulary in another order would otherwise load silently).

``generators`` are the task's own ``torch.Generator`` objects (e.g. the one that draws the
device-side augmentations) and ``stateful`` any object with ``state_dict``/``load_state_dict``
(e.g. a bucketing batch sampler): without them a resumed run is correct but not bit-identical.

It is written to a temporary file in the same folder and renamed over the target, so an
interruption (Colab disconnect, Kaggle time limit, a kill) never leaves a half-written
``last.pt``; weights that hold NaN or inf are refused, never written.
It loads with ``weights_only=True``: only tensors and plain Python values are stored.

What ``fit`` does with the files of a run folder (resume from ``last.pt`` or ``best.pt``, keep an
earlier run's files, changed hyperparameters) is in ``common.engine.resume``.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint", "restore_checkpoint",
           "rng_state", "set_rng_state", "unwrap", "nonfinite_tensors", "check_metadata", "check_run_metadata",
           "rebuild_model", "plain_metadata"]

FORMAT = "idl-notebooks-checkpoint"
VERSION = 1
# param-group entries that choose an implementation, not the optimisation itself
IMPLEMENTATION_KEYS = {"params", "param_names", "initial_lr", "foreach", "fused", "capturable", "differentiable"}


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


def nonfinite_tensors(*states) -> list[str]:
    """Names of the floating-point tensors holding NaN or inf in state dicts (or modules).

    One host sync for all tensors together (one flag per tensor, reduced on the device), so
    it costs one round trip per call, not one per tensor.
    """
    named = []
    for i, state in enumerate(states):
        if state is None:
            continue
        if isinstance(state, torch.nn.Module):
            state = state.state_dict()
        prefix = f"[{i}]." if len(states) > 1 else ""
        named += [(prefix + k, t) for k, t in state.items() if torch.is_tensor(t) and t.is_floating_point()]
    if not named:
        return []
    device = named[0][1].device
    flags = torch.stack([torch.isfinite(t).all().to(device) for _, t in named])   # (n,) bool on the device
    if bool(flags.all()):
        return []
    return [name for (name, _), ok in zip(named, flags.tolist()) if not ok]


def save_checkpoint(path, *, model, optimizer=None, scheduler=None, scaler=None, ema=None,
                    epoch: int = 0, best_metric: float | None = None, history=None,
                    extra: dict | None = None, generators: dict | None = None, stateful: dict | None = None,
                    monitor: str | None = None, mode: str | None = None, hyperparameters=None,
                    check_finite: bool = True, metadata: dict | None = None) -> Path:
    """Write a resumable checkpoint atomically (temporary file + rename) and return its path.

    ``metadata``: the model's configuration and vocabulary, e.g. ``{"model_args": {...},
    "vocab": [...]}`` (plain values: numbers, strings, lists, dicts), checked on load.

    ``check_finite``: weights (model and EMA) with NaN/inf raise ``FloatingPointError`` and
    ``path`` is left as it was (``fit`` checks once itself and passes False).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model_state = unwrap(model).state_dict()
    ema_state = ema.state_dict() if ema is not None else None
    if check_finite:
        bad = nonfinite_tensors(model_state, ema_state)
        if bad:
            raise FloatingPointError(f"not saving {path}: the weights hold NaN/inf ({', '.join(bad[:5])}); "
                                     "the file keeps its earlier content")
    state = {
        "format": FORMAT, "version": VERSION, "epoch": int(epoch),
        "best_metric": None if best_metric is None else float(best_metric),
        "model": model_state,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "hyperparameters": hyperparameters,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "ema": ema_state,
        "rng": rng_state(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
        "stateful": {name: obj.state_dict() for name, obj in (stateful or {}).items()},
        "monitor": monitor, "mode": mode,
        "history": list(history) if history is not None else [],
        "extra": extra or {},
        "metadata": plain_metadata(metadata),
    }
    with atomic_write(path, "wb") as f:
        torch.save(state, f)
    return path


def read_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint dict of ``path``; ``CheckpointError`` (file named) if it is not one."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: train first, or set RESUME=False to start fresh")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle of arbitrary objects, text file ...
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {str(err)[:200]}). It may be "
            "truncated by an interrupted copy or a full disk. Do not delete it before a good copy exists: "
            "RESUME=True falls back to the other file of the folder (best.pt / last.pt) by itself, and a "
            "new run (RESUME=False) moves both aside to earlier/ instead of replacing them") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        keys = list(state)[:5] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not an IDL Notebooks checkpoint (found {keys}). For bare weights use "
            "model.load_state_dict(torch.load(path)) instead")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state['version']}, newer than this "
                              f"code ({VERSION}): update the repository")
    return state


def _check_optimizer_class(path: Path, state: dict, optimizer) -> None:
    saved_class, current = state.get("optimizer_class"), type(optimizer).__name__
    if saved_class is not None:
        if saved_class != current:
            raise CheckpointError(
                f"{path} was saved with the optimizer {saved_class}, this run uses {current}: its state "
                f"(momentum buffers, moments) cannot continue in {current}. Use {saved_class} to resume, "
                "or start a new run (RESUME=False; the earlier files are kept in earlier/)")
        return
    # older checkpoints: the option names of the param groups tell the class apart
    saved_keys = set(state["optimizer"]["param_groups"][0]) - IMPLEMENTATION_KEYS - {"lr"}
    keys = set(optimizer.param_groups[0]) - IMPLEMENTATION_KEYS - {"lr"}
    if saved_keys != keys and not (saved_keys <= keys and keys - saved_keys <= {"decoupled_weight_decay"}):
        raise CheckpointError(
            f"{path} was saved by another optimizer than {current} (its options {sorted(saved_keys)}, "
            f"this run's {sorted(keys)}). Use the optimizer of that run to resume, or start a new run "
            "(RESUME=False)")


def restore_checkpoint(state: dict, path, model=None, optimizer=None, scheduler=None, scaler=None, ema=None,
                       restore_rng: bool = True, generators: dict | None = None,
                       stateful: dict | None = None) -> dict:
    """Load the parts of an already read checkpoint dict into the objects given."""
    path = Path(path)
    if optimizer is not None and state.get("optimizer") is not None:
        _check_optimizer_class(path, state, optimizer)
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
                "model or optimizer parameters change? Use the same parameters or start a new run "
                "(RESUME=False; the earlier files are kept in earlier/)") from err
    saved_objects = state.get("stateful", {})
    for name, obj in (stateful or {}).items():
        if name not in saved_objects:
            raise CheckpointError(f"{path} holds no state for {name!r} (saved: {sorted(saved_objects)}); "
                                  "it was written by a run without it")
        obj.load_state_dict(saved_objects[name])
    if restore_rng:
        set_rng_state(state["rng"])
        saved = state.get("generators", {})
        for name, g in (generators or {}).items():
            if name not in saved:
                raise CheckpointError(f"{path} holds no state for the generator {name!r} (saved: {sorted(saved)})")
            g.set_state(saved[name].cpu())
    return state


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, scaler=None, ema=None,
                    map_location="cpu", restore_rng: bool = True, generators: dict | None = None,
                    stateful: dict | None = None, metadata: dict | None = None) -> dict:
    """Restore what is given from ``path`` and return the checkpoint dict.

    Raises ``CheckpointError`` with the file name and the fix for a missing, truncated or
    foreign file, one whose weights do not fit ``model``, one saved with another optimizer, or
    (``metadata`` given) one whose configuration or vocabulary differs from ``metadata``.
    """
    path = Path(path)
    state = read_checkpoint(path, map_location)
    if metadata is not None:
        check_metadata(state, metadata, path)
    return restore_checkpoint(state, path, model, optimizer, scheduler, scaler,
                              ema, restore_rng=restore_rng, generators=generators, stateful=stateful)


def plain_metadata(metadata: dict | None) -> dict:
    """``metadata`` as plain Python values (tuples -> lists, numpy scalars -> numbers, paths -> str),
    so that it loads with ``weights_only=True`` and compares equal after a round trip."""
    def plain(v):
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if v is None or isinstance(v, str):
            return None if v is None else str(v)
        if isinstance(v, (bool, int, float)):       # exact built-in types (np.float64 is a float subclass)
            return bool(v) if isinstance(v, bool) else int(v) if isinstance(v, int) else float(v)
        if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:     # numpy / torch scalar
            return v.item()
        if hasattr(v, "tolist"):
            return v.tolist()
        if isinstance(v, Path):
            return str(v)
        raise TypeError(f"checkpoint metadata must hold plain values (numbers, strings, lists, dicts); "
                        f"got {type(v).__name__}: {v!r:.80}")
    return plain(metadata or {})


def _describe(value, limit: int = 12) -> str:
    if isinstance(value, list) and len(value) > limit:
        return f"[{', '.join(map(repr, value[:limit]))}, ... ({len(value)} entries)]"
    return repr(value)


def _difference(key: str, saved, current) -> str:
    if isinstance(saved, list) and isinstance(current, list):
        if len(saved) != len(current):
            return f"{key}: {len(saved)} entries in the checkpoint, {len(current)} here"
        i = next(i for i, (a, b) in enumerate(zip(saved, current)) if a != b)
        return (f"{key} differs first at index {i}: checkpoint {saved[i]!r}, here {current[i]!r} "
                f"(checkpoint {_describe(saved)}, here {_describe(current)})")
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = sorted(set(saved) | set(current))
        return "; ".join(f"{key}.{k}: checkpoint {saved.get(k, '(absent)')!r}, here {current.get(k, '(absent)')!r}"
                         for k in keys if saved.get(k, "(absent)") != current.get(k, "(absent)"))
    return f"{key}: checkpoint {saved!r}, here {current!r}"


def check_metadata(state: dict, metadata: dict, path) -> None:
    """Refuse (``CheckpointError``) a checkpoint whose metadata differs from ``metadata`` in a key both
    hold, naming each difference and both values. A checkpoint written before metadata existed passes
    with a printed note (nothing to compare)."""
    saved = state.get("metadata") or {}
    current = plain_metadata(metadata)
    if not saved:
        print(f"note: {path} holds no configuration or vocabulary (an older checkpoint): not checked")
        return
    diffs = [_difference(k, saved[k], current[k]) for k in current if k in saved and saved[k] != current[k]]
    if diffs:
        raise CheckpointError(
            f"{path} was trained with another configuration or vocabulary than this notebook's: "
            + " | ".join(diffs) + ". Set the notebook's parameters to the checkpoint's values (its metadata: "
            "read_checkpoint(path)['metadata']), or train a new model (TRAIN=True, RESUME=False)")


def check_run_metadata(checkpoint_dir, metadata: dict) -> None:
    """``check_metadata`` against the file a resume of ``checkpoint_dir`` would use (``last.pt``, else
    ``best.pt``); nothing to check when neither is readable (the resume itself reports that)."""
    for name in ("last.pt", "best.pt"):
        path = Path(checkpoint_dir) / name
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:   # missing or unreadable: the resume chooses and reports
            continue
        if isinstance(state, dict) and state.get("format") == FORMAT:
            check_metadata(state, metadata, path)
            return


def rebuild_model(path, build, metadata: dict | None = None, map_location="cpu") -> tuple[torch.nn.Module, dict]:
    """The model of checkpoint ``path`` rebuilt from the file alone: ``build(**model_args)`` with the
    saved ``metadata["model_args"]``, its weights loaded; returns (model, checkpoint dict).
    ``metadata`` (this notebook's), when given, is checked first (``check_metadata``)."""
    path = Path(path)
    state = read_checkpoint(path, map_location)
    if metadata is not None:
        check_metadata(state, metadata, path)
    model_args = (state.get("metadata") or {}).get("model_args")
    if model_args is None:
        raise CheckpointError(f"{path} holds no model_args (saved without metadata): build the model with the "
                              "parameters of the run that trained it and use load_checkpoint instead")
    model = build(**model_args)
    restore_checkpoint(state, path, model, restore_rng=False)
    return model, state
