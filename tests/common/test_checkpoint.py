"""Checkpoints: exact resume, atomic writes, clear errors for bad files."""
import pytest
import torch
from torch import nn

from common.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from common.engine.schedule import warmup_cosine
from common.engine.options import Checkpointing, Validation
from common.engine.train import fit


def _problem(seed=0):
    g = torch.Generator().manual_seed(0)  # the same data in every run
    x = torch.randn(96, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    torch.manual_seed(seed)
    data = torch.utils.data.TensorDataset(x, y)
    # shuffling and dropout both draw from the global RNG: resume must restore it exactly
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    sched = warmup_cosine(opt, total_steps=4 * len(loader), warmup_steps=3)
    return model, opt, sched, loader


def _loss(model, batch, generator=None):
    x, y = batch
    if generator is not None:  # stands in for device-side augmentation drawn from a task generator
        x = x + 0.1 * torch.randn(x.shape, generator=generator)
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), {"acc": (logits.argmax(1) == y).sum(), "n": len(y)}


def test_two_plus_resume_two_equals_four(tmp_path):
    def run(epochs, ckpt, resume=False, seed=0):
        gen = torch.Generator().manual_seed(seed)
        return fit(model, opt, loader, lambda m, b: _loss(m, b, gen), epochs=epochs, device="cpu",
                   validation=Validation(loader, _loss, monitor="val_acc", mode="max"), scheduler=sched,
                   checkpoints=Checkpointing(ckpt, resume=resume, generators={"augment": gen}))

    model, opt, sched, loader = _problem()
    h4 = run(4, tmp_path / "a")
    reference = {k: v.clone() for k, v in model.state_dict().items()}

    model, opt, sched, loader = _problem()
    run(2, tmp_path / "b")
    torch.manual_seed(1234)  # a fresh process would not share the RNG state: scramble it
    model, opt, sched, loader = _problem(seed=99)  # different init, overwritten by the resume
    h = run(4, tmp_path / "b", resume=True, seed=7)  # generator state comes from the checkpoint
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, reference[k], rtol=0, atol=0)
    assert list(h["epoch"]) == [1, 2, 3, 4]
    assert h["train_loss"].tolist() == pytest.approx(h4["train_loss"].tolist(), abs=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(sched.get_last_lr()[0])


def test_best_checkpoint_tracks_monitored_value(tmp_path):
    model, opt, sched, loader = _problem()
    h = fit(model, opt, loader, _loss, epochs=3, device="cpu",
            validation=Validation(loader, monitor="val_loss", mode="min"), checkpoints=Checkpointing(tmp_path))
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["best_metric"] == pytest.approx(h["val_loss"].min())
    assert best["epoch"] + 1 == int(h["epoch"][h["val_loss"].idxmin()])


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    model = nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "last.pt", model=model, epoch=1)
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, model=model, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


def test_truncated_file_gives_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", model=nn.Linear(3, 2), epoch=0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="last.pt.*truncated"):
        load_checkpoint(path, nn.Linear(3, 2))


def test_foreign_and_missing_files_give_clear_errors(tmp_path):
    bare = tmp_path / "weights.pt"
    torch.save(nn.Linear(3, 2).state_dict(), bare)
    with pytest.raises(CheckpointError, match="not an IDL Notebooks checkpoint"):
        load_checkpoint(bare, nn.Linear(3, 2))
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.pt"):
        load_checkpoint(text, nn.Linear(3, 2))
    with pytest.raises(CheckpointError, match="RESUME=False"):
        load_checkpoint(tmp_path / "absent.pt", nn.Linear(3, 2))


def test_checkpoint_of_another_model_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model=nn.Linear(3, 2), epoch=0)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(path, nn.Linear(4, 2))


def test_missing_generator_state_is_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model=nn.Linear(3, 2), epoch=0)
    with pytest.raises(CheckpointError, match="no state for the generator 'augment'"):
        load_checkpoint(path, nn.Linear(3, 2), generators={"augment": torch.Generator()})


# --- configuration and vocabulary in the checkpoint (metadata) ---

META = {"model_args": {"hidden": 16, "layers": 2}, "vocab": ["<blank>", "a", "b", "c"]}


def _fit_with(metadata, ckpt, epochs=1, resume=False):
    model, opt, sched, loader = _problem()
    return fit(model, opt, loader, _loss, epochs=epochs, device="cpu", validation=Validation(loader),
               checkpoints=Checkpointing(ckpt, resume=resume, metadata=metadata))


def test_metadata_is_saved_and_a_same_size_vocabulary_in_another_order_is_refused(tmp_path):
    _fit_with(META, tmp_path)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["metadata"] == META
    shuffled = {**META, "vocab": ["<blank>", "b", "a", "c"]}      # same size: the weights would load silently
    with pytest.raises(CheckpointError, match=r"vocab differs first at index 1: checkpoint 'a', here 'b'"):
        _fit_with(shuffled, tmp_path, epochs=2, resume=True)
    with pytest.raises(CheckpointError, match=r"model_args.layers: checkpoint 2, here 3"):
        _fit_with({**META, "model_args": {"hidden": 16, "layers": 3}}, tmp_path, epochs=2, resume=True)
    model, *_ = _problem()
    with pytest.raises(CheckpointError, match="another configuration or vocabulary"):
        load_checkpoint(tmp_path / "best.pt", model, metadata=shuffled)
    h = _fit_with(META, tmp_path, epochs=2, resume=True)            # the same metadata resumes
    assert list(h["epoch"]) == [1, 2]


def test_rebuild_model_from_the_checkpoint_alone(tmp_path):
    import numpy as np

    from common.engine.checkpoint import rebuild_model

    def build(hidden, layers):
        return nn.Sequential(nn.Linear(6, hidden), *[nn.Linear(hidden, hidden) for _ in range(layers - 1)],
                             nn.Linear(hidden, 2))

    model = build(hidden=np.int64(8), layers=3)
    save_checkpoint(tmp_path / "m.pt", model=model, metadata={"model_args": {"hidden": np.int64(8), "layers": 3},
                                                               "vocab": ("x", "y")})
    rebuilt, state = rebuild_model(tmp_path / "m.pt", build)
    assert state["metadata"] == {"model_args": {"hidden": 8, "layers": 3}, "vocab": ["x", "y"]}
    for k, v in model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[k], v, rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="holds no model_args"):
        save_checkpoint(tmp_path / "bare.pt", model=model)
        rebuild_model(tmp_path / "bare.pt", build)
