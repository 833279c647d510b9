"""What ``fit`` does with the checkpoint folder of a run, so that trained work is never lost.

- ``choose_resume_checkpoint``: RESUME=True takes ``last.pt``, else ``best.pt`` (missing,
  unreadable or non-finite files are set aside as ``<name>.unreadable``, never deleted);
- ``keep_earlier_run``: a new run (RESUME=False) first moves an earlier run's files to
  ``earlier/<time>/``;
- ``optimizer_hyperparameters`` / ``apply_new_hyperparameters``: on resume, the run's own
  (new) optimizer options win over the checkpoint's, and each change is listed;
- ``clean_temporaries``: the half-written files of killed writers go at the next start;
- ``resume_run``: restores model, optimizer, scheduler, scaler, EMA, samplers and every rank's
  random state from the chosen file (``rank_states`` / ``restore_rank_states`` per process).
"""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import torch

from .checkpoint import (
    IMPLEMENTATION_KEYS,
    CheckpointError,
    nonfinite_tensors,
    read_checkpoint,
    restore_checkpoint,
    rng_state,
    set_rng_state,
)
from .distributed import gather_objects, get_rank, get_world_size, is_main_process
from .files import remove_stale

__all__ = ["CHECKPOINT_FILES", "choose_resume_checkpoint", "keep_earlier_run", "optimizer_hyperparameters",
           "apply_new_hyperparameters", "clean_temporaries", "resume_run", "rank_states", "restore_rank_states"]

CHECKPOINT_FILES = ("last.pt", "best.pt")


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
        if err.__cause__ is not None:              # torch.load failed: truncated, not a zip, foreign pickle
            return None, f"{path} is unreadable ({type(err.__cause__).__name__}: truncated or not a checkpoint)"
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
        print(f"{ckpt_dir}: deleted the earlier run's {names} (Checkpointing(keep_earlier=False))")
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
          "start, give each its own CHECKPOINT_DIR; Checkpointing(dir, keep_earlier=False) deletes instead")
    return dest


def optimizer_hyperparameters(optimizer_or_groups) -> list[dict]:
    """The configured options of each param group: base lr (a scheduler's ``initial_lr``) and the rest."""
    groups = getattr(optimizer_or_groups, "param_groups", optimizer_or_groups)
    out = []
    for g in groups:
        lr = g.get("initial_lr", g["lr"])
        d = {"lr": float(lr)}
        for k, v in g.items():
            if k in IMPLEMENTATION_KEYS or k == "lr":
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


def rank_states(generators) -> list[dict]:
    """Every rank's RNG and generator states (each rank draws its own augmentation)."""
    return gather_objects({"rng": rng_state(),
                           "generators": {name: g.get_state() for name, g in (generators or {}).items()}})


def restore_rank_states(state: dict, generators) -> None:
    ranks = (state.get("extra") or {}).get("ranks")
    if not ranks or len(ranks) != get_world_size():     # another number of processes: rank 0's states
        return
    mine = ranks[get_rank()]
    set_rng_state(mine["rng"])
    for name, g in (generators or {}).items():
        if name in mine["generators"]:
            g.set_state(mine["generators"][name].cpu())


def _check_scheduler(state: dict, path, scheduler, optimizer) -> None:
    """A run with a scheduler resuming from a checkpoint written without one (or the reverse): say what
    happened and the ways forward, instead of only naming the file."""
    saved = state.get("scheduler")
    done = state.get("epoch", -1) + 1
    if scheduler is not None and saved is None:
        groups = (state.get("optimizer") or {}).get("param_groups") or []
        lr = f" (lr {groups[0]['lr']:g})" if groups and "lr" in groups[0] else ""
        raise CheckpointError(
            f"{path} was written by a run without a learning-rate scheduler ({done} epoch(s) done), but this run has "
            f"a {type(scheduler).__name__}, whose position cannot be restored from it. Ways forward: resume as that "
            f"run was, without a scheduler (pass scheduler=None to fit: the learning rate stays at the saved "
            f"value{lr}); or start a new run with the scheduler (RESUME=False: the earlier files are moved to "
            "earlier/, not deleted); or point CHECKPOINT_DIR at the folder of the run that had the scheduler")
    if scheduler is None and saved is not None:
        print(f"RESUME: {path} holds a learning-rate scheduler's state but this run has none: it is not used, the "
              "learning rate stays as the optimizer saved it (pass the same scheduler to fit to continue the schedule)")


def resume_run(ckpt_dir: Path, model, optimizer, scheduler, scaler, ema, device, generators, stateful,
            hyperparameters, monitor, mode, path=None):
    """Restore the run in ``ckpt_dir`` (or from ``path``, the file rank 0 chose); returns
    (first epoch to train, best value, history, the file's path now or None)."""
    if path is None:
        path, state = choose_resume_checkpoint(ckpt_dir, map_location=device)
    else:
        state = read_checkpoint(path, map_location=device)
    if state is None:
        print(f"RESUME: no checkpoint in {ckpt_dir}, starting from scratch")
        return 0, None, [], None
    _check_scheduler(state, path, scheduler, optimizer)
    restore_checkpoint(state, path, model, optimizer, scheduler, scaler, ema, generators=generators,
                       stateful=stateful)
    restore_rank_states(state, generators)
    start, best, history = state["epoch"] + 1, state["best_metric"], state["history"]
    print(f"Resumed from {path}: {start} epoch(s) done, best {monitor} = {best}")
    saved = state.get("hyperparameters") or optimizer_hyperparameters(state["optimizer"]["param_groups"])
    changes = apply_new_hyperparameters(optimizer, scheduler, saved, hyperparameters)
    if changes:
        print(f"changed on resume: {', '.join(changes)} (this run's values are used from epoch {start + 1} on)")
    old_monitor, old_mode = state.get("monitor"), state.get("mode")
    if old_monitor is not None and (old_monitor, old_mode) != (monitor, mode):
        best = None
        kept = ""
        if (ckpt_dir / "best.pt").exists() and is_main_process():
            safe = re.sub(r"[^\w.@-]", "_", old_monitor)
            target = ckpt_dir / f"best_{safe}.pt"
            os.replace(ckpt_dir / "best.pt", target)
            path = target if Path(path).name == "best.pt" else path
            kept = f"; the earlier best.pt (best by {old_monitor}) is kept as {target}"
        print(f"monitor changed on resume: {old_monitor} ({old_mode}) -> {monitor} ({mode}): best.pt now "
              f"tracks {monitor} from epoch {start + 1} on{kept}")
    return start, best, history, path
