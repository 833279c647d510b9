"""benchmarks/hw2_preset.py: its preset contender is make demo's HW2_DEMO, and the plain baseline's shapes."""
import sys

import torch

from common.notebook.execute import REPO_ROOT
from common.notebook.run_notebooks import HW2_DEMO

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import hw2_preset  # noqa: E402


def test_preset_contender_is_make_demos_preset():
    # the comparison in benchmarks/RESULTS.md is of HW2_DEMO: a changed preset must be measured again
    assert hw2_preset.CONTENDERS["adamw-preset"] == {k: v for k, v in HW2_DEMO.items() if k != "EPOCHS"}
    recipe = hw2_preset.CONTENDERS["recipe"]
    assert "OPTIMIZER" not in recipe and "WEIGHT_DECAY" not in recipe and "ERASE_P" not in recipe
    assert recipe["LR"] == 0.1 * recipe["BATCH_SIZE"] / 256


def test_baseline_embeds_and_classifies():
    model = hw2_preset.build_baseline(10)
    x = torch.randn(4, 3, 64, 64)
    emb = model(x)
    assert emb.shape == (4, 128)
    assert model.classifier(emb).shape == (4, 10)
