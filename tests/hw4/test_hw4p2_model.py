"""HW4P2's transformer: masks and positions (common.speech.transformer) against hand-made cases,
and the model written in hw4p2.ipynb (its cells tagged ``model``, run by ``notebook_namespace``):
a padded batch equals each utterance alone, cached decoding equals uncached, beam width 1 equals
greedy, and the decoder loads HW4P1's language model."""
import math

import pytest
import torch
import torch.nn.functional as F

from common.notebook.cells import notebook_namespace
from common.notebook.execute import REPO_ROOT
from common.speech.transformer import (
    attention_mask,
    causal_mask,
    conv_output_lengths,
    manual_attention,
    sinusoidal_positions,
)

NOTEBOOK = REPO_ROOT / "hw4_transformer" / "hw4p2.ipynb"
V, SOS, EOS, BLANK = 31, 0, 0, 1
SMALL = dict(d_model=32, n_heads=4, enc_layers=2, dec_layers=2, d_ff=64, dropout=0.0, channels=4, conv_kernel=5,
             max_frames=256, max_len=128, lstm_layers=0)         # the BiLSTM embedding: its own test below


@pytest.fixture(scope="module")
def nb():
    return notebook_namespace(NOTEBOOK, ("model",))


def make_model(nb, seed=0, eos_bias=0.0, **overrides):
    """A random model in eval mode; ``eos_bias`` lowers the eos logit (through the final norm's bias
    along the eos embedding), so that random rows run for a while and end at different steps."""
    torch.manual_seed(seed)
    model = nb["SpeechTransformer"](V, **{**SMALL, **overrides}).eval()
    with torch.no_grad():
        e = model.decoder.token_embedding.weight[EOS]
        model.decoder.final_norm.bias -= eos_bias * e / e.dot(e)
    return model


def batch(seed=1, lengths=(61, 40, 23, 9)):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()), 80, generator=g)
    x[torch.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
    return x, lengths


# ---------------------------------------------------------------- positions and masks
def test_sinusoidal_positions_follow_the_formula():
    pe = sinusoidal_positions(50, 16)
    for p in (0, 1, 7, 49):
        for i in range(8):
            angle = p / 10000 ** (2 * i / 16)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 7)


def test_causal_mask_hand_made():
    assert causal_mask(3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    # 2 new queries after 2 cached keys: query 0 is position 2, query 1 position 3
    assert causal_mask(2, 4).int().tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert causal_mask(1, 5).all()
    with pytest.raises(ValueError):
        causal_mask(3, 2)


def test_attention_mask_hand_made():
    m = attention_mask(torch.tensor([3, 1]), 4)
    assert m.shape == (2, 1, 1, 4)
    assert m[:, 0, 0].int().tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    both = attention_mask(torch.tensor([3, 1]), 3, 3, causal=True)
    assert both.shape == (2, 1, 3, 3)
    assert both[0, 0].int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert both[1, 0].int().tolist() == [[1, 0, 0], [1, 0, 0], [1, 0, 0]]
    assert attention_mask(None, 4) is None
    assert attention_mask(None, 3, 2, causal=True)[0, 0].int().tolist() == [[1, 1, 0], [1, 1, 1]]


def test_manual_attention_equals_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g, dtype=torch.float64) for _ in range(3))
    mask = attention_mask(torch.tensor([5, 2]), 5, 5)
    for kwargs in ({}, {"attn_mask": mask}, {"is_causal": True}):
        ref = F.scaled_dot_product_attention(q, k, v, **kwargs)
        assert torch.allclose(manual_attention(q, k, v, **kwargs), ref, atol=1e-12)
    out, w = manual_attention(q, k, v, attn_mask=mask, return_weights=True)
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64))
    assert (w[1, :, :, 2:] == 0).all()                       # padding keys get no weight


def test_conv_output_lengths_match_the_convolutions():
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, stride=2), torch.nn.Conv2d(1, 1, 3, stride=2))
    for n in (7, 8, 9, 10, 80, 101, 312):
        out = conv(torch.zeros(1, 1, n, 80))
        assert conv_output_lengths(torch.tensor([n])).item() == out.shape[2]
    assert conv_output_lengths(torch.tensor(80)).item() == 19


# ---------------------------------------------------------------- the notebook's model
def test_parameter_count_of_the_defaults_is_within_the_limit(nb):
    for vocab_size in (V, 1000):                             # the F24 characters, TOKENIZATION="subword"
        model = nb["SpeechTransformer"](vocab_size)          # the notebook's real-data defaults
        n = sum(p.numel() for p in model.parameters())
        assert 20_000_000 < n <= 30_000_000, (vocab_size, n)
    assert len(model.encoder.lstm.lstms) == 2                # the BiLSTM embedding is part of the defaults


@pytest.mark.parametrize("overrides", [{}, {"lstm_layers": 2, "lstm_hidden": 16},
                                       {"lstm_layers": 2, "lstm_hidden": 16, "packed": False}],
                         ids=["transformer", "bilstm-packed", "bilstm-padded"])
def test_padded_batch_gives_each_utterance_alone(nb, overrides):
    model = make_model(nb, **overrides)
    x, lengths = batch()
    g = torch.Generator().manual_seed(2)
    tokens = torch.randint(3, V, (len(lengths), 12), generator=g)
    logits, ctc, enc_lengths = model(x, lengths, tokens)
    assert enc_lengths.tolist() == conv_output_lengths(lengths).tolist()
    for b, n in enumerate(lengths.tolist()):
        alone, ctc_alone, _ = model(x[b:b + 1, :n], lengths[b:b + 1], tokens[b:b + 1])
        assert torch.allclose(alone[0], logits[b], atol=1e-5)
        assert torch.allclose(ctc_alone[0], ctc[b, :enc_lengths[b]], atol=1e-5)


def test_decoder_is_causal(nb):
    model = make_model(nb)
    x, lengths = batch()
    tokens = torch.randint(3, V, (len(lengths), 10))
    changed = tokens.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % V
    a, _, _ = model(x, lengths, tokens)
    b, _, _ = model(x, lengths, changed)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6) and not torch.allclose(a[:, 6:], b[:, 6:])


def test_cached_greedy_gives_exactly_the_tokens_of_uncached(nb):
    model = make_model(nb, eos_bias=4.0)
    x, lengths = batch()
    cached = nb["greedy_decode"](model, x, lengths, SOS, EOS, 40, cached=True)
    uncached = nb["greedy_decode"](model, x, lengths, SOS, EOS, 40, cached=False)
    assert cached == uncached
    assert max(map(len, cached)) >= 10                       # a real test: long rows, not instant eos


def test_beam_width_one_equals_greedy(nb):
    model = make_model(nb, eos_bias=4.0)
    x, lengths = batch()
    greedy = nb["greedy_decode"](model, x, lengths, SOS, EOS, 30)
    assert nb["beam_decode"](model, x, lengths, SOS, EOS, BLANK, 30, beam_width=1) == greedy


def test_cached_beam_search_with_ctc_equals_uncached(nb):
    model = make_model(nb, eos_bias=3.0)
    x, lengths = batch()
    kwargs = dict(beam_width=4, length_penalty=0.5, ctc_weight=0.3)
    cached = nb["beam_decode"](model, x, lengths, SOS, EOS, BLANK, 25, **kwargs)
    uncached = nb["beam_decode"](model, x, lengths, SOS, EOS, BLANK, 25, cached=False, **kwargs)
    assert cached == uncached
    single = [nb["beam_decode"](model, x[b:b + 1, :n], lengths[b:b + 1], SOS, EOS, BLANK, 25, **kwargs)[0]
              for b, n in enumerate(lengths.tolist())]
    assert single == cached                                  # batched beams = each utterance alone


def test_language_model_parameter_names_follow_the_contract(nb):
    lm = nb["Decoder"](V, 32, 4, 2, 64, cross_attention=False)
    names = set(lm.state_dict())
    expected = {"token_embedding.weight", "final_norm.weight", "final_norm.bias"}
    for i in range(2):
        for p in ("self_attn_norm", "self_attn.qkv", "self_attn.out", "ff_norm", "ff.0", "ff.3"):
            expected |= {f"layers.{i}.{p}.weight", f"layers.{i}.{p}.bias"}
    assert names == expected
    decoder = nb["Decoder"](V, 32, 4, 2, 64)
    missing, unexpected = decoder.load_state_dict(lm.state_dict(), strict=False)
    assert not unexpected and missing and all(".cross_attn" in k for k in missing)


def test_decoder_reproduces_the_hw4p1_transformer(nb):
    """Same weights, same logits: HW4P1's TransformerLM and this notebook's decoder without cross-attention."""
    if not (REPO_ROOT / "hw4_transformer" / "hw4p1.ipynb").exists():
        pytest.skip("hw4p1.ipynb not written yet")
    from tests.hw4.nbcode import notebook_models
    torch.manual_seed(0)
    theirs = notebook_models().TransformerLM(V, d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.0,
                                             max_len=64).eval()
    ours = nb["Decoder"](V, 32, 4, 2, 64, dropout=0.0, max_len=64, cross_attention=False).eval()
    ours.load_state_dict(theirs.state_dict())                # strict: every name and shape agrees
    tokens = torch.randint(0, V, (3, 20))
    out = theirs(tokens)
    out = out[0] if isinstance(out, tuple) else out
    assert torch.allclose(ours(tokens), out, atol=1e-5)
