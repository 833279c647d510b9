"""hw4_transformer/mytorch_attention.ipynb end to end in FAST mode (400 training steps)."""
import pytest

from common.notebook.execute import REPO_ROOT, run_notebook

NOTEBOOK = REPO_ROOT / "hw4_transformer" / "mytorch_attention.ipynb"


@pytest.mark.notebook
def test_attention_notebook_fast(tmp_path):
    metrics = run_notebook(NOTEBOOK, tmp_path, {"FAST": True})
    # the tiny mytorch transformer learned to reverse: far above the 10% chance per token
    assert metrics["chance"] == pytest.approx(0.1)
    assert metrics["token_accuracy"] > 0.6
    # with the padding mask, new padding digits leave the real positions' logits unchanged
    # (masked weights are exactly 0); without it they change them, and accuracy collapses
    assert metrics["padding_invariance_max_diff"] < 1e-12
    assert metrics["no_padding_mask_diff"] > 1e-3
    assert metrics["no_padding_mask_accuracy"] < metrics["token_accuracy"] - 0.2
    # a causal mask hides the targets that lie in the future
    assert metrics["causal_mask_accuracy"] < metrics["token_accuracy"] - 0.2
    for plot in ("positional_encoding", "mask_effects_random", "learning_curves",
                 "attention_maps", "trained_mask_effects"):
        assert (tmp_path / f"{plot}.png").stat().st_size > 10_000
