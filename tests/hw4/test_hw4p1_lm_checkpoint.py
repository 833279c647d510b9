"""The exported LM file: round trip, and clear errors for another vocabulary or a foreign file."""
import pytest
import torch

from common.lm.checkpoint import LMCheckpointError, load_lm_state, save_lm
from common.vocab import HW4_CHARS, Vocab

from .nbcode import notebook_models

CONFIG = {"kind": "transformer", "d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32, "dropout": 0.0,
          "max_len": 64, "tokenization": "char"}


def _model():
    torch.manual_seed(0)
    return notebook_models().TransformerLM(len(HW4_CHARS), 16, 2, 1, 32, 0.0, 64)


def test_round_trip_restores_the_same_model(tmp_path):
    model = _model()
    path = save_lm(tmp_path / "lm.pt", model, HW4_CHARS, CONFIG)
    lm = load_lm_state(path, vocab=HW4_CHARS)
    assert lm["kind"] == "transformer" and lm["config"]["d_model"] == 16 and "kind" not in lm["config"]
    assert lm["vocab"] == HW4_CHARS
    other = _model()
    torch.nn.init.zeros_(other.token_embedding.weight)
    other.load_state_dict(lm["state_dict"])
    x = torch.randint(0, len(HW4_CHARS), (2, 9))
    torch.testing.assert_close(other.eval()(x)[0], model.eval()(x)[0])
    assert not list(tmp_path.glob(".*tmp"))                                 # atomic: no temporaries left


def test_another_vocabulary_is_a_clear_error(tmp_path):
    path = save_lm(tmp_path / "lm.pt", _model(), HW4_CHARS, CONFIG)
    words = Vocab(["<eos>", "<unk>", *"abcdefghijklmnopqrstuvwxyzAB"], kind="words", eos=0, unk=1, name="words")
    with pytest.raises(LMCheckpointError, match=r"lm\.pt was trained with another vocabulary.*31 tokens.*30 tokens"):
        load_lm_state(path, vocab=words)
    with pytest.raises(ValueError, match="31 token embeddings but the vocabulary 30 tokens"):
        save_lm(tmp_path / "bad.pt", _model(), words, CONFIG)


def test_missing_foreign_and_incomplete(tmp_path):
    with pytest.raises(LMCheckpointError, match="no language model at .*run hw4_transformer/hw4p1.ipynb"):
        load_lm_state(tmp_path / "lm.pt")
    torch.save({"model": {}, "epoch": 3}, tmp_path / "last.pt")
    with pytest.raises(LMCheckpointError, match="not an LM file"):
        load_lm_state(tmp_path / "last.pt")
    (tmp_path / "junk.pt").write_text("not a zip")
    with pytest.raises(LMCheckpointError, match="not a readable LM file"):
        load_lm_state(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="needs \\['d_model'"):
        save_lm(tmp_path / "x.pt", _model(), HW4_CHARS, {"kind": "transformer"})
    with pytest.raises(ValueError, match="kind must be one of"):
        save_lm(tmp_path / "x.pt", torch.nn.Linear(2, 2), HW4_CHARS, {})
