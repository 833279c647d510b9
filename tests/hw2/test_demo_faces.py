"""The demo face generator: Kaggle layout, counts, pairs, truth, determinism, idempotence."""
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.demo.faces import SIZES, FaceDemoSize, write_hw2p2


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_and_counts(demo_root):
    sz = SIZES["tiny"]
    assert demo_root.name == "11-785-f24-hw2p2-verification"
    train = sorted((demo_root / "cls_data" / "train").iterdir())
    dev = sorted((demo_root / "cls_data" / "dev").iterdir())
    assert [p.name for p in train] == [p.name for p in dev]
    assert len(train) == sz.train_identities
    assert all(len(list(p.glob("*.jpg"))) == sz.train_per_identity for p in train)
    assert all(len(list(p.glob("*.jpg"))) == sz.dev_per_identity for p in dev)
    ver = sorted((demo_root / "ver_data").glob("*.jpg"))
    assert len(ver) == sz.ver_identities * sz.ver_per_identity
    assert all(len(p.stem) == 8 and p.stem.isalpha() for p in ver)
    with Image.open(ver[0]) as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (112, 112)


def test_pairs_are_balanced_and_match_the_truth(demo_root):
    ident = dict(line.split() for line in (demo_root / "demo_truth" / "ver_identities.txt").read_text().splitlines())
    cls_ids = {p.name for p in (demo_root / "cls_data" / "train").iterdir()}
    assert not cls_ids & set(ident.values())          # verification identities are unseen
    val = [line.split() for line in (demo_root / "val_pairs.txt").read_text().splitlines()]
    test = [line.split() for line in (demo_root / "test_pairs.txt").read_text().splitlines()]
    truth = (demo_root / "demo_truth" / "test_pairs_labels.txt").read_text().split()
    assert len(val) == SIZES["tiny"].val_pairs and len(test) == len(truth) == SIZES["tiny"].test_pairs
    assert all(len(p) == 3 for p in val) and all(len(p) == 2 for p in test)
    for pairs, labels in ((val, [p[2] for p in val]), (test, truth)):
        assert Counter(labels) == {"1": len(pairs) // 2, "0": len(pairs) - len(pairs) // 2}
        for (a, b, *_), y in zip(pairs, labels):
            assert a != b and (ident[a] == ident[b]) == (y == "1")


def test_images_of_one_identity_are_closer_than_of_others(demo_root):
    """A sanity check that identity is in the pixels: mean colour of the centre of the face."""
    def centre(p):
        return np.asarray(Image.open(p), dtype=np.float64)[40:80, 36:76].mean((0, 1))
    train = sorted((demo_root / "cls_data" / "train").iterdir())[:8]
    feats = np.array([[centre(p) for p in sorted(d.iterdir())] for d in train])   # (8, K, 3)
    within = np.linalg.norm(feats - feats.mean(1, keepdims=True), axis=-1).mean()
    between = np.linalg.norm(feats.mean(1)[:, None] - feats.mean(1)[None], axis=-1).sum() / (8 * 7)
    assert within < between


def test_deterministic_idempotent_and_seeded(tmp_path, demo_root):
    small = FaceDemoSize(3, 2, 1, 3, 2, 6, 4)
    a = write_hw2p2(tmp_path / "a", small, seed=5)
    b = write_hw2p2(tmp_path / "b", small, seed=5)
    assert digest(a) == digest(b)
    stamp = (a / ".demo_complete").stat().st_mtime_ns
    first = next((a / "ver_data").iterdir()).stat().st_mtime_ns
    assert write_hw2p2(tmp_path / "a", small, seed=5) == a        # already complete: untouched
    assert (a / ".demo_complete").stat().st_mtime_ns == stamp
    assert next((a / "ver_data").iterdir()).stat().st_mtime_ns == first
    c = write_hw2p2(tmp_path / "b", small, seed=6)                  # other seed: rewritten
    assert digest(c) != digest(a)


def test_refuses_to_overwrite_real_data_and_cleans_interrupted_writes(tmp_path):
    real = tmp_path / "11-785-f24-hw2p2-verification"
    (real / "cls_data").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not demo data"):
        write_hw2p2(tmp_path, "tiny")
    assert (real / "cls_data").exists()
    stale = tmp_path / f".{real.name}.999999999.x.tmp"              # a writer killed mid-way
    (stale / "cls_data").mkdir(parents=True)
    small = FaceDemoSize(2, 2, 1, 2, 2, 4, 4)
    root = write_hw2p2(tmp_path / "fresh", small)
    assert (root / ".demo_complete").exists()
    write_hw2p2(tmp_path / "fresh", FaceDemoSize(2, 2, 1, 2, 2, 4, 5))  # other arguments: replaced
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == [real.name]
    (real / "cls_data").rmdir()                                     # an empty folder is ours to fill
    write_hw2p2(tmp_path, small)
    assert not stale.exists() and (real / ".demo_complete").exists()
    with pytest.raises(ValueError, match="unknown demo size"):
        write_hw2p2(tmp_path / "x", "huge")
