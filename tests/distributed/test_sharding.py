"""Per-rank sharding of the batch sources on the CPU: 2 forked processes with gloo (common.engine.distributed).

Each rank's shards are disjoint from the other's, cover the one-process batches, and every rank
takes the same number of training steps; ranks that drew different orders are an error.
"""
import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from common.engine import distributed as D
from common.speech.batching import BucketBatchSampler
from common.speech.frames import FrameBatches, FrameStore


def _store(x, y) -> FrameStore:
    """A context-0 frame store of the rows of x (windows (B, 1, D))."""
    return FrameStore(x.clone(), None if y is None else y.to(torch.uint8), torch.arange(len(x)), 0)


def _shards():
    """Each rank's items of every batch source, in training (equal steps) and evaluation."""
    x = torch.arange(41, dtype=torch.float32).unsqueeze(1)        # frame i holds the value i
    out = {}
    fb = FrameBatches(_store(x, torch.zeros(41, dtype=torch.long)), 8, shuffle=True,
                      generator=torch.Generator().manual_seed(3))
    with D.sharded(fb, equal_steps=True):
        out["frames"] = [b[0].flatten().long().tolist() for b in fb]
    lengths = np.random.default_rng(0).integers(5, 200, 57)
    lengths[[3, 9]] = 500                                          # over the budget: a batch alone in 1 process
    bucket = BucketBatchSampler(lengths, max_frames=400, seed=2)
    other = BucketBatchSampler(lengths, max_frames=400, seed=2)    # not sharded: one process's batches
    with D.sharded(DataLoader(range(57), batch_sampler=bucket), equal_steps=True):   # found as the batch sampler
        out["bucket"] = list(bucket)
        out["bucket_len"] = len(bucket)
        out["other_len"] = len(other)
    out["bucket_len_after"] = len(bucket)
    pk = D.ShardedBatchSampler(BatchSampler(RandomSampler(range(48), generator=torch.Generator().manual_seed(4)),
                                            12, drop_last=False), group=3)
    with D.sharded(pk, equal_steps=True):
        out["pk"] = list(pk)
    loader = D.ShardedLoader(DataLoader(TensorDataset(torch.arange(21)), batch_size=4))
    with D.sharded(loader, equal_steps=True):
        out["loader_train"] = [b[0].tolist() for b in loader]
    with D.sharded(loader, equal_steps=False):
        out["loader_eval"] = [b[0].tolist() for b in loader]
    out["one_process"] = BucketBatchSampler(lengths, max_frames=400, seed=2)._batches(1)
    return D.gather_objects(out)


def test_shards_are_disjoint_cover_the_one_process_batches_and_keep_steps_equal():
    ranks = D.launch(_shards, 2)
    # FrameBatches: rank 0 + rank 1 of step k = batch k of one process with the same generator
    one = [b.flatten().long().tolist() for b in FrameBatches(
        _store(torch.arange(41, dtype=torch.float32).unsqueeze(1), None), 8, shuffle=True,
        generator=torch.Generator().manual_seed(3))]
    assert len(ranks[0]["frames"]) == len(ranks[1]["frames"]) == len(one) - 1   # 41 = 5 x 8 + 1: the last,
    for k, batch in enumerate(one[:-1]):                                          # smaller than 2, skipped
        assert ranks[0]["frames"][k] + ranks[1]["frames"][k] == batch
        assert abs(len(ranks[0]["frames"][k]) - len(ranks[1]["frames"][k])) <= 1
    # bucketing: same number of steps, every utterance exactly once, each part from one batch
    b0, b1 = ranks[0]["bucket"], ranks[1]["bucket"]
    assert len(b0) == len(b1) == ranks[0]["bucket_len"]
    seen = sorted(i for part in b0 + b1 for i in part)
    assert seen == list(range(57))
    assert all(p0 and p1 for p0, p1 in zip(b0, b1))              # over-budget utterances got company
    # the sharding is the sampler's own: another sampler keeps one process's count, and it ends with the loop
    assert ranks[0]["other_len"] == ranks[0]["bucket_len_after"] == len(ranks[0]["one_process"]) != len(b0)
    # P x K: identity groups of 3 stay together, the parts cover each batch of 12
    for p0, p1 in zip(ranks[0]["pk"], ranks[1]["pk"]):
        assert len(p0) == len(p1) == 6 and not set(p0) & set(p1)
    assert sorted(i for p in ranks[0]["pk"] + ranks[1]["pk"] for i in p) == list(range(48))
    # any loader split on arrival: training skips a batch smaller than the world (21 = 5 x 4 + 1)
    assert [a + b for a, b in zip(ranks[0]["loader_train"], ranks[1]["loader_train"])] == \
        [list(range(i, i + 4)) for i in range(0, 20, 4)]
    assert sorted(sum(ranks[0]["loader_eval"] + ranks[1]["loader_eval"], [])) == list(range(21))


def _unseeded_orders(kind):
    # forked with the parent's RNG state, yet rank 1 draws from its own stream (common.engine.distributed.setup)
    if kind == "sampler":
        source = D.ShardedBatchSampler(BatchSampler(RandomSampler(range(20)), 4, drop_last=False))
    else:
        source = D.ShardedLoader(DataLoader(TensorDataset(torch.linspace(0, 1, 20)), batch_size=4, shuffle=True))
    with D.sharded(source):
        return list(source)


@pytest.mark.parametrize("kind", ["sampler", "loader"])
def test_unseeded_shuffles_that_differ_between_ranks_are_an_error(kind):
    with pytest.raises(Exception, match="drew different batches"):
        D.launch(_unseeded_orders, 2, kind)


def test_split_batch_cuts_every_per_item_field_and_covers_the_batch():
    from common.speech.batching import collate_utterances

    items = [(torch.full((t, 2), float(i)), torch.arange(i + 1), f"utt{i}") for i, t in enumerate([5, 3, 4, 2, 6])]
    batch = collate_utterances(items)
    parts = [D.split_batch(batch, r, 2) for r in range(2)]
    assert [p.ids for p in parts] == [["utt0", "utt1", "utt2"], ["utt3", "utt4"]]
    assert torch.equal(torch.cat([p.features for p in parts]), batch.features)
    assert torch.equal(torch.cat([p.target_lengths for p in parts]), batch.target_lengths)
    x, y = torch.arange(10).view(5, 2), torch.arange(5)
    pieces = [D.split_batch({"x": x, "y": y, "scale": 2.0}, r, 3) for r in range(3)]
    assert [len(p["y"]) for p in pieces] == [2, 2, 1] and all(p["scale"] == 2.0 for p in pieces)
    assert torch.equal(torch.cat([p["x"] for p in pieces]), x)


def test_gpus_to_use_follows_torchrun_and_refuses_impossible_counts(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(var, raising=False)
    from common.engine.distributed import processes

    monkeypatch.setattr(processes, "gpu_count", lambda: 0)   # a CPU machine: GPUS processes with gloo
    assert D.gpus_to_use(3) == 3 and D.gpus_to_use(None) == 1
    monkeypatch.setattr(processes, "gpu_count", lambda: 2)
    assert D.gpus_to_use(None) == 2 and D.gpus_to_use(1) == 1
    with pytest.raises(ValueError, match="only 2 GPU"):
        D.gpus_to_use(3)
    with pytest.raises(ValueError, match="GPUS must be >= 1"):
        D.gpus_to_use(0)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert D.gpus_to_use(None) == 4 and D.gpus_to_use(2) == 4 and D.get_rank() == 1
    assert not D.is_main_process()
