"""Bad HW3P2 input stops the notebook's loader with an error naming the file and the fix."""
import shutil

import numpy as np
import pytest

from common.demo.speech import write_hw3p2
from common.layouts import DataFormatError
from common.speech.utterances import load_hw3p2

SPLIT = "train-clean-100"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return write_hw3p2(tmp_path_factory.mktemp("demo"), size="tiny", seed=0)


@pytest.fixture
def root(tiny_root, tmp_path):
    copy = tmp_path / "11-785-f24-hw3p2"
    shutil.copytree(tiny_root, copy)
    return copy


def _third(root, kind):
    return sorted((root / SPLIT / kind).glob("*.npy"))[3]


def test_the_untouched_copy_loads(root):
    store = load_hw3p2(root, SPLIT, progress=False)
    assert len(store) == 40 and store.dim == 28


def test_unknown_phoneme_names_file_and_symbol(root):
    path = _third(root, "transcript")
    labels = np.load(path)
    labels[2] = "XQ"
    np.save(path, labels)
    with pytest.raises(DataFormatError, match=rf"{path.name}.*unknown symbol 'XQ'"):
        load_hw3p2(root, SPLIT, progress=False)


def test_mfcc_and_transcript_names_that_differ(root):
    path = _third(root, "transcript")
    path.rename(path.with_name("9999-1-0000.npy"))
    with pytest.raises(DataFormatError, match=r"do not match.*no transcript.*" + path.stem):
        load_hw3p2(root, SPLIT, progress=False)


def test_empty_utterance(root):
    path = _third(root, "mfcc")
    np.save(path, np.zeros((0, 28), np.float32))
    with pytest.raises(DataFormatError, match=rf"{path.name} is an empty utterance"):
        load_hw3p2(root, SPLIT, progress=False)


def test_empty_transcript(root):
    path = _third(root, "transcript")
    np.save(path, np.array(["[SOS]", "[EOS]"]))
    with pytest.raises(DataFormatError, match=rf"{path.name} is an empty transcript"):
        load_hw3p2(root, SPLIT, progress=False)
