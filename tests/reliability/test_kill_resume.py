"""SIGKILL at random moments of a training run: checkpoints always load, no temporaries stay,
and the run resumed after every kill ends bit-identical to the uninterrupted run."""
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

import pytest
import torch

from common.engine.checkpoint import nonfinite_tensors, read_checkpoint
from tests.reliability import kill_worker

KILLS = 12


@pytest.fixture(scope="module")
def ctx():
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["torch", "numpy", "common.engine.train", "tests.reliability.kill_worker"])
    return context


def _start(ctx, ckpt, resume, tmp_path, **kw):
    p = ctx.Process(target=kill_worker.train, args=(str(ckpt), resume),
                    kwargs={"log": str(tmp_path / "log.txt"), **kw}, daemon=True)
    p.start()
    return p


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def _epoch_of(path: Path):
    """The epoch a checkpoint holds (None when absent); it must load and hold finite weights."""
    if not path.exists():
        return None
    state = read_checkpoint(path)             # raises CheckpointError when unreadable
    assert not nonfinite_tensors(state["model"]), path
    return state["epoch"]


def _run_to_end(ctx, ckpt, resume, tmp_path, out, progress=None):
    p = _start(ctx, ckpt, resume, tmp_path, out=str(out), progress=progress)
    p.join(120)
    assert p.exitcode == 0, (tmp_path / "log.txt").read_text()[-3000:]
    return torch.load(out, weights_only=True)


def _kill_mid_write(ctx, ckpt, tmp_path, name):
    """Stop a resumed run halfway through writing ``name`` and kill it there."""
    marker = tmp_path / f"writing-{name}"
    p = _start(ctx, ckpt, True, tmp_path, slow_save_marker=str(marker), slow_save_target=name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.is_alive() and not marker.exists():
        time.sleep(0.01)
    p.kill()
    p.join()
    return marker.exists()


def _started(p, progress: Path, timeout: float = 60) -> None:
    """Wait until the child has begun an epoch (imports and set-up are not what is tested)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.is_alive() and not progress.exists():
        time.sleep(0.005)


@pytest.mark.skipif(sys.platform != "linux", reason="forkserver + /proc/self/fd: Linux only")
def test_sigkill_at_random_moments_loses_nothing(ctx, tmp_path):
    progress = tmp_path / "progress-reference"
    reference = _run_to_end(ctx, tmp_path / "reference", False, tmp_path, tmp_path / "reference.pt", str(progress))
    times = [float(line.split()[1]) for line in progress.read_text().splitlines()]
    epoch_s = (times[-1] - times[0]) / (len(times) - 1)       # this machine's time per epoch, saves included

    ckpt = tmp_path / "killed"
    rng = random.Random(11785)
    epochs_seen, mid_write, cleaned = [], 0, 0
    kills = 0
    for k in range(3 * KILLS):
        if kills == KILLS:
            break
        before = set(_temporaries(ckpt)) if ckpt.exists() else set()
        last_before = _epoch_of(ckpt / "last.pt")
        progress = tmp_path / f"progress-{k}"
        p = _start(ctx, ckpt, True, tmp_path, progress=str(progress))   # RESUME=True throughout: none = fresh
        _started(p, progress)
        time.sleep(rng.uniform(0, 1.5 * epoch_s))  # anywhere in the next epochs: a step, an eval, a save
        p.kill()                                  # SIGKILL: no cleanup, no atexit, no finally
        p.join()
        assert p.exitcode in (-9, 0)
        assert p.exitcode == -9 or _epoch_of(ckpt / "last.pt") == kill_worker.EPOCHS - 1
        kills += p.exitcode == -9
        last, best = _epoch_of(ckpt / "last.pt"), _epoch_of(ckpt / "best.pt")
        epochs_seen.append(last)
        if last is not None and best is not None:
            assert best <= last + 1     # best.pt is written first: a kill in between leaves last.pt one behind
        if last is not None and last_before is not None and last > last_before:
            # the run got past its start and saved: the dead writers' temporaries are gone
            assert not (before & set(_temporaries(ckpt))), before
            cleaned += bool(before)
        mid_write += bool(_temporaries(ckpt))
    assert kills >= 10, f"the run ended after {kills} kills"
    # two kills that land mid-write for sure: half of last.pt, then half of best.pt on disk
    for name in ("last.pt", "best.pt"):
        last_before = _epoch_of(ckpt / "last.pt")
        assert _kill_mid_write(ctx, ckpt, tmp_path, name), f"the run never wrote {name}"
        left = [p.name for p in _temporaries(ckpt)]
        assert any(n.startswith(f".{name}.") for n in left), left   # half a file left behind, as after a real kill
        last = _epoch_of(ckpt / "last.pt")                          # loads (or is absent, as before)
        if name == "last.pt":
            assert last == last_before                              # killed in its first write: unchanged
        else:
            assert last_before is None or last >= last_before
        assert _epoch_of(ckpt / "best.pt") is not None              # best.pt is written before last.pt

    final = _run_to_end(ctx, ckpt, True, tmp_path, tmp_path / "resumed.pt")
    assert _temporaries(ckpt) == []
    assert _epoch_of(ckpt / "last.pt") == kill_worker.EPOCHS - 1
    for key, value in reference.items():
        assert torch.equal(value, final[key]), key            # bit-identical to the uninterrupted run
    history = read_checkpoint(ckpt / "last.pt")["history"]
    assert [row["epoch"] for row in history] == list(range(1, kill_worker.EPOCHS + 1))
    ref_history = read_checkpoint(tmp_path / "reference" / "last.pt")["history"]
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in ref_history]
    print(f"{kills} kills, {epoch_s:.3f} s per epoch; epochs in last.pt after each kill: {epochs_seen}; "
          f"kills that left a temporary: {mid_write}; "
          f"rounds that removed earlier temporaries: {cleaned}")
