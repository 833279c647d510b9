"""The notebook's models (cells tagged ``model``) and batched generation."""
import re

import pytest
import torch

from common.text import filter_logits, generate, sample_next

from .nbcode import notebook_models

nb = notebook_models()
V = 37


def _transformer(seed=0, **kw):
    torch.manual_seed(seed)
    return nb.TransformerLM(V, **{"d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64, "dropout": 0.1,
                                  "max_len": 128, **kw}).eval()


def _lstm(seed=0):
    torch.manual_seed(seed)
    return nb.LSTMLanguageModel(V, 16, 24, 3).eval()


def _step(model, cached: bool):
    """As the notebook's step_fn: the whole prefix first, then only the newest token."""
    def step(tokens, state):
        if not cached:
            return model(tokens)[0][:, -1], None
        new = tokens if state is None else tokens[:, -1:]
        if state is None and isinstance(model, nb.TransformerLM):
            state = model.new_cache()
        logits, state = model(new, state)
        return logits[:, -1], state
    return step


def test_lstm_output_layer_shares_the_embedding_storage():
    model = _lstm()
    assert model.output.weight is model.embedding.weight
    assert model.output.weight.data_ptr() == model.embedding.embedding.weight.data_ptr()
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.startswith("output.weight") for n in names)          # counted once
    assert "rnns.0.weight_hh_l0_raw" in names and "rnns.2.weight_hh_l0_raw" in names
    assert model.rnns[-1].module.hidden_size == 16                         # last layer: embedding width


def test_transformer_parameter_names_follow_the_contract():
    keys = set(_transformer().state_dict())
    pattern = re.compile(r"token_embedding\.weight|final_norm\.(weight|bias)|layers\.\d+\.("
                         r"self_attn_norm|ff_norm)\.(weight|bias)|layers\.\d+\.self_attn\.(qkv|out)\.(weight|bias)"
                         r"|layers\.\d+\.ff\.[03]\.(weight|bias)")
    assert all(pattern.fullmatch(k) for k in keys), sorted(k for k in keys if not pattern.fullmatch(k))
    assert "positions" not in keys                                         # non-persistent buffer
    assert {"layers.1.self_attn.qkv.weight", "layers.1.ff.3.weight"} <= keys
    assert _transformer().state_dict()["layers.0.self_attn.qkv.weight"].shape == (96, 32)


def test_transformer_is_causal():
    model = _transformer()
    x = torch.randint(0, V, (2, 20))
    y = x.clone()
    y[:, 12:] = torch.randint(0, V, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0][:, :12], model(y)[0][:, :12])
        assert not torch.allclose(model(x)[0][:, 12:], model(y)[0][:, 12:])


@pytest.mark.parametrize("make", [_transformer, _lstm])
def test_cached_generation_equals_uncached(make):
    model = make()
    prefix = torch.randint(0, V, (3, 7))
    for temperature in (0.0, 1.0):
        outs = []
        for cached in (False, True):
            gen = torch.Generator().manual_seed(4)
            outs.append(generate(_step(model, cached), prefix, 30, temperature=temperature, generator=gen))
        assert outs[0].shape == (3, 30)
        assert torch.equal(outs[0], outs[1])


def test_cache_logits_match_a_full_forward():
    model = _transformer()
    x = torch.randint(0, V, (2, 15))
    with torch.no_grad():
        full = model(x)[0]
        cache = model.new_cache()
        first, cache = model(x[:, :9], cache)               # a prefix, then one token at a time
        steps = [first] + [model(x[:, t:t + 1], cache)[0] for t in range(9, 15)]
        torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
        cache2 = model.new_cache()
        model(x[:, :5], cache2)
        torch.testing.assert_close(model(x[:, 5:], cache2)[0], full[:, 5:], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="max_len=128"):
        model(torch.zeros(1, 129, dtype=torch.long))


def test_temperature_zero_is_greedy_and_filters_keep_the_right_tokens():
    torch.manual_seed(0)
    logits = torch.randn(50, V)
    assert torch.equal(sample_next(logits, 0.0), logits.argmax(-1))
    # top-k 1 or a tiny nucleus leave only the argmax, whatever the temperature
    assert torch.equal(sample_next(logits, 5.0, top_k=1), logits.argmax(-1))
    assert torch.equal(sample_next(logits, 5.0, top_p=1e-6), logits.argmax(-1))
    kept = torch.isfinite(filter_logits(logits, top_k=5))
    assert (kept.sum(-1) == 5).all()
    probs = logits.softmax(-1)
    nucleus = torch.isfinite(filter_logits(logits, top_p=0.5))
    mass = (probs * nucleus).sum(-1)
    smallest = probs.masked_fill(~nucleus, 2).min(-1).values
    assert (mass >= 0.5).all() and (mass - smallest < 0.5).all()           # the smallest such set
    model = _transformer()
    prefix = torch.randint(0, V, (4, 5))
    greedy = generate(_step(model, True), prefix, 12, temperature=0.0)
    by_hand = prefix
    with torch.no_grad():
        for _ in range(12):
            by_hand = torch.cat([by_hand, model(by_hand)[0][:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(greedy, by_hand[:, 5:])


def test_sampling_follows_the_temperature():
    logits = torch.tensor([[2.0, 1.0, 0.0]]).expand(20000, 3)
    gen = torch.Generator().manual_seed(0)
    for temperature in (0.5, 1.0, 2.0):
        draws = sample_next(logits, temperature, generator=gen)
        freq = torch.bincount(draws, minlength=3).float() / len(draws)
        torch.testing.assert_close(freq, (logits[0] / temperature).softmax(-1), atol=0.015, rtol=0)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, -1.0)
