"""Small common pieces: AMP policy, parameter counts, plots carry the data, wandb stays off."""
import json
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from common.engine.device import amp_dtype, autocast, count_parameters, make_grad_scaler, maybe_compile  # noqa: E402
from common.engine.tracking import init_wandb  # noqa: E402
from common.metrics import error_breakdown  # noqa: E402
from common.notebook.execute import load_metrics, save_metrics  # noqa: E402
from common.plots import (  # noqa: E402
    plot_confusion_matrix,
    plot_error_breakdown,
    plot_history,
    plot_spectrogram_with_labels,
    save_figure,
)


def test_amp_policy(monkeypatch):
    assert amp_dtype("cpu") is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype("cuda") == torch.bfloat16
    assert amp_dtype("cuda", enabled=False) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype("cuda") == torch.float16
    # a scaler only for fp16; bf16 and fp32 need none
    assert not make_grad_scaler("cpu", None).is_enabled()
    assert not make_grad_scaler("cpu", torch.bfloat16).is_enabled()


def test_autocast_none_keeps_fp32_and_bf16_casts_matmuls():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", None):
        assert (a @ b).dtype == torch.float32
    with autocast("cpu", torch.bfloat16):
        assert (a @ b).dtype == torch.bfloat16


def test_count_parameters_and_limit_message(capsys):
    model = nn.Sequential(nn.Linear(10, 5), nn.Linear(5, 2))
    model[1].weight.requires_grad_(False)
    assert count_parameters(model, limit=60) == 10 * 5 + 5 + 2
    assert "limit 60: OK" in capsys.readouterr().out
    assert count_parameters(model, limit=57) == 57                       # exactly at the limit is allowed
    with pytest.raises(ValueError, match=r"57 trainable parameters, over the course limit of 20 by 37: shrink it"):
        count_parameters(model, limit=20, hint="shrink it")
    assert "OVER THE LIMIT" in capsys.readouterr().out
    if not torch.cuda.is_available():  # compiling only pays off (and only happens) on a GPU
        assert maybe_compile(model, enabled=True) is model


def test_plot_history_draws_the_history_values():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "val_loss": [3.2, 2.5, 2.4],
                      "train_acc": [0.2, 0.4, 0.5], "lr": [1e-3, 5e-4, 1e-4]})
    fig = plot_history(h)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "acc", "lr"]
    loss_lines = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].lines}
    assert loss_lines == {"train": [3.0, 2.0, 1.5], "val": [3.2, 2.5, 2.4]}
    with pytest.raises(ValueError, match="no column for 'cer'"):
        plot_history(h, ["cer"])


def test_confusion_matrix_plot_is_row_normalised():
    cm = np.array([[8, 2], [1, 3]])
    fig = plot_confusion_matrix(cm, ["a", "b"])
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[0.8, 0.2], [0.25, 0.75]])


def test_error_breakdown_plot_draws_the_most_frequent_errors(tmp_path):
    refs = [["AA", "B", "C", "D"], ["AA", "B", "E"], ["B", "C"]]
    hyps = [["AA", "P", "C"], ["AA", "P", "E", "Z"], ["P", "C", "Z"]]     # B->P x3, -D, +Z x2
    fig = plot_error_breakdown(error_breakdown(hyps, refs), k=5)
    bars = {ax.get_title().split()[0]: {t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches)}
            for ax in fig.axes}
    assert bars == {"substitutions": {"B \u2192 P": 3}, "deletions": {"D": 1}, "insertions": {"Z": 2}}
    assert fig.axes[0].get_title() == "substitutions (3 in all)"
    path = save_figure(fig, tmp_path / "new", "errors")
    assert path == tmp_path / "new" / "errors.png" and path.read_bytes()[:4] == b"\x89PNG"
    assert save_figure(fig, tmp_path, "errors.png") == tmp_path / "errors.png"


def test_spectrogram_tracks_must_match_frames():
    with pytest.raises(ValueError, match="3 labels for 4 frames"):
        plot_spectrogram_with_labels(np.zeros((4, 2)), {"true": ["a", "b", "c"]})


def test_wandb_off_by_default_imports_nothing():
    sys.modules.pop("wandb", None)
    assert init_wandb(False) is None
    assert "wandb" not in sys.modules


def test_metrics_json_merges_and_converts(tmp_path):
    save_metrics(tmp_path, acc=np.float32(0.5), n=3)
    save_metrics(tmp_path, eer=torch.tensor(0.25))
    assert load_metrics(tmp_path) == {"acc": 0.5, "n": 3, "eer": 0.25}
    assert json.loads((tmp_path / "metrics.json").read_text())["eer"] == 0.25
    with pytest.raises(FileNotFoundError, match="save_metrics"):
        load_metrics(tmp_path / "nothing")
