"""common.engine.files: atomic writes leave the old content or the new, never a part, and no temporaries."""
import os
import subprocess
import sys

import pytest

from common.engine.files import atomic_folder, atomic_write, remove_stale


def test_atomic_write_replaces_and_failure_keeps_old(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    with atomic_write(path) as f:
        f.write("one")
    assert path.read_text() == "one"
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "one"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]
    with atomic_write(path, "wb") as f:
        f.write(b"two")
    assert path.read_bytes() == b"two"
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(path, "a"):
            pass


def test_stale_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "last.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".last.pt.{dead_pid}.abc.tmp"
    stale.write_bytes(b"x" * 100)
    live = tmp_path / f".last.pt.{os.getpid()}.def.tmp"       # a concurrent writer of this process
    live.write_bytes(b"y")
    other = tmp_path / f".best.pt.{dead_pid}.abc.tmp"          # another target: not ours to touch
    other.write_bytes(b"z")
    assert remove_stale(target) == [stale]
    with atomic_write(target, "wb") as f:
        f.write(b"ok")
    assert not stale.exists() and live.exists() and other.exists()


def test_atomic_folder_swaps_whole_and_failure_keeps_old(tmp_path):
    root = tmp_path / "data"
    with atomic_folder(root) as tmp:
        (tmp / "a").write_text("1")
    assert [p.name for p in root.iterdir()] == ["a"]
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(root) as tmp:
            (tmp / "b").write_text("2")
            raise KeyboardInterrupt
    assert [p.name for p in root.iterdir()] == ["a"]
    with atomic_folder(root) as tmp:
        (tmp / "c").write_text("3")
    assert [p.name for p in root.iterdir()] == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
