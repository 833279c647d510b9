"""HW2P2 folders, pairs files and submissions under the mistakes of issue 11: found before
training, with the file and the fix named."""
import shutil
import time

import numpy as np
import pytest

from common.demo.faces import FaceDemoSize, write_hw2p2
from common.faces.checks import check_images
from common.faces.folders import scan_split, scan_test_split
from common.faces.pairs import read_pairs
from common.layouts import check_hw2p2_root
from common.submission import SubmissionError, validate_submission, write_submission


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_hw2p2(tmp_path_factory.mktemp("faces"), FaceDemoSize(4, 3, 2, 3, 2, 6, 4), seed=1)


@pytest.fixture
def root(faces, tmp_path):
    """A private copy that a test may break."""
    return shutil.copytree(faces, tmp_path / faces.name)


def _a_train_image(root):
    return sorted((root / "cls_data" / "train").glob("*/*.jpg"))[0]


# ------------------------------------------------------------------ corrupt images, found by the scan
@pytest.mark.parametrize("damage, reason", [
    (lambda b: b[: len(b) // 2], "no JPEG end-of-image marker: truncated"),
    (lambda b: b"", "is empty"),
    (lambda b: b"<html>404 Not Found</html>", "text/HTML file"),
    (lambda b: b"\x89PNG\r\n\x1a\n" + b[8:], "a PNG image"),
])
def test_bad_image_files_are_found_by_the_folder_scan(root, damage, reason):
    victim = _a_train_image(root)
    victim.write_bytes(damage(victim.read_bytes()))
    with pytest.raises(ValueError, match=r"1 of \d+ images in .*train are corrupt or truncated") as err:
        scan_split(root / "cls_data" / "train")
    assert f"{victim} " in str(err.value) and reason in str(err.value) and "Re-extract" in str(err.value)


def test_many_bad_images_are_listed_once_with_a_count(root):
    files = sorted((root / "cls_data" / "train").glob("*/*.jpg"))
    for f in files:
        f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(ValueError, match=rf"{len(files)} of {len(files)} images") as err:
        scan_split(root / "cls_data" / "train")
    assert f"and {len(files) - 10} more" in str(err.value)


def test_damage_inside_a_file_needs_the_full_decode(root):
    victim = _a_train_image(root)
    data = victim.read_bytes()
    victim.write_bytes(data[:400] + data[-2:])          # start and end markers intact, the image data gone
    assert len(scan_split(root / "cls_data" / "train").paths) == 12          # the fast check passes it
    with pytest.raises(ValueError, match=rf"{victim.name} does not decode"):
        scan_split(root / "cls_data" / "train", check="full")
    with pytest.raises(ValueError, match="check must be"):
        check_images([victim], check="thorough")
    check_images([victim], check=None)


def test_corrupt_verification_and_test_images_are_found_too(root, tmp_path):
    victim = sorted((root / "ver_data").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:500])
    with pytest.raises(ValueError, match=rf"val_pairs.txt are corrupt.*\n.*{victim.name}"):
        read_pairs(root / "val_pairs.txt", root / "ver_data")
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    shutil.copy(victim, test_dir / "0000.jpg")
    with pytest.raises(ValueError, match="0000.jpg has no JPEG end-of-image"):
        scan_test_split(test_dir)


def test_fast_check_costs_little_per_image(faces):
    paths = sorted(faces.rglob("*.jpg")) * 20
    t0 = time.perf_counter()
    check_images(paths)
    per_image = (time.perf_counter() - t0) / len(paths)
    assert per_image < 2e-3, f"{per_image * 1e6:.0f} us per image"       # about 20 us here; 180k images: seconds


# ------------------------------------------------------------------ pairs files
@pytest.mark.parametrize("header", ["img1 img2 label", "left,right,same", "Image1\tImage2\tLabel"])
def test_pairs_file_with_a_header_line_is_recognised_and_explained(root, capsys, header):
    pairs = root / "val_pairs.txt"
    expected = read_pairs(pairs, root / "ver_data")
    pairs.write_text(header + "\n" + pairs.read_text())
    got = read_pairs(pairs, root / "ver_data")
    out = capsys.readouterr().out
    assert "line 1" in out and "is a header" in out and "skipped" in out
    assert got.header == header and np.array_equal(got.left, expected.left)
    assert np.array_equal(got.labels, expected.labels)


def test_comma_separated_and_blank_lines_in_pairs(root):
    pairs = root / "val_pairs.txt"
    expected = read_pairs(pairs, root / "ver_data")
    pairs.write_text("\n".join(",".join(line.split()) + "\n" for line in pairs.read_text().splitlines()))
    got = read_pairs(pairs, root / "ver_data")
    assert np.array_equal(got.right, expected.right) and np.array_equal(got.labels, expected.labels)


def test_pairs_resolved_against_the_wrong_folder_says_so(root):
    with pytest.raises(FileNotFoundError, match=r"and so does every other image .*Is it the folder of the "
                                                r"verification images"):
        read_pairs(root / "val_pairs.txt", root / "cls_data")


def test_some_missing_pair_images_are_counted(root):
    names = sorted({n for line in (root / "test_pairs.txt").read_text().splitlines() for n in line.split()})
    (root / "ver_data" / names[0]).unlink()
    with pytest.raises(FileNotFoundError, match=rf"test_pairs.txt:\d+ names {names[0]}.*\(1 of the "
                                                rf"{len(names)} images it names are missing\)"):
        read_pairs(root / "test_pairs.txt", root / "ver_data")


def test_a_non_image_name_after_the_first_line_is_named(root):
    pairs = root / "test_pairs.txt"
    lines = pairs.read_text().splitlines()
    first = lines[0].split()[0]
    shutil.copy(root / "ver_data" / first, root / "ver_data" / "notes.txt")
    pairs.write_text("\n".join([lines[0], f"{first} notes.txt", *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"notes.txt in .*test_pairs.txt:2 is not a .jpg"):
        read_pairs(pairs, root / "ver_data")


# ------------------------------------------------------------------ DATA_ROOT one level off, another homework
def test_data_root_one_level_too_high(root):
    with pytest.raises(FileNotFoundError, match=rf"found one level down: set DATA_ROOT = '{root}'"):
        check_hw2p2_root(root.parent)


def test_data_root_two_levels_too_high(faces, tmp_path):
    root = shutil.copytree(faces, tmp_path / "input" / "11785-hw-2-p-2-face-verification-fall-2024" / faces.name)
    with pytest.raises(FileNotFoundError, match=rf"found two levels down: set DATA_ROOT = '{root}'"):
        check_hw2p2_root(tmp_path / "input")        # /kaggle/input instead of /kaggle/input/<slug>/<folder>


@pytest.mark.parametrize("inside, where", [("cls_data", "one level up"), ("ver_data", "one level up"),
                                           ("cls_data/train", "two levels up")])
def test_data_root_too_low(root, inside, where):
    with pytest.raises(FileNotFoundError, match=rf"found {where}: set DATA_ROOT = '{root}'"):
        check_hw2p2_root(root / inside)


def test_macos_folder_is_not_taken_for_the_data(root, tmp_path):
    top = tmp_path / "download"
    (top / "__MACOSX" / "cls_data").mkdir(parents=True)
    (top / "__MACOSX" / "ver_data").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="cls_data is missing"):
        check_hw2p2_root(top)


def test_data_root_that_does_not_exist_lists_its_parent(tmp_path):
    (tmp_path / "11-785-f24-hw2p2-verification").mkdir()
    with pytest.raises(FileNotFoundError, match=r"does not exist \(.* holds: \['11-785-f24-hw2p2-verification'\]"):
        check_hw2p2_root(tmp_path / "hw2p2")


def _speech_layout(root, frames_labels: bool, features="mfcc"):
    for split in ("train-clean-100", "dev-clean"):
        (root / split / features).mkdir(parents=True)
        (root / split / ("transcript" if features == "mfcc" else "text")).mkdir()
        np.save(root / split / features / "1-1-0000.npy", np.zeros((20, 28 if features == "mfcc" else 80),
                                                                      np.float32))
        n = 22 if frames_labels else 5
        np.save(root / split / ("transcript" if features == "mfcc" else "text") / "1-1-0000.npy",
                np.array(["[SOS]"] + ["AH"] * (n - 2) + ["[EOS]"]))
    return root


@pytest.mark.parametrize("make, name", [
    (lambda p: _speech_layout(p, True), "HW1P2"),
    (lambda p: _speech_layout(p, False), "HW3P2"),
    (lambda p: _speech_layout(p, False, "fbank"), "HW4P2"),
    (lambda p: np.save(p / "wiki.train.npy", np.zeros(3)), "HW4P1"),
])
def test_data_root_holding_another_homeworks_data_says_which(tmp_path, make, name):
    root = tmp_path / "data"
    root.mkdir()
    make(root)
    with pytest.raises(FileNotFoundError, match=rf"holds the {name} .*not the HW2P2 faces"):
        check_hw2p2_root(root)
    with pytest.raises(FileNotFoundError, match=rf"holds the {name} .*\(in {root}\)"):
        check_hw2p2_root(tmp_path)                                          # one level above it


# ------------------------------------------------------------------ submissions
def _submission(tmp_path, text):
    path = tmp_path / "submission.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("text, message", [
    ("ID,Label\n0,0.5\n1,0.1\n\n2,0.3\n", r"line 4 is blank \(1 blank line"),
    ("ID,Label\n0,0.5\n1,0.1\n2,0.3\n\n", r"the last line is blank"),
    ("ID,Label\n0,0.5\n   \n1,0.1\n2,0.3\n", r"line 3 is blank"),
    ("\ufeffID,Label\n0,0.5\n1,0.1\n2,0.3\n", r"byte-order mark"),
    ("ID, Label\n0,0.5\n1,0.1\n2,0.3\n", r"spaces around the names"),
    ("id,label\n0,0.5\n1,0.1\n2,0.3\n", r"upper/lower case differs"),
])
def test_submission_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(SubmissionError, match=message):
        validate_submission(_submission(tmp_path, text), header=("ID", "Label"), n_rows=3, numeric_labels=True)


def test_windows_line_endings_are_fine_and_lines_are_counted_right(tmp_path):
    path = _submission(tmp_path, "ID,Label\r\n0,0.5\r\n1,0.1\r\n2,x\r\n")
    with pytest.raises(SubmissionError, match=r"line 4: label 'x' is not a number"):
        validate_submission(path, header=("ID", "Label"), n_rows=3, numeric_labels=True)
    path = write_submission(tmp_path / "ok.csv", range(3), ["0.5", "0.1", "0.3"], header=("ID", "Label"))
    validate_submission(path, header=("ID", "Label"), n_rows=3, numeric_labels=True)


def test_pairs_file_with_a_byte_order_mark_and_crlf(root):
    pairs = root / "val_pairs.txt"
    expected = read_pairs(pairs, root / "ver_data")
    pairs.write_bytes(b"\xef\xbb\xbf" + pairs.read_text().replace("\n", "\r\n").encode())
    got = read_pairs(pairs, root / "ver_data")
    assert np.array_equal(got.left, expected.left) and np.array_equal(got.labels, expected.labels)


def test_s25_labels_file_with_a_header_line_and_blank_lines(tmp_path, capsys):
    s25 = write_hw2p2(tmp_path / "s", FaceDemoSize(4, 3, 2, 3, 2, 6, 4), seed=1, layout="s25")
    labels = s25 / "cls_data" / "train" / "labels.txt"
    expected = scan_split(labels.parent)
    lines = labels.read_text().splitlines()
    labels.write_text("img_path label\n" + lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n")
    got = scan_split(labels.parent)
    assert "line 1 'img_path label' is a header" in capsys.readouterr().out
    assert got.paths == expected.paths and np.array_equal(got.labels, expected.labels)
    labels.write_text(lines[0] + "\n\n" + "images/missing.jpg 0\n")
    with pytest.raises(FileNotFoundError, match=r"labels.txt:3 names images/missing.jpg"):  # file line, not row
        scan_split(labels.parent)


def test_macos_resource_files_next_to_images_are_not_called_corrupt(root):
    folder = sorted((root / "cls_data" / "train").iterdir())[0]
    (folder / "._train_0.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")   # what a Mac's zip adds
    (root / "ver_data" / "._x.jpg").write_bytes(b"\x00\x05\x16\x07")
    assert len(scan_split(root / "cls_data" / "train").paths) == 12
    read_pairs(root / "val_pairs.txt", root / "ver_data")
