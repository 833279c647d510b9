"""Readers and the frame pipeline: reference comparisons and clear errors."""
import numpy as np
import pytest
import torch

from common.speech.frames import FrameBatches, load_frame_store
from common.speech.io import PHONEMES, cmvn, encode_phonemes
from common.layouts import DataFormatError
from tests.common.speech_fixtures import write_split


def _reference_windows(root, split, context):
    """Brute force: pad each utterance on its own, slice every window in sorted order."""
    files = sorted((root / split / "mfcc").glob("*.npy"))
    wins, labs = [], []
    for f in files:
        x = cmvn(np.load(f))
        lab = np.load(root / split / "transcript" / f.name)[1:-1]
        padded = np.pad(x, ((context, context), (0, 0)))
        for t in range(len(x)):
            wins.append(padded[t:t + 2 * context + 1])
            labs.append(PHONEMES.index(lab[t]))
    return np.stack(wins), np.array(labs)


def test_windows_match_per_utterance_padding(tmp_path):
    write_split(tmp_path, "train", [7, 3, 12, 1])
    store = load_frame_store(tmp_path, "train", context=4, progress=False)
    ref_x, ref_y = _reference_windows(tmp_path, "train", 4)
    idx = torch.arange(len(store))
    np.testing.assert_allclose(store.windows(idx).numpy(), ref_x, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(store.targets(idx).numpy(), ref_y)
    np.testing.assert_array_equal(store.all_targets().numpy(), ref_y)
    assert store.lengths == [7, 3, 12, 1] and len(store) == 23


def test_float16_storage_is_close_and_half_the_size(tmp_path):
    write_split(tmp_path, "dev", [20, 9])
    a = load_frame_store(tmp_path, "dev", context=2, progress=False)
    b = load_frame_store(tmp_path, "dev", context=2, dtype=torch.float16, progress=False)
    assert b.features.dtype == torch.float16
    assert b.features.element_size() * 2 == a.features.element_size()
    idx = torch.arange(len(a))
    torch.testing.assert_close(b.windows(idx), a.windows(idx), atol=5e-3, rtol=5e-3)


def test_batches_cover_every_frame_once(tmp_path):
    write_split(tmp_path, "train", [10, 11, 12])
    store = load_frame_store(tmp_path, "train", context=1, progress=False)
    seen = []
    batches = FrameBatches(store, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert len(batches) == 5
    for x, y in batches:
        assert x.shape[1:] == (3, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
        seen.append(x[:, 1])                 # the centre frame identifies the frame
    centres = torch.cat(seen)
    reference = store.windows(torch.arange(len(store)))[:, 1]
    assert len(centres) == len(store)
    assert sorted(map(tuple, centres.tolist())) == sorted(map(tuple, reference.tolist()))


def test_test_split_without_labels_yields_windows_only(tmp_path):
    write_split(tmp_path, "test", [5, 6], labels=False)
    store = load_frame_store(tmp_path, "test", context=3, labels=False, progress=False)
    batches = list(FrameBatches(store, batch_size=4))
    assert all(torch.is_tensor(b) for b in batches) and sum(len(b) for b in batches) == 11


@pytest.mark.parametrize("problem, message", [
    ("missing", "does not exist.*kaggle competitions download"),
    ("short", "has \\(7,\\) labels for 6 frames"),
    ("no_sos", "must start with '\\[SOS\\]'"),
    ("dim", "feature dims differ"),
    ("unknown", "unknown phoneme 'XX'"),
    ("no_transcript", "1 feature files have no transcript .*100-2000-0000.npy"),
    ("nan", "100-2000-0000.npy contains NaN or inf"),
    ("pickled", "100-2000-0000.npy is not an array of phoneme strings"),
])
def test_bad_inputs_give_clear_errors(tmp_path, problem, message):
    if problem != "missing":
        write_split(tmp_path, "train", [6, 5])
    first = tmp_path / "train" / "transcript" / "100-2000-0000.npy"
    lab = list(np.load(first)) if problem != "missing" else None
    if problem == "short":
        np.save(first, np.array(lab[:-2] + ["[EOS]"]))
    elif problem == "no_sos":
        np.save(first, np.array(["[SIL]"] + lab[1:]))
    elif problem == "dim":
        np.save(tmp_path / "train" / "mfcc" / "100-2000-0000.npy", np.zeros((6, 27), np.float32))
    elif problem == "unknown":
        np.save(first, np.array(lab[:2] + ["XX"] + lab[3:]))
    elif problem == "no_transcript":
        first.unlink()
    elif problem == "pickled":
        np.save(first, np.array(lab, dtype=object), allow_pickle=True)
    elif problem == "nan":
        np.save(tmp_path / "train" / "mfcc" / "100-2000-0000.npy", np.full((6, 28), np.nan, np.float32))
    with pytest.raises(DataFormatError, match=message):
        load_frame_store(tmp_path, "train", context=2, progress=False)


def test_cmvn_and_encoding():
    x = np.random.default_rng(0).normal(5, 3, (50, 4)).astype(np.float32)
    z = cmvn(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    assert encode_phonemes(["[SIL]", "AA", "ZH"]).tolist() == [0, 1, 39]
    assert len(PHONEMES) == 42 and PHONEMES[40:] == ["[SOS]", "[EOS]"]
