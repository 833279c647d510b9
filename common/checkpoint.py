"""Atomic checkpoints that carry everything needed to resume a run exactly.

A checkpoint is a dict saved with ``torch.save``::

    {"format": "idl-notebooks-checkpoint", "version": 1, "epoch": int, "best_metric": float|None,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ..., "ema": ...,
     "rng": {"python", "numpy", "torch", "cuda"}, "generators": {name: state},
     "stateful": {name: state_dict}, "history": [row dicts], "extra": {...},
     "optimizer_class": "AdamW", "hyperparameters": [per param group], "monitor": str, "mode": str}

``generators`` are the task's own ``torch.Generator`` objects (e.g. the one that draws the
device-side augmentations) and ``stateful`` any object with ``state_dict``/``load_state_dict``
(e.g. a bucketing batch sampler): without them a resumed run is correct but not bit-identical.

It is written to a temporary file in the same folder and renamed over the target, so an
interruption (Colab disconnect, Kaggle time limit, a kill) never leaves a half-written
``last.pt``; weights that hold NaN or inf are refused, never written.
It loads with ``weights_only=True``: only tensors and plain Python values are stored.

``fit`` (common.train) builds on the helpers here: ``choose_resume_checkpoint`` (``last.pt``,
else ``best.pt``), ``keep_earlier_run`` (a new run never replaces an earlier run's files) and
``optimizer_hyperparameters`` / ``apply_new_hyperparameters`` (the rule for a changed lr).
"""
from __future__ import annotations

import os
import random
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write, remove_stale

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint", "restore_checkpoint",
           "rng_state", "set_rng_state", "unwrap", "nonfinite_tensors", "choose_resume_checkpoint",
           "keep_earlier_run", "optimizer_hyperparameters", "apply_new_hyperparameters", "clean_temporaries",
           "CHECKPOINT_FILES"]

FORMAT = "idl-notebooks-checkpoint"
VERSION = 1
CHECKPOINT_FILES = ("last.pt", "best.pt")
# param-group entries that choose an implementation, not the optimisation itself
_IMPLEMENTATION_KEYS = {"params", "param_names", "initial_lr", "foreach", "fused", "capturable", "differentiable"}


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
                    check_finite: bool = True) -> Path:
    """Write a resumable checkpoint atomically (temporary file + rename) and return its path.

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
    saved_keys = set(state["optimizer"]["param_groups"][0]) - _IMPLEMENTATION_KEYS - {"lr"}
    keys = set(optimizer.param_groups[0]) - _IMPLEMENTATION_KEYS - {"lr"}
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
                    stateful: dict | None = None) -> dict:
    """Restore what is given from ``path`` and return the checkpoint dict.

    Raises ``CheckpointError`` with the file name and the fix for a missing, truncated or
    foreign file, one whose weights do not fit ``model``, or one saved with another optimizer.
    """
    path = Path(path)
    return restore_checkpoint(read_checkpoint(path, map_location), path, model, optimizer, scheduler, scaler,
                              ema, restore_rng=restore_rng, generators=generators, stateful=stateful)


# ------------------------------------------------------------------ resume and new runs (fit)
def choose_resume_checkpoint(ckpt_dir, map_location="cpu") -> tuple[Path | None, dict | None]:
    """The checkpoint to resume from: ``last.pt`` if usable, else ``best.pt``; (None, None) if neither exists.

    Unusable means unreadable or holding NaN/inf weights; such a file is renamed
    ``<name>.unreadable`` (kept, not deleted) and the fallback is printed. An unusable
    ``best.pt`` next to a good ``last.pt`` is set aside too and the returned best value is
    None (the next epoch writes a new ``best.pt``). If every present file is unusable this
    raises ``CheckpointError`` naming each file and the choices.
    """
    ckpt_dir = Path(ckpt_dir)
    problems = []
    for name in CHECKPOINT_FILES:
        path = ckpt_dir / name
        if not path.exists():
            problems.append(f"{name} is missing")
            continue
        state, problem = _usable(path, map_location)
        if problem is not None:
            problems.append(problem)
            continue
        if name != CHECKPOINT_FILES[0]:
            print(f"RESUME: {'; '.join(problems)}: resuming from {path} instead (epoch {state['epoch'] + 1}); "
                  "the epochs after it are trained again")
        for other in CHECKPOINT_FILES[:CHECKPOINT_FILES.index(name)]:
            _set_aside(ckpt_dir / other)
        best = ckpt_dir / "best.pt"
        if name == "last.pt" and best.exists():
            _, problem = _usable(best, map_location)
            if problem is not None:        # a new best.pt is written at the next epoch
                _set_aside(best)
                state["best_metric"] = None
                print(f"RESUME: {problem}; the best value is reset, so the next epoch writes a new best.pt")
        return path, state
    present = [n for n in CHECKPOINT_FILES if (ckpt_dir / n).exists()]
    if present:
        raise CheckpointError(
            f"RESUME=True but no checkpoint in {ckpt_dir} can be used: {'; '.join(problems)}. Choices: copy a "
            "good last.pt or best.pt back into the folder (a backup, Kaggle's output of an earlier version), "
            "point CHECKPOINT_DIR at another folder, or start a new run with RESUME=False (the unusable "
            "files are then moved to earlier/, not deleted)")
    earlier = sorted((ckpt_dir / "earlier").glob("*/last.pt")) if (ckpt_dir / "earlier").is_dir() else []
    if earlier:
        print(f"RESUME: note that earlier runs are kept in {ckpt_dir / 'earlier'}; move one's last.pt and "
              "best.pt back into the folder to resume it")
    return None, None


def _usable(path: Path, map_location) -> tuple[dict | None, str | None]:
    """(checkpoint, None) when ``path`` loads with finite weights, else (None, why)."""
    try:
        state = read_checkpoint(path, map_location)
    except CheckpointError as err:
        return None, _first_sentence(str(err))
    bad = nonfinite_tensors(state["model"], state.get("ema"))
    if bad:
        return None, f"{path} holds NaN/inf weights ({', '.join(bad[:3])})"
    return state, None


def _set_aside(path: Path) -> None:
    """Keep an unusable checkpoint for inspection, out of the way of the next save."""
    if path.exists():
        os.replace(path, path.with_name(path.name + ".unreadable"))
        print(f"RESUME: kept the unusable {path.name} as {path.with_name(path.name + '.unreadable')}")


def _first_sentence(message: str) -> str:
    end = message.find(". ", 0, 300)
    return message[:end] if end > 0 else message[:300]


def _earlier_files(ckpt_dir: Path) -> list[Path]:
    names = [ckpt_dir / n for n in CHECKPOINT_FILES] + sorted(ckpt_dir.glob("best_*.pt"))
    names += sorted(ckpt_dir.glob("*.pt.unreadable"))
    return [p for p in names if p.is_file()]


def keep_earlier_run(ckpt_dir, keep: bool = True) -> Path | None:
    """Before a new run (``resume=False``): move an earlier run's files to ``earlier/<time>/``.

    Returns the folder they went to (None when there were none). ``keep=False`` deletes
    them instead (the explicit overwrite, for a full disk), and says so.
    """
    ckpt_dir = Path(ckpt_dir)
    files = _earlier_files(ckpt_dir) if ckpt_dir.is_dir() else []
    if not files:
        return None
    names = ", ".join(p.name for p in files)
    if not keep:
        for p in files:
            p.unlink()
        print(f"{ckpt_dir}: deleted the earlier run's {names} (keep_earlier=False)")
        return None
    stamp = datetime.fromtimestamp(max(p.stat().st_mtime for p in files)).strftime("%Y%m%d-%H%M%S")
    dest, n = ckpt_dir / "earlier" / stamp, 1
    while dest.exists():
        n += 1
        dest = ckpt_dir / "earlier" / f"{stamp}-{n}"
    dest.mkdir(parents=True)
    for p in files:
        os.replace(p, dest / p.name)
    runs = [d for d in (ckpt_dir / "earlier").iterdir() if d.is_dir()]
    size = sum(f.stat().st_size for d in runs for f in d.iterdir() if f.is_file())
    print(f"{ckpt_dir} held an earlier run's {names}: moved to {dest} so that this new run (RESUME=False) "
          f"does not replace them ({len(runs)} earlier run(s), {size / 2**20:.0f} MiB in {dest.parent}). To "
          "continue that run instead, move its files back and set RESUME=True; to keep runs apart from the "
          "start, give each its own CHECKPOINT_DIR; fit(keep_earlier=False) deletes instead")
    return dest


def optimizer_hyperparameters(optimizer_or_groups) -> list[dict]:
    """The configured options of each param group: base lr (a scheduler's ``initial_lr``) and the rest."""
    groups = getattr(optimizer_or_groups, "param_groups", optimizer_or_groups)
    out = []
    for g in groups:
        lr = g.get("initial_lr", g["lr"])
        d = {"lr": float(lr)}
        for k, v in g.items():
            if k in _IMPLEMENTATION_KEYS or k == "lr":
                continue
            if isinstance(v, (bool, int, float, str)):
                d[k] = v
            elif isinstance(v, (tuple, list)) and all(isinstance(x, (int, float)) for x in v):
                d[k] = tuple(float(x) for x in v)
            elif torch.is_tensor(v) and v.numel() == 1:
                d[k] = float(v)
        out.append(d)
    return out


def apply_new_hyperparameters(optimizer, scheduler, saved: list[dict], new: list[dict]) -> list[str]:
    """After loading a checkpoint's optimizer: put back the run's own (new) options; list the changes.

    lr: the current (scheduled) lr is scaled by new/old base lr, and the scheduler's base lrs
    follow, so a warmup + cosine schedule continues at the same point with the new peak.
    Every other option (weight_decay, momentum, betas, ...) takes the new value as it is.
    """
    changes = []
    many = len(optimizer.param_groups) > 1
    for i, (group, old, cur) in enumerate(zip(optimizer.param_groups, saved, new)):
        for key, value in cur.items():
            if key not in old or old[key] == value:
                continue
            changes.append(f"{key} {_fmt(old[key])} -> {_fmt(value)}" + (f" (param group {i})" if many else ""))
            if key == "lr":
                group["lr"] = group["lr"] * (value / old[key]) if old[key] else value
                if "initial_lr" in group:
                    group["initial_lr"] = value
                if scheduler is not None and hasattr(scheduler, "base_lrs") and i < len(scheduler.base_lrs):
                    scheduler.base_lrs[i] = value
            else:
                group[key] = value
    return changes


def _fmt(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    return f"{v:g}" if isinstance(v, float) else str(v)


def clean_temporaries(ckpt_dir) -> list[Path]:
    """Remove the temporaries of ``last.pt``/``best.pt`` left by killed writers."""
    return [p for name in CHECKPOINT_FILES for p in remove_stale(Path(ckpt_dir) / name)]
