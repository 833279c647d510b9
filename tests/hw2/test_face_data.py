"""Folder readers (F24 and S25 layouts), decoding, collation, pairs, the P x K sampler,
and the clear errors for bad input."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from common.demo.faces import FaceDemoSize, write_hw2p2
from common.faces.folders import scan_split, scan_test_split
from common.faces.images import FaceImages, collate_images, decode_jpeg, make_loader
from common.faces.pairs import read_pairs
from common.faces.samplers import IdentityBatchSampler
from common.layouts import check_hw2p2_root


@pytest.fixture
def copy_root(demo_root, tmp_path):
    """A private copy of the demo data that a test may break."""
    dst = tmp_path / demo_root.name
    shutil.copytree(demo_root, dst)
    return dst


def test_f24_and_s25_layouts_read_the_same(demo_root, tmp_path):
    small = FaceDemoSize(4, 3, 2, 3, 2, 6, 4)
    f24 = write_hw2p2(tmp_path / "f", small, seed=1)
    s25 = write_hw2p2(tmp_path / "s", small, seed=1, layout="s25")
    for split in ("train", "dev"):
        a = scan_split(f24 / "cls_data" / split)
        b = scan_split(s25 / "cls_data" / split)
        assert (a.layout, b.layout) == ("f24", "s25")
        assert np.array_equal(a.labels, b.labels) and len(a.classes) == len(b.classes) == 4
        # same drawing seed -> same pixels, whatever the layout
        assert torch.equal(decode_jpeg(a.paths[-1]), decode_jpeg(b.paths[-1]))


def test_dev_uses_the_training_mapping(demo_root):
    train = scan_split(demo_root / "cls_data" / "train")
    dev = scan_split(demo_root / "cls_data" / "dev", train.class_to_idx)
    assert train.classes == dev.classes
    for p, y in zip(dev.paths, dev.labels):
        assert p.parent.name == train.classes[y]


def test_decode_and_collate(demo_root):
    train = scan_split(demo_root / "cls_data" / "train")
    ds = FaceImages.from_list(train)
    img, label = ds[5]
    assert img.shape == (3, 112, 112) and img.dtype == torch.uint8 and label == train.labels[5]
    ref = torch.from_numpy(np.array(Image.open(train.paths[5]).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(img, ref)
    xb, yb = collate_images([ds[i] for i in (0, 5, 9)])
    assert xb.shape == (3, 3, 112, 112) and xb.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(xb[1], img) and yb.tolist() == [int(train.labels[i]) for i in (0, 5, 9)]
    small = FaceImages(train.paths[:2], size=56)[0][0]
    assert small.shape == (3, 56, 56)
    with pytest.raises(ValueError, match="different sizes"):
        collate_images([(img, 0), (small, 0)])


def test_loader_with_a_worker(demo_root):
    train = scan_split(demo_root / "cls_data" / "train")
    loader = make_loader(FaceImages.from_list(train), 16, shuffle=True, workers=1, seed=3)
    xb, yb = next(iter(loader))
    assert xb.dtype == torch.uint8 and xb.shape == (16, 3, 112, 112) and yb.shape == (16,)
    again = next(iter(make_loader(FaceImages.from_list(train), 16, shuffle=True, workers=0, seed=3)))
    assert torch.equal(again[1], yb)                 # the seed fixes the shuffle order


def test_read_pairs(demo_root):
    pairs = read_pairs(demo_root / "val_pairs.txt", demo_root / "ver_data")
    lines = (demo_root / "val_pairs.txt").read_text().splitlines()
    assert len(pairs) == len(lines) and len(set(pairs.images)) == len(pairs.images)
    for i in (0, 7, len(lines) - 1):
        a, b, y = lines[i].split()
        assert pairs.images[pairs.left[i]].name == a and pairs.images[pairs.right[i]].name == b
        assert pairs.labels[i] == int(y)
    test = read_pairs(demo_root / "test_pairs.txt", demo_root / "ver_data")
    assert test.labels is None


def test_pair_names_relative_to_the_root(copy_root):
    """Names written as "ver_data/x.jpg" (relative to the data root) resolve too."""
    lines = (copy_root / "val_pairs.txt").read_text().splitlines()[:3]
    (copy_root / "alt_pairs.txt").write_text("".join(
        " ".join(f"ver_data/{n}" for n in ln.split()[:2]) + f" {ln.split()[2]}\n" for ln in lines))
    pairs = read_pairs(copy_root / "alt_pairs.txt", copy_root / "ver_data")
    assert [p.name for p in pairs.images[:2]] == lines[0].split()[:2]


def test_identity_sampler(demo_root):
    labels = scan_split(demo_root / "cls_data" / "train").labels
    s = IdentityBatchSampler(labels, identities_per_batch=4, images_per_identity=3, seed=0)
    assert len(s) == len(labels) // 12
    first = list(s)
    for batch in first:
        ids = labels[batch]
        assert len(batch) == 12 and len(set(batch)) == 12
        assert sorted(np.unique(ids, return_counts=True)[1].tolist()) == [3, 3, 3, 3]
    assert list(s) != first                                          # a new order every epoch
    assert list(IdentityBatchSampler(labels, 4, 3, seed=0)) == first  # reproducible
    few = IdentityBatchSampler(np.array([0, 1, 1, 2, 2, 2]), 2, 4)    # fewer than K images
    assert all(len(b) == 8 for b in few)
    with pytest.raises(ValueError, match="only 3 identities"):
        IdentityBatchSampler(np.array([0, 1, 2]), 4, 2)


# ---------------------------------------------------------------- bad input, clear errors
def test_missing_folder_says_how_to_download(tmp_path, copy_root):
    with pytest.raises(FileNotFoundError, match="kaggle competitions download"):
        check_hw2p2_root(tmp_path / "nowhere")
    shutil.rmtree(copy_root / "ver_data")
    with pytest.raises(FileNotFoundError, match="ver_data"):
        check_hw2p2_root(copy_root)


def test_pairs_file_naming_a_missing_image(copy_root):
    victim = (copy_root / "val_pairs.txt").read_text().splitlines()[3].split()[1]
    (copy_root / "ver_data" / victim).unlink()
    with pytest.raises(FileNotFoundError, match=rf"val_pairs.txt:\d+ names {victim}"):
        read_pairs(copy_root / "val_pairs.txt", copy_root / "ver_data")
    (copy_root / "bad.txt").write_text("a.jpg\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected"):
        read_pairs(copy_root / "bad.txt", copy_root / "ver_data", labelled=True)


def test_empty_identity_folder(copy_root):
    empty = copy_root / "cls_data" / "train" / "n999999"
    empty.mkdir()
    with pytest.raises(ValueError, match="n999999 is empty"):
        scan_split(copy_root / "cls_data" / "train")


def test_non_jpeg_files(copy_root):
    folder = copy_root / "cls_data" / "train" / "n000001"
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes.txt .* not a .jpg"):
        scan_split(copy_root / "cls_data" / "train")
    (folder / "notes.txt").unlink()
    png = folder / "disguised.jpg"                                  # a PNG named .jpg
    Image.new("RGB", (112, 112)).save(png, "PNG")
    with pytest.raises(ValueError, match=r"disguised.jpg is a PNG image, not a JPEG"):
        decode_jpeg(png)
    broken = folder / "broken.jpg"                                  # truncated download
    broken.write_bytes(next(folder.glob("train_*.jpg")).read_bytes()[:200])
    with pytest.raises(ValueError, match=r"broken.jpg is not a readable JPEG"):
        decode_jpeg(broken)
    # the message survives the trip out of a DataLoader worker
    loader = make_loader(FaceImages([broken]), 1, workers=1)
    with pytest.raises(ValueError, match="broken.jpg is not a readable JPEG"):
        next(iter(loader))


def test_test_split_flat_and_s25(tmp_path, demo_root):
    flat = tmp_path / "test"
    flat.mkdir()
    for i, p in enumerate(sorted((demo_root / "ver_data").iterdir())[:3]):
        shutil.copy(p, flat / f"{2 - i:04d}.jpg")
    t = scan_test_split(flat)
    assert [p.name for p in t.paths] == ["0000.jpg", "0001.jpg", "0002.jpg"] and (t.labels == -1).all()
    s25 = tmp_path / "s25test"
    (s25 / "images").mkdir(parents=True)
    for p in t.paths:
        shutil.copy(p, s25 / "images" / p.name)
    (s25 / "labels.txt").write_text("".join(f"images/{p.name} 0\n" for p in t.paths))
    u = scan_test_split(s25)
    assert u.layout == "s25" and [p.name for p in u.paths] == [p.name for p in t.paths]
