"""Speech readers given data a user really gets wrong: each case must fail before training with a
DataFormatError naming the file (or folder) and the fix, or, for harmless debris, load with a
warning. HW1P2 (load_frame_store), HW3P2 (load_hw3p2) and HW4P2 (load_hw4p2, read_lm_text)."""
import numpy as np
import pytest

from common.speech.frames import load_frame_store
from common.layouts import DataFormatError, detect_layout, locate_data_root
from common.speech.utterances import load_hw3p2, load_hw4p2, read_lm_text
from tests.common.speech_fixtures import write_hw3_split, write_hw4_split, write_split

TRAIN, DEV, TEST = "train-clean-100", "dev-clean", "test-clean"


def hw1(root, **kw):
    return load_frame_store(root, TRAIN, context=2, progress=False, **kw)


def hw3(root, split=TRAIN, **kw):
    return load_hw3p2(root, split, progress=False, **kw)


def hw4(root, split=TRAIN, **kw):
    return load_hw4p2(root, split, progress=False, **kw)


def _splits(root, write, train, dev, test):
    """train and dev with labels, test without, as in the Kaggle downloads."""
    write(root, TRAIN, train)
    write(root, DEV, dev, seed=1)
    write(root, TEST, test, labels=False, seed=2)
    return root


@pytest.fixture
def hw1_root(tmp_path):
    return _splits(tmp_path / "11-785-f24-hw1p2", write_split, [6, 5, 7], [4, 6], [5])


@pytest.fixture
def hw3_root(tmp_path):
    return _splits(tmp_path / "11-785-f24-hw3p2", write_hw3_split, [40, 33, 57], [30, 41], [35])


@pytest.fixture
def hw4_root(tmp_path):
    root = _splits(tmp_path / "hw4p2", write_hw4_split, [40, 33, 57], [30, 41], [35])
    (root / "text-for-LM").mkdir()
    np.save(root / "text-for-LM" / "0001.npy", np.array(list("THE OLD DAY"), dtype="<U1"))
    return root


def first(root, split, folder):
    return sorted((root / split / folder).glob("*.npy"))[0]


# ---------------------------------------------------------------- one bad file in a split
READERS = {"hw1": hw1, "hw3": hw3, "hw4": hw4, "lm": read_lm_text}

# (homework, split, folder, what its first file is replaced with, what the train load must raise)
BAD_FILES = [
    # feature dims across splits and files
    pytest.param("hw1", TEST, "mfcc", np.zeros((5, 27), np.float32), r"test-clean/mfcc/.*feature dim 27",
                 id="hw1-test-split-with-another-dim"),
    pytest.param("hw3", TEST, "mfcc", np.zeros((35, 27), np.float32),
                 r"test-clean/mfcc/.*feature dim 27, but train-clean-100 has 28", id="hw3-test-split-with-another-dim"),
    pytest.param("hw4", DEV, "fbank", np.zeros((30, 40), np.float32),
                 r"dev-clean/fbank/.*feature dim 40, but train-clean-100 has 80", id="hw4-dev-split-without-80-bins"),
    pytest.param("hw4", TRAIN, "fbank", np.zeros((30, 40), np.float32),
                 r"500-6000-0000.npy has shape \(30, 40\): no axis of 80 mel bins", id="hw4-file-without-80-bins"),
    # an end marker inside a transcript, unknown symbols
    pytest.param("hw4", TRAIN, "text", np.array(["THE OLD<|endoftext|>MAN"]),
                 r"500-6000-0000.npy has '<\|endoftext\|>' inside the transcript", id="hw4-marker-inside-text"),
    pytest.param("hw4", TRAIN, "text", np.array(list("the old man"), dtype="<U1"),
                 r"500-6000-0000.npy contains symbols outside .*'a'.*upper case", id="hw4-lower-case-text-says-upper"),
    # empty utterances and transcripts
    pytest.param("hw1", TRAIN, "mfcc", np.zeros((0, 28), np.float32),
                 r"100-2000-0000.npy is an empty utterance \(0 frames\); delete", id="hw1-empty-utterance"),
    pytest.param("hw3", TRAIN, "transcript", np.array(["[SOS]", "[EOS]"]),
                 r"300-4000-0000.npy is an empty transcript", id="hw3-empty-transcript"),
    pytest.param("hw4", TRAIN, "fbank", np.zeros((0, 80), np.float32), r"500-6000-0000.npy is an empty utterance",
                 id="hw4-empty-fbank"),
    pytest.param("hw4", TRAIN, "text", np.array([], dtype="<U1"), r"500-6000-0000.npy is an empty transcript",
                 id="hw4-empty-text"),
]


@pytest.mark.parametrize("hw, split, folder, array, match", BAD_FILES)
def test_one_bad_file_fails_when_train_loads(request, hw, split, folder, array, match):
    root = request.getfixturevalue(f"{hw}_root")
    np.save(first(root, split, folder), array)
    with pytest.raises(DataFormatError, match=match):
        READERS[hw](root)


# ---------------------------------------------------------------- feature dims across splits
def test_hw1_dev_split_with_another_dim_fails_when_train_loads(hw1_root):
    for f in (hw1_root / DEV / "mfcc").glob("*.npy"):
        np.save(f, np.zeros((len(np.load(f)), 27), np.float32))
    with pytest.raises(DataFormatError, match=r"dev-clean/mfcc/.*feature dim 27, but train-clean-100 has 28"
                                               r".*one download"):
        hw1(hw1_root)


def test_hw4_mixed_orientations_in_one_split(hw4_root):
    f = sorted((hw4_root / TRAIN / "fbank").glob("*.npy"))[1]
    np.save(f, np.load(f).T)
    with pytest.raises(DataFormatError, match=r"501-6001-0001.npy is stored as \(80, T\) but .*500-6000-0000.npy "
                                               r"as \(T, 80\)"):
        hw4(hw4_root)


# ---------------------------------------------------------------- [SOS]/[EOS] inside a transcript
@pytest.mark.parametrize("marker", ["[SOS]", "[EOS]"])
def test_hw1_marker_inside_transcript(hw1_root, marker):
    f = first(hw1_root, TRAIN, "transcript")
    lab = list(np.load(f))
    lab[3] = marker
    np.save(f, np.array(lab))
    with pytest.raises(DataFormatError, match=rf"100-2000-0000.npy has '\{marker[:-1]}\]' inside the transcript "
                                               r"\(at index 3 of 8 labels\)"):
        hw1(hw1_root)


def test_hw3_marker_inside_transcript(hw3_root):
    f = first(hw3_root, TRAIN, "transcript")
    lab = list(np.load(f))
    np.save(f, np.array(lab[:2] + ["[EOS]", "[SOS]"] + lab[2:]))
    with pytest.raises(DataFormatError, match=r"300-4000-0000.npy has '\[EOS\]' inside the transcript"):
        hw3(hw3_root)


# ---------------------------------------------------------------- unknown symbols, empty utterances
def test_hw3_unknown_phoneme(hw3_root):
    f = first(hw3_root, TRAIN, "transcript")
    lab = list(np.load(f))
    np.save(f, np.array(lab[:2] + ["QQ"] + lab[2:]))
    with pytest.raises(DataFormatError, match=r"300-4000-0000.npy: unknown symbol 'QQ'"):
        hw3(hw3_root)


# ---------------------------------------------------------------- file names that do not match
def test_hw1_transcript_renamed(hw1_root):
    f = first(hw1_root, TRAIN, "transcript")
    f.rename(f.with_name("999-1-0000.npy"))
    with pytest.raises(DataFormatError, match=r"do not match: 1 feature files have no transcript .*100-2000-0000"
                                               r".*1 transcripts have no feature file .*999-1-0000"):
        hw1(hw1_root)


def test_hw3_names_differ(hw3_root):
    f = first(hw3_root, DEV, "mfcc")
    f.rename(f.with_name("301-9-0000.npy"))
    with pytest.raises(DataFormatError, match=r"dev-clean/mfcc and .*dev-clean/transcript do not match"):
        hw3(hw3_root, DEV)


def test_hw4_names_differ(hw4_root):
    (first(hw4_root, TRAIN, "text")).unlink()
    with pytest.raises(DataFormatError, match=r"1 feature files have no transcript .*500-6000-0000"):
        hw4(hw4_root)


# ---------------------------------------------------------------- macOS resource files
def test_hw1_macos_resource_files_are_skipped_with_a_warning(hw1_root):
    (hw1_root / TRAIN / "mfcc" / "._100-2000-0000.npy").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    (hw1_root / TRAIN / "transcript" / "._100-2000-0000.npy").write_bytes(b"\x00\x05\x16\x07")
    with pytest.warns(UserWarning, match=r"skipping 1 macOS resource files .*\._100-2000-0000.npy"):
        store = hw1(hw1_root)
    assert store.lengths == [6, 5, 7]


def test_hw3_macos_resource_files_are_skipped(hw3_root):
    (hw3_root / TRAIN / "mfcc" / "._300-4000-0000.npy").write_bytes(b"\x00\x05\x16\x07")
    with pytest.warns(UserWarning, match="macOS resource files"):
        store = hw3(hw3_root)
    assert len(store) == 3 and "._300-4000-0000" not in store.ids


def test_hw4_macos_resource_files_are_skipped(hw4_root):
    (hw4_root / TRAIN / "text" / "._500-6000-0000.npy").write_bytes(b"\x00\x05\x16\x07")
    (hw4_root / TRAIN / "fbank" / "._500-6000-0000.npy").write_bytes(b"\x00\x05\x16\x07")
    with pytest.warns(UserWarning, match="macOS resource files"):
        assert len(hw4(hw4_root)) == 3


# ---------------------------------------------------------------- DATA_ROOT one level off
def test_hw1_root_one_level_too_high(hw1_root):
    with pytest.raises(DataFormatError, match=rf"found one level down at {hw1_root}: set DATA_ROOT"):
        hw1(hw1_root.parent)


def test_hw3_root_two_levels_too_high_like_kaggle_input(tmp_path):
    root = tmp_path / "input" / "hw3p2-785-f24" / "11-785-f24-hw3p2"
    write_hw3_split(root, TRAIN, [40, 30])
    with pytest.raises(DataFormatError, match=rf"found two levels down at {root}"):
        hw3(tmp_path / "input")


def test_hw1_root_one_level_too_low(hw1_root):
    with pytest.raises(DataFormatError, match=rf"found one level up at {hw1_root}: set DATA_ROOT = '{hw1_root}'"):
        hw1(hw1_root / TRAIN)


def test_hw4_root_one_level_too_low(hw4_root):
    with pytest.raises(DataFormatError, match=rf"HW4P2 layout, but it was found one level up at {hw4_root}"):
        hw4(hw4_root / "text-for-LM")


def test_missing_root_says_how_to_download(tmp_path):
    with pytest.raises(DataFormatError, match=r"does not exist.*kaggle competitions download -c hw3p2-785-f24"
                                               r".*DEMO=True"):
        hw3(tmp_path / "nowhere")


# ---------------------------------------------------------------- another homework's layout
@pytest.mark.parametrize("reader, data, match", [
    ("hw1", "hw3", r"holds the HW3P2 layout .*not HW1P2's"),
    ("hw3", "hw1", r"holds the HW1P2 layout .*not HW3P2's.*11-785-f24-hw3p2"),
    ("hw3", "hw4", r"holds the HW4P2 layout \(fbank/ and text/ per split\), not HW3P2's"),
    ("hw4", "hw1", r"holds the HW1P2 layout \(mfcc/ and transcript/"),
    ("lm", "hw3", r"holds the HW3P2 layout"),
])
def test_reader_on_another_homeworks_data_names_the_layout(request, reader, data, match):
    with pytest.raises(DataFormatError, match=match):
        READERS[reader](request.getfixturevalue(f"{data}_root"))


def test_layout_detection_of_the_demo_and_hand_made_folders(hw1_root, hw3_root, hw4_root):
    assert [detect_layout(r) for r in (hw1_root, hw3_root, hw4_root)] == ["hw1p2", "hw3p2", "hw4p2"]
    assert detect_layout(hw1_root / TRAIN) is None
    assert locate_data_root(hw3_root, "hw3p2") == hw3_root


# ---------------------------------------------------------------- what must still load
def test_test_splits_load_without_transcripts(hw3_root, hw4_root):
    assert hw3(hw3_root, TEST).targets is None
    assert hw4(hw4_root, TEST).targets is None


def test_mixed_splits_dims_are_fine_for_s25_fbank_everywhere(tmp_path):
    root = tmp_path / "hw4p2"
    write_hw4_split(root, TRAIN, [40, 33], transposed=True)
    write_hw4_split(root, DEV, [30], transposed=False, seed=1)   # F24 dev next to S25 train
    assert hw4(root).dim == 80 and hw4(root, DEV).dim == 80
