"""UtteranceStore readers against plain NumPy, CMVN, the bucketing sampler, collate."""
import pickle

import numpy as np
import pytest
import torch

from common.speech.io import cmvn
from common.speech.utterances import (
    BucketBatchSampler,
    GlobalCMVN,
    SpeechBatch,
    Utterance,
    collate_utterances,
    load_hw3p2,
    load_hw4p2,
    padding_fraction,
    read_lm_text,
    read_text,
)
from common.vocab import HW3_PHONEMES, HW4_CHARS
from tests.common.speech_fixtures import write_hw3_split, write_hw4_split

TRAIN, DEV = "train-clean-100", "dev-clean"


# ---------------------------------------------------------------- readers against NumPy
def test_hw3_store_equals_per_file_numpy(tmp_path):
    ids = write_hw3_split(tmp_path, TRAIN, [40, 9, 63, 17])
    store = load_hw3p2(tmp_path, TRAIN, progress=False)
    assert store.ids == ids and store.dim == 28 and len(store) == 4
    assert store.offsets.tolist() == [0, 40, 49, 112, 129]
    assert store.feature_lengths.tolist() == [40, 9, 63, 17]
    for i, uid in enumerate(ids):
        x, y = store[i]
        ref = cmvn(np.load(tmp_path / TRAIN / "mfcc" / f"{uid}.npy"))
        np.testing.assert_allclose(x.numpy(), ref, rtol=1e-6, atol=1e-6)
        lab = np.load(tmp_path / TRAIN / "transcript" / f"{uid}.npy")[1:-1]
        assert y.dtype == torch.int64 and y.tolist() == [HW3_PHONEMES.tokens.index(p) for p in lab]
        assert store[i].id == uid
    assert store.target_lengths.tolist() == [len(t) for t in store.targets]
    assert store.texts()[0] == HW3_PHONEMES.to_string(store.targets[0])


def test_float16_store_is_half_the_size_and_close(tmp_path):
    write_hw3_split(tmp_path, TRAIN, [50, 70])
    a = load_hw3p2(tmp_path, TRAIN, progress=False)
    b = load_hw3p2(tmp_path, TRAIN, progress=False, dtype=np.float16)
    assert b.features.dtype == np.float16 and b.features.nbytes * 2 == a.features.nbytes
    assert b[1][0].dtype == torch.float32
    np.testing.assert_allclose(b.features.astype(np.float32), a.features, atol=5e-3, rtol=5e-3)


def test_s25_transposed_fbank_is_detected_and_equals_f24(tmp_path):
    write_hw4_split(tmp_path / "f24", TRAIN, [30, 90, 80])          # 80 frames: either way
    write_hw4_split(tmp_path / "s25", TRAIN, [30, 90, 80], transposed=True)
    a = load_hw4p2(tmp_path / "f24", TRAIN, progress=False, cmvn=None)
    b = load_hw4p2(tmp_path / "s25", TRAIN, progress=False, cmvn=None)
    assert np.load(sorted((tmp_path / "s25" / TRAIN / "fbank").glob("*.npy"))[0]).shape == (80, 30)
    assert b.feature_lengths.tolist() == [30, 90, 80] and b.dim == 80
    np.testing.assert_array_equal(a.features, b.features)


def test_hw4_text_forms_and_targets(tmp_path):
    ids = write_hw4_split(tmp_path, TRAIN, [20, 25])
    np.save(tmp_path / TRAIN / "text" / f"{ids[1]}.npy", np.array("<|endoftext|>IT'S A DAY<|endoftext|>"))
    store = load_hw4p2(tmp_path, TRAIN, progress=False)
    first = "".join(np.load(tmp_path / TRAIN / "text" / f"{ids[0]}.npy"))
    assert store.texts() == [first, "IT'S A DAY"]
    assert store.targets[1].tolist() == HW4_CHARS.encode_text("IT'S A DAY")
    np.save(tmp_path / "w.npy", np.array(["<sos>", "THE", "OLD", "MAN", "<eos>"]))      # words
    assert read_text(tmp_path / "w.npy") == "THE OLD MAN"


def test_global_cmvn_fitted_on_train_matches_numpy_and_applies_to_dev(tmp_path):
    write_hw4_split(tmp_path, TRAIN, [30, 50, 45])
    write_hw4_split(tmp_path, DEV, [20, 40], seed=1)
    raw = np.concatenate([np.load(f) for f in sorted((tmp_path / TRAIN / "fbank").glob("*.npy"))])
    train = load_hw4p2(tmp_path, TRAIN, progress=False)
    np.testing.assert_allclose(train.cmvn_stats.mean, raw.astype(np.float64).mean(0), rtol=1e-10)
    np.testing.assert_allclose(train.cmvn_stats.std, raw.astype(np.float64).std(0), rtol=1e-10)
    np.testing.assert_allclose(train.features, (raw - raw.mean(0)) / raw.std(0), atol=1e-5)
    dev = load_hw4p2(tmp_path, DEV, progress=False, stats=train.cmvn_stats)
    raw_dev = np.concatenate([np.load(f) for f in sorted((tmp_path / DEV / "fbank").glob("*.npy"))])
    np.testing.assert_allclose(dev.features, (raw_dev - raw.mean(0)) / raw.std(0), atol=1e-5)


def test_global_cmvn_streamed_equals_numpy_on_shifted_data():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(1e4, 0.5, (int(n), 3)) for n in rng.integers(1, 50, 30)]  # large mean: no cancellation
    stats = GlobalCMVN().fit(chunks)
    ref = np.concatenate(chunks)
    np.testing.assert_allclose(stats.mean, ref.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.std, ref.std(0), rtol=1e-9)
    assert stats.count == len(ref)
    again = GlobalCMVN.from_state_dict(stats.state_dict())
    x = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(again.apply(x), stats.apply(x))
    np.testing.assert_allclose(stats.apply(torch.from_numpy(x)).numpy(), stats.apply(x), rtol=1e-6)
    np.testing.assert_allclose(GlobalCMVN.fit(ref, chunk=7).mean, ref.mean(0), rtol=1e-12)  # class call


def test_lm_text_and_added_train_text(tmp_path):
    write_hw4_split(tmp_path, TRAIN, [10, 12])
    (tmp_path / "text-for-LM").mkdir()
    np.save(tmp_path / "text-for-LM" / "a.npy", np.array(list("HELLO THERE"), dtype="<U1"))
    np.save(tmp_path / "text-for-LM" / "b.npy", np.array("GOOD DAY"))
    assert read_lm_text(tmp_path) == ["HELLO THERE", "GOOD DAY"]
    with_train = read_lm_text(tmp_path, splits=(TRAIN,))
    assert len(with_train) == 4 and with_train[2] == load_hw4p2(tmp_path, TRAIN, progress=False).texts()[0]


# ---------------------------------------------------------------- the sampler
def _lengths(n=300, seed=0):
    return np.random.default_rng(seed).integers(20, 700, n)


@pytest.mark.parametrize("max_frames, shuffle", [(700, True), (3000, True), (20000, False), (1500, False)])
def test_sampler_covers_every_index_once_within_the_budget(max_frames, shuffle):
    lengths = _lengths()
    sampler = BucketBatchSampler(lengths, max_frames, shuffle=shuffle, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(len(lengths)))                # exactly once
        assert all(len(b) * lengths[b].max() <= max_frames for b in batches)   # budget kept
        # greedy packing: adding the next utterance in length order would break the budget
        assert np.mean([len(b) * lengths[b].max() for b in batches]) > 0.5 * max_frames


def test_overlong_utterance_is_a_batch_of_its_own_and_drop_last():
    lengths = np.array([5, 5, 5, 50, 5])
    batches = list(BucketBatchSampler(lengths, 12, shuffle=False))
    assert batches == [[0, 1], [2, 4], [3]]
    assert list(BucketBatchSampler(lengths, 12, shuffle=False, drop_last=True)) == [[0, 1], [2, 4]]


def test_sampler_is_deterministic_for_seed_and_epoch():
    lengths = _lengths()
    a, b, c = (BucketBatchSampler(lengths, 2000, seed=s) for s in (1, 1, 2))
    for s in (a, b, c):
        s.set_epoch(4)
    assert list(a) == list(b) and list(a) != list(c)
    a.set_epoch(5)
    epoch5 = list(a)
    b.set_epoch(4)
    assert epoch5 != list(b)


def test_sampler_resume_continues_the_same_epoch_order():
    lengths = _lengths()
    full = BucketBatchSampler(lengths, 2000, seed=7)
    full.set_epoch(2)
    order = list(full)
    run = BucketBatchSampler(lengths, 2000, seed=7)
    run.set_epoch(2)
    it = iter(run)
    first = [next(it) for _ in range(5)]
    state = pickle.loads(pickle.dumps(run.state_dict()))                    # saved in a checkpoint
    resumed = BucketBatchSampler(lengths, 2000, seed=0)                     # fresh object, any seed
    resumed.load_state_dict(state)
    resumed.set_epoch(2)                                                    # fit calls it: same epoch
    assert first + list(resumed) == order
    resumed.set_epoch(3)
    assert len(list(resumed)) == len(resumed)                               # the next epoch is whole
    with pytest.raises(ValueError, match="same data and batch budget"):
        BucketBatchSampler(lengths[:-1], 2000).load_state_dict(state)


def test_bucketing_pads_less_than_random_batches():
    lengths = _lengths(2000)
    sampler = BucketBatchSampler(lengths, 4000, seed=0)
    bucketed = padding_fraction([lengths[b] for b in sampler])
    rng = np.random.default_rng(0)
    perm, random_batches = rng.permutation(len(lengths)), []
    size = int(np.mean([len(b) for b in sampler]))
    random_batches = [lengths[perm[i:i + size]] for i in range(0, len(perm), size)]
    assert bucketed < 0.25 * padding_fraction(random_batches)
    ordered = BucketBatchSampler(lengths, 4000, shuffle=False)
    assert padding_fraction([lengths[b] for b in ordered]) < 0.01        # no jitter: almost none


# ---------------------------------------------------------------- collate
def test_collate_against_hand_made_padding():
    a = Utterance(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), torch.tensor([7, 8]), "u1")
    b = Utterance(torch.tensor([[9.0, 10.0]]), torch.tensor([3, 4, 5]), "u2")
    batch = collate_utterances([a, b], pad_id=1)
    assert torch.equal(batch.features, torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                                                     [[9.0, 10.0], [0.0, 0.0], [0.0, 0.0]]]))
    assert torch.equal(batch.targets, torch.tensor([[7, 8, 1], [3, 4, 5]]))
    assert batch.feature_lengths.tolist() == [3, 1] and batch.target_lengths.tolist() == [2, 3]
    assert batch.ids == ["u1", "u2"] and len(batch) == 2
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.target_mask.tolist() == [[True, True, False], [True, True, True]]
    moved = batch.to("cpu")
    assert isinstance(moved, SpeechBatch) and torch.equal(moved.targets, batch.targets)
    test = collate_utterances([(torch.ones(2, 2), None, "t1")])
    assert test.targets is None and test.target_lengths is None and test.ids == ["t1"]
    with pytest.raises(ValueError, match="mixes utterances with and without targets"):
        collate_utterances([a, Utterance(torch.ones(1, 2), None, "x")])


def test_padding_fraction_by_hand_and_utterance_pickles():
    assert padding_fraction([[3, 1], [2, 2]]) == pytest.approx(2 / 10)
    assert padding_fraction([]) == 0.0
    u = pickle.loads(pickle.dumps(Utterance(torch.ones(2, 3), torch.tensor([1]), "id-7")))
    assert u.id == "id-7" and torch.equal(u[0], torch.ones(2, 3))
    x, y = u
    assert y.tolist() == [1]


def test_store_in_a_dataloader_with_the_sampler(tmp_path):
    write_hw3_split(tmp_path, TRAIN, [40, 9, 63, 17, 30, 22])
    store = load_hw3p2(tmp_path, TRAIN, progress=False)
    sampler = BucketBatchSampler(store.feature_lengths, 100, seed=1)
    loader = torch.utils.data.DataLoader(store, batch_sampler=sampler, collate_fn=collate_utterances)
    seen = []
    for batch in loader:
        assert batch.features.shape[0] * batch.features.shape[1] <= 100 or len(batch) == 1
        for k, uid in enumerate(batch.ids):
            i = store.ids.index(uid)
            assert torch.equal(batch.features[k, :batch.feature_lengths[k]], store[i][0])
            assert batch.targets[k, :batch.target_lengths[k]].tolist() == store.targets[i].tolist()
            seen.append(uid)
    assert sorted(seen) == sorted(store.ids)


def test_a_split_too_large_for_memory_is_refused_naming_float16(tmp_path, monkeypatch):
    import common.speech.utterances as utterances
    write_hw4_split(tmp_path, TRAIN, [100, 100])                     # 200 x 80 x 4 = 64,000 bytes
    monkeypatch.setattr(utterances, "_available_memory", lambda: 50_000)
    with pytest.raises(MemoryError, match=r"200 frames x 80 as float32 need 0.0 GiB.*use dtype=np.float16"):
        load_hw4p2(tmp_path, TRAIN, progress=False)
    assert load_hw4p2(tmp_path, TRAIN, progress=False, dtype=np.float16).features.nbytes == 32_000


def test_full_train_clean_100_estimate_fits_colab():
    """The module docstring's figures: ~36.2M frames (100.6 h at 100 frames/s)."""
    frames = round(100.6 * 3600 * 100)
    gib = {(d, np.dtype(t).itemsize): frames * d * np.dtype(t).itemsize / 2**30
           for d in (28, 80) for t in (np.float32, np.float16)}
    assert gib[28, 4] < 4.0 and gib[28, 2] < 2.0 and gib[80, 2] < 6.0   # fit in 12 GB
    assert gib[80, 4] > 10.5                                            # float32 80-dim does not


@pytest.mark.parametrize("seed", range(6))
def test_sampler_properties_on_random_lengths_and_budgets(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 400, int(rng.integers(1, 120)))
    budget = int(rng.integers(1, 3000))
    sampler = BucketBatchSampler(lengths, budget, seed=seed, shuffle=bool(seed % 2))
    batches = list(sampler)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(len(b) == 1 or len(b) * lengths[b].max() <= budget for b in batches)


def test_fit_with_the_sampler_as_stateful_resumes_the_same_batches(tmp_path):
    """2 epochs + resume + 2 epochs sees the same batches, in the same order, as 4 epochs."""
    from common.engine.options import Checkpointing, Validation
    from common.engine.train import fit
    write_hw3_split(tmp_path / "data", TRAIN, [40, 9, 63, 17, 30, 22, 51, 12])
    store = load_hw3p2(tmp_path / "data", TRAIN, progress=False)

    def run(epochs, ckpt, resume=False):
        torch.manual_seed(0)
        model = torch.nn.Linear(28, len(HW3_PHONEMES))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sampler = BucketBatchSampler(store.feature_lengths, 120, seed=5)
        loader = torch.utils.data.DataLoader(store, batch_sampler=sampler, collate_fn=collate_utterances)
        seen = []

        def loss(m, batch):
            batch = batch.to("cpu")
            seen.append(tuple(batch.ids))
            pooled = (batch.features * batch.mask[..., None]).sum(1) / batch.feature_lengths[:, None]
            return torch.nn.functional.cross_entropy(m(pooled), batch.targets[:, 0]), {"n": len(batch)}

        fit(model, opt, loader, loss, epochs=epochs, device="cpu", checkpoints=Checkpointing(ckpt, resume=resume),
            validation=Validation(monitor="train_loss"), stateful={"sampler": sampler})
        return seen, model

    straight, model4 = run(4, tmp_path / "a")
    first, _ = run(2, tmp_path / "b")
    rest, resumed = run(4, tmp_path / "b", resume=True)
    assert first + rest == straight
    per_epoch = len(straight) // 4
    assert straight[:per_epoch] != straight[per_epoch:2 * per_epoch]        # epochs differ
    torch.testing.assert_close(resumed.weight, model4.weight, rtol=0, atol=0)
