"""Atomic writes: a file or a whole folder appears complete or not at all.

One helper for every writer that must never leave half a file behind (checkpoints,
submissions, ``metrics.json``, the demo data sets)::

    with atomic_write(path, "wb") as f:      # temporary file in the same folder, fsync, rename
        torch.save(state, f)

    with atomic_folder(root) as tmp:         # build the folder in tmp; renamed over root at the end
        np.save(tmp / "a.npy", x)

Temporary names carry the writer's process id (``.<name>.<pid>.<random>.tmp``), so the
leftovers of a process that was killed mid-write are recognised and removed by the next
write of the same target (``remove_stale``) while another live process's are left alone.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_folder", "remove_stale"]


def _prefix(target: Path) -> str:
    return f".{target.name}."


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale(target) -> list[Path]:
    """Remove the temporaries of ``target`` left by processes that no longer run; return them."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    prefix = _prefix(target)
    for path in target.parent.glob(prefix + "*.tmp"):
        pid = path.name[len(prefix):].split(".")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **open_kwargs):
    """Open a temporary file next to ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    ``mode`` is "w" or "wb" (plus ``open`` keywords such as ``newline=""``).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_folder(root):
    """Yield an empty temporary folder next to ``root``; on success it replaces ``root``.

    An existing ``root`` is moved aside first and deleted after the new one is in place, so
    at every moment ``root`` is either the old complete folder, absent, or the new one.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(root)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_prefix(root)}{os.getpid()}.", suffix=".tmp", dir=root.parent))
    try:
        yield tmp
        old = None
        if root.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{_prefix(root)}{os.getpid()}.old.", suffix=".tmp",
                                        dir=root.parent))
            os.rename(root, old / "data")
        os.rename(tmp, root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
