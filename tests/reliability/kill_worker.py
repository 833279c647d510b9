"""A tiny training run for the kill test, started in forked children of a forkserver.

The forkserver imports torch once; each child trains (or resumes) in the same folder and is
killed with SIGKILL by the test. ``slow_save`` makes the child stop halfway through writing a
checkpoint (the temporary file holds half the bytes) so that a kill lands mid-write for sure.
"""
import os
import threading
import time

import numpy as np
import torch
import torch._dynamo  # noqa: F401  (imported lazily by the first optimizer: preloaded by the forkserver instead)
from torch import nn
from tqdm.auto import tqdm

from common.engine.options import Checkpointing, Validation
from common.engine.train import fit

EPOCHS = 30


class EpochSampler:
    """A seeded shuffling batch sampler with the ``stateful`` interface of fit (set_epoch, state_dict)."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, progress: str | None = None):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0
        self.progress = progress

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.progress is not None:          # tells the test that training runs (not part of the state)
            with open(self.progress, "a") as f:
                f.write(f"{epoch} {time.monotonic()}\n")

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        return iter([order[i:i + self.batch_size].tolist() for i in range(0, self.n, self.batch_size)])

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = state["seed"], state["epoch"]


def _slow_save(marker: str, target: str):
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        import io
        if not os.path.basename(os.readlink(f"/proc/self/fd/{f.fileno()}")).startswith(f".{target}."):
            return real_save(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        data = buf.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        with open(marker, "w"):               # tell the test: half of the file is on disk now
            pass
        time.sleep(30)                         # killed here
        f.write(data[len(data) // 2:])

    return save


def train(ckpt_dir: str, resume: bool, out: str | None = None, slow_save_marker: str | None = None,
          slow_save_target: str = "last.pt", log: str | None = None, progress: str | None = None) -> None:
    if log is not None:                        # the child's prints and bars go to a file, not the test's output
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    torch.set_num_threads(1)
    tqdm.set_lock(threading.RLock())           # not tqdm's multiprocessing lock: a killed child would leak it
    if slow_save_marker:
        torch.save = _slow_save(slow_save_marker, slow_save_target)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 32, generator=g)
    y = (x[:, :4].sum(1) > 0).long()
    torch.manual_seed(0)
    # about 1.1M parameters: 13 MB per checkpoint with AdamW's two moments, as in the issue
    model = nn.Sequential(nn.Linear(32, 1024), nn.GELU(), nn.Dropout(0.2), nn.Linear(1024, 1024), nn.GELU(),
                          nn.Linear(1024, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    sampler = EpochSampler(len(x), 16, progress=progress)
    train_batches = _Batches(x, y, sampler)
    augment = torch.Generator().manual_seed(1)

    def loss_fn(m, batch):
        xb, yb = batch
        xb = xb + 0.05 * torch.randn(xb.shape, generator=augment)
        logits = m(xb)
        return nn.functional.cross_entropy(logits, yb), {"n": len(yb)}

    fit(model, opt, train_batches, loss_fn, epochs=EPOCHS, device="cpu",
        validation=Validation([(x[:32], y[:32])], monitor="val_loss"),
        checkpoints=Checkpointing(ckpt_dir, resume=resume, generators={"augment": augment}),
        stateful={"sampler": sampler})
    if out is not None:
        torch.save(model.state_dict(), out)
    os._exit(0)        # skip interpreter teardown in the forked child


class _Batches:
    def __init__(self, x, y, sampler):
        self.x, self.y, self.sampler = x, y, sampler

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        for idx in self.sampler:
            yield self.x[idx], self.y[idx]
