"""Data-parallel training on the CPU: 2 forked processes with the gloo backend (common.engine.distributed).

Relations tested (each could fail): 2 processes end with the weights of 1 process for the same global batch;
an interrupted 2-process run resumed equals the uninterrupted one bit for bit; a checkpoint
resumes across 1 <-> 2 processes; only rank 0 writes, prints and logs.
"""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common.engine import distributed as D
from common.engine.options import Checkpointing, Validation
from common.engine.train import fit
from common.speech.frames import FrameBatches, FrameStore

N, DIM, CLASSES = 96, 6, 3


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, DIM, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return x, y


def _store(x, y) -> FrameStore:
    """A context-0 frame store of the rows of x (windows (B, 1, D))."""
    return FrameStore(x.clone(), None if y is None else y.to(torch.uint8), torch.arange(len(x)), 0)


def _model(bn=False, dropout=0.0):
    with torch.random.fork_rng():          # the same initial weights; the ranks' own RNG streams go on
        torch.manual_seed(1)
        layers = [nn.Flatten(), nn.Linear(DIM, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.Tanh()]
        layers += [nn.Dropout(dropout)] if dropout else []
        return nn.Sequential(*layers, nn.Linear(16, CLASSES))


def _loss(model, batch):
    x, y = batch
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), {"acc": (logits.argmax(-1) == y).sum(), "n": y.numel()}


def _train(epochs, ckpt=None, resume=False, loader="frames", bn=False, dropout=0.0, batch=16):
    """One run (this process, or each rank of a launch); returns (state_dict, history)."""
    x, y = _data()
    model = _model(bn, dropout)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    order = torch.Generator().manual_seed(5)
    if loader == "frames":
        train = FrameBatches(_store(x, y), batch, shuffle=True, drop_last=True, generator=order)
    else:                                  # a plain DataLoader: fit splits each batch on arrival
        train = DataLoader(TensorDataset(x.unsqueeze(1), y), batch_size=batch, shuffle=True, generator=order)
    val = FrameBatches(_store(x[:30], y[:30]), 7)       # 5 batches, the last of 2 frames
    checkpoints = Checkpointing(ckpt, resume=resume, generators={"order": order}) if ckpt is not None else None
    hist = fit(model, opt, train, _loss, epochs=epochs, device="cpu", validation=Validation(val, monitor="val_loss"),
               checkpoints=checkpoints)
    return {k: v.clone() for k, v in model.state_dict().items()}, hist


def _assert_same(a, b, exact=False):
    assert a.keys() == b.keys()
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


# ------------------------------------------------------------------ training
@pytest.mark.parametrize("loader", ["frames", "dataloader"])
def test_two_processes_train_the_weights_of_one_with_the_same_global_batch(loader):
    one, hist1 = _train(3, loader=loader)
    two, hist2 = D.launch(_train, 2, 3, loader=loader)
    _assert_same(one, two)
    # the history is that of the whole data: sums over the ranks, validation included
    for col in ("train_loss", "train_acc", "val_loss", "val_acc"):
        np.testing.assert_allclose(hist2[col], hist1[col], rtol=1e-5, err_msg=col)
    assert torch.ne(one["1.weight"], _model().state_dict()["1.weight"]).any()       # it trained


def _every_rank(epochs, ckpt, epochs_before=None):
    """BatchNorm + dropout run (cut after ``epochs_before`` and resumed); every rank's state."""
    if epochs_before:
        _train(epochs_before, ckpt, bn=True, dropout=0.3)
    state, hist = _train(epochs, ckpt, resume=bool(epochs_before), bn=True, dropout=0.3)
    return D.gather_objects(state), hist


def test_interrupted_two_process_run_resumes_bit_exactly(tmp_path):
    full, hist_full = D.launch(_every_rank, 2, 4, tmp_path / "full")
    resumed, hist = D.launch(_every_rank, 2, 4, tmp_path / "cut", 2)
    _assert_same(full[0], resumed[0], exact=True)       # each rank's dropout stream is restored too
    for col in ("train_loss", "val_loss"):
        assert hist[col].tolist() == hist_full[col].tolist()
    _assert_same(full[0], full[1], exact=True)          # BatchNorm statistics: the ranks agree


def test_checkpoints_resume_across_one_and_two_processes(tmp_path):
    one, _ = _train(4)
    _train(2, tmp_path / "a")                                  # 1 process, then 2
    two_after_one, _ = D.launch(_train, 2, 4, tmp_path / "a", True)
    D.launch(_train, 2, 2, tmp_path / "b")                     # 2 processes, then 1
    one_after_two, hist = _train(4, tmp_path / "b", resume=True)
    _assert_same(one, two_after_one)
    _assert_same(one, one_after_two)
    assert hist["epoch"].tolist() == [1, 2, 3, 4]


def _count_writes(ckpt):
    import common.engine.train as train_module

    saves, logs = [], []
    original = train_module.save_checkpoint
    train_module.save_checkpoint = lambda path, **kw: saves.append(path) or original(path, **kw)

    class Logger:
        def log(self, row, step):
            logs.append(step)

    x, y = _data()
    model = _model()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), FrameBatches(_store(x, y), 16), _loss, epochs=2,
        device="cpu", checkpoints=Checkpointing(ckpt), validation=Validation(monitor="train_loss"), logger=Logger())
    return D.gather_objects((len(saves), len(logs)))


def test_only_rank_zero_writes_checkpoints_and_logs(tmp_path, capfd):
    counts = D.launch(_count_writes, 2, tmp_path)
    assert counts[0][0] >= 3 and counts[0][1] == 2 and counts[1] == (0, 0)   # last.pt (+ best.pt) per epoch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]
    out = capfd.readouterr().out
    assert out.count("epoch 2 | ") == 1                        # one printed row per epoch, not one per rank


def test_an_epoch_iterates_its_loader_once_so_a_resumable_sampler_skips_nothing():
    # tqdm.auto calls iter() on what it wraps: a DataLoader with workers then prefetched batches from
    # the sampler for an iterator that was dropped, and the epoch began after them (6 of 10 batches)
    from common.engine.train import train_epoch
    from common.speech.batching import BucketBatchSampler

    sampler = BucketBatchSampler([10] * 40, max_frames=40, seed=0)          # 10 batches of 4
    loader = DataLoader(TensorDataset(torch.arange(40.0)), batch_sampler=sampler, num_workers=2)
    seen = []
    model = nn.Linear(1, 1)

    def loss(model, batch):
        seen.extend(batch[0].long().tolist())
        return model(batch[0][:, None]).mean(), {"n": len(batch[0])}

    train_epoch(model, loader, loss, torch.optim.SGD(model.parameters(), lr=0.0), device="cpu")
    assert sorted(seen) == list(range(40))
