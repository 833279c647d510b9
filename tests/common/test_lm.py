"""NGramLM and NeuralLM against hand computations, normalisation and their own file round trip."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.lm import NeuralLM, NGramLM, TokenScorer

# toy corpus over tokens {0, 1}; bigram events (S: start, E: end):
#   S0 01 1E | S0 01 11 1E | S1 1E   ->  c(S,0)=2 c(S,1)=1 c(0,1)=2 c(1,1)=1 c(1,E)=3
TOY = [[0, 1], [0, 1, 1], [1]]


def next_probs(lm, history):
    """P(next | history) over tokens 0..V-1 and the end (last entry), by the TokenScorer calls."""
    state = lm.initial(1)
    for token in history:
        state = lm.advance(state, torch.tensor([token]))
    return torch.cat([lm.log_probs(state)[0], lm.final(state)]).exp().tolist()


def test_kneser_ney_bigram_by_hand():
    lm = NGramLM.train(TOY, vocab_size=2, order=2)
    # top order: n1 = 2 (S1, 11), n2 = 2 (S0, 01): D = 2 / (2 + 2 * 2) = 1/3
    # unigram continuation counts N1+(. w): 0 <- {S}: 1, 1 <- {S, 0, 1}: 3, E <- {1}: 1 (total 5);
    # n1 = 2, n2 = 0 -> D = 1, clamped to 0.95; the rest goes to the uniform 1/3
    d1 = 0.95
    uni = [max(c - d1, 0) / 5 + d1 * 3 / 5 / 3 for c in (1, 3, 1)]
    np.testing.assert_allclose(uni, [0.2, 0.6, 0.2], atol=1e-12)
    d = 1 / 3
    # context 1: c(1,1) = 1, c(1,E) = 3; total 4, 2 distinct followers
    after_1 = [0 + d * 2 / 4 * uni[0], (1 - d) / 4 + d * 2 / 4 * uni[1], (3 - d) / 4 + d * 2 / 4 * uni[2]]
    np.testing.assert_allclose(next_probs(lm, [1]), after_1, atol=1e-12)
    np.testing.assert_allclose(after_1, [1 / 30, 4 / 15, 0.7], atol=1e-12)
    # sentence start: c(S,0) = 2, c(S,1) = 1; total 3, 2 distinct
    start = [(2 - d) / 3 + d * 2 / 3 * uni[0], (1 - d) / 3 + d * 2 / 3 * uni[1], d * 2 / 3 * uni[2]]
    np.testing.assert_allclose(next_probs(lm, []), start, atol=1e-12)
    # an unseen history backs off entirely: context 0 followed only by 1 -> its own row; the
    # sequence probability is the product of the conditionals
    expected = math.log(start[0]) + math.log(next_probs(lm, [0])[1]) + math.log(after_1[2])
    assert abs(lm.sequence_log_prob([0, 1]) - expected) < 1e-12


def test_witten_bell_bigram_by_hand():
    lm = NGramLM.train(TOY, vocab_size=2, order=2, smoothing="witten_bell")
    # unigram raw counts of outcomes: 0: 2, 1: 4, E: 3 (total 9, 3 distinct), uniform 1/3
    uni = [(c + 3 / 3) / (9 + 3) for c in (2, 4, 3)]
    # context 1: 1 -> 1 once, 1 -> E three times; 2 distinct
    after_1 = [(0 + 2 * uni[0]) / 6, (1 + 2 * uni[1]) / 6, (3 + 2 * uni[2]) / 6]
    np.testing.assert_allclose(next_probs(lm, [1]), after_1, atol=1e-12)
    assert abs(after_1[2] - 11 / 18) < 1e-12


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), V=st.integers(2, 6), order=st.integers(1, 4),
       smoothing=st.sampled_from(["kneser_ney", "witten_bell"]))
def test_ngram_distribution_sums_to_one_for_random_histories(seed, V, order, smoothing):
    rng = np.random.default_rng(seed)
    corpus = [rng.integers(0, V, size=rng.integers(0, 8)).tolist() for _ in range(15)]
    lm = NGramLM.train(corpus, vocab_size=V, order=order, smoothing=smoothing)
    assert isinstance(lm, TokenScorer)
    rows = 12
    state = lm.initial(rows)
    for _ in range(6):
        total = torch.cat([lm.log_probs(state), lm.final(state)[:, None]], 1).logsumexp(1)
        np.testing.assert_allclose(total.numpy(), 0.0, atol=1e-12)
        tokens = torch.tensor(rng.integers(-1, V, size=rows))        # -1: that row does not grow
        state = lm.advance(state, tokens)


def test_ngram_advance_select_and_negative_tokens():
    lm = NGramLM.train([[0, 1, 2], [2, 1, 0], [1, 1]], vocab_size=3, order=3)
    state = lm.advance(lm.initial(3), torch.tensor([0, 1, 2]))
    state = lm.advance(state, torch.tensor([1, -1, 1]))
    for row, history in enumerate([[0, 1], [1], [2, 1]]):
        np.testing.assert_allclose(torch.cat([lm.log_probs(state)[row], lm.final(state)[row:row + 1]]).exp(),
                                   next_probs(lm, history), atol=1e-12)
    picked = lm.select(state, torch.tensor([2, 2, 0]))
    assert torch.equal(lm.log_probs(picked), lm.log_probs(state)[[2, 2, 0]])


def test_ngram_sees_its_corpus_and_perplexity():
    corpus = [[0, 1, 2, 3]] * 10
    lm = NGramLM.train(corpus, vocab_size=5, order=3)
    # every conditional of the training sentence is large; an unseen order of the same tokens is not
    assert lm.perplexity(corpus) < 1.6
    assert lm.perplexity([[3, 2, 1, 0]]) > 3
    expected = math.exp(-sum(lm.sequence_log_prob(s) for s in corpus) / 50)
    assert abs(lm.perplexity(corpus) - expected) < 1e-9


def test_ngram_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    corpus = [rng.integers(0, 7, size=rng.integers(1, 10)).tolist() for _ in range(50)]
    lm = NGramLM.train(corpus, vocab_size=7, order=4, smoothing="witten_bell")
    lm.save(tmp_path / "lm.pt")
    loaded = NGramLM.load(tmp_path / "lm.pt")
    assert (loaded.vocab_size, loaded.order, loaded.smoothing) == (7, 4, "witten_bell")
    assert all(abs(loaded.sequence_log_prob(s) - lm.sequence_log_prob(s)) == 0 for s in corpus[:10])
    assert [p.name for p in tmp_path.iterdir()] == ["lm.pt"]            # no temporary left behind
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt"):
        NGramLM.load(tmp_path / "other.pt")


def test_ngram_errors():
    with pytest.raises(ValueError, match=r"sequence 1 .*\[0, 5\]"):
        NGramLM.train([[0], [0, 5]], vocab_size=5)
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM.train([[0]], vocab_size=5, smoothing="laplace")


class BagLM(torch.nn.Module):
    def __init__(self, V):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.emb = torch.nn.Parameter(torch.randn(V, 6, generator=g))
        self.out = torch.nn.Parameter(torch.randn(6, V, generator=g))

    def forward(self, tokens):                                  # (N, t) -> (N, t, V), causal
        return torch.tanh(self.emb[tokens].cumsum(1)) @ self.out


def test_neural_lm_follows_each_rows_history():
    model = BagLM(6)
    lm = NeuralLM(model, sos=5, eos=4)
    assert lm.vocab_size == 6
    state = lm.initial(3)
    histories = [[5], [5], [5]]
    for tokens in ([1, -1, 2], [-1, -1, 3], [0, 2, 1]):
        state = lm.advance(state, torch.tensor(tokens))
        for row, tok in enumerate(tokens):
            if tok >= 0:
                histories[row].append(tok)
    for row, history in enumerate(histories):
        expected = torch.log_softmax(model(torch.tensor([history]))[0, -1].detach(), -1)
        torch.testing.assert_close(lm.log_probs(state)[row], expected)
        assert float(lm.final(state)[row]) == float(lm.log_probs(state)[row, 4])
    picked = lm.select(state, torch.tensor([1, 1]))
    torch.testing.assert_close(lm.log_probs(picked), lm.log_probs(state)[[1, 1]])


def test_docstring_examples_of_the_decoding_package():
    import doctest

    from common.lm import neural, ngram
    from common.speech.decoding import ctc, ctc_prefix, seq2seq
    for module in (ctc, ctc_prefix, neural, ngram, seq2seq):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


class CachedAttentionLM(torch.nn.Module):
    """One causal self-attention layer with a key/value cache in the course's convention:
    ``forward(tokens, cache=None)``, cache ``{"offset", "layers": [{"k", "v"}]}`` updated in place;
    ``returns_cache`` makes it HW4P1-shaped (``(logits, cache)`` and ``new_cache()``)."""

    def __init__(self, V, seed=0, d=8, classes=None):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.nn.Parameter(torch.randn(V, d, generator=g, dtype=torch.float64))
        self.pos = torch.nn.Parameter(torch.randn(64, d, generator=g, dtype=torch.float64))
        self.qkv = torch.nn.Parameter(torch.randn(d, 3 * d, generator=g, dtype=torch.float64) / d ** 0.5)
        self.out = torch.nn.Parameter(torch.randn(d, classes or V, generator=g, dtype=torch.float64))
        self.layers = torch.nn.ModuleList([torch.nn.Identity()])

    def forward(self, tokens, cache=None):
        start = 0 if cache is None else cache["offset"]
        x = self.emb[tokens] + self.pos[start:start + tokens.shape[1]]
        q, k, v = (x @ self.qkv).chunk(3, -1)
        if cache is not None:
            layer = cache["layers"][0]
            if "k" in layer:
                k, v = torch.cat([layer["k"], k], 1), torch.cat([layer["v"], v], 1)
            layer["k"], layer["v"] = k, v
            cache["offset"] = start + tokens.shape[1]
        T, S = q.shape[1], k.shape[1]
        att = (q @ k.transpose(1, 2)).masked_fill(~torch.ones(T, S, dtype=torch.bool).tril(S - T), -math.inf)
        return torch.tanh(att.softmax(-1) @ v + x) @ self.out


class HW4P1ShapedLM(CachedAttentionLM):
    def new_cache(self):
        return {"offset": 0, "layers": [{}]}

    def forward(self, tokens, cache=None):
        return super().forward(tokens, cache), cache


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), hw4p1=st.booleans())
def test_neural_lm_cached_equals_uncached_and_the_full_history(seed, hw4p1):
    # rows of different history lengths, tokens < 0 (no growth) and reselected rows, as in CTC beam search
    V, sos, eos = 6, 5, 4
    model = (HW4P1ShapedLM if hw4p1 else CachedAttentionLM)(V, seed)
    cached, plain = NeuralLM(model, sos=sos, eos=eos), NeuralLM(model, sos=sos, eos=eos, cached=False)
    assert cached.step is not None and plain.step is None and cached.vocab_size == V
    rng = np.random.default_rng(seed)
    rows = 4
    histories = [[sos] for _ in range(rows)]
    states = [cached.initial(rows), plain.initial(rows)]
    for _ in range(6):
        index = torch.tensor(rng.integers(0, rows, size=rows))
        tokens = torch.tensor(rng.integers(-1, V - 1, size=rows))
        states = [lm.advance(lm.select(s, index), tokens) for lm, s in zip((cached, plain), states)]
        histories = [list(histories[i]) + ([int(t)] if t >= 0 else []) for i, t in zip(index.tolist(), tokens)]
        expected = torch.stack([torch.log_softmax(model(torch.tensor([h]))[0][0, -1] if hw4p1 else
                                                  model(torch.tensor([h]))[0, -1], -1) for h in histories]).detach()
        torch.testing.assert_close(cached.log_probs(states[0]), expected)
        torch.testing.assert_close(plain.log_probs(states[1]), expected)
        torch.testing.assert_close(cached.final(states[0]), expected[:, eos])


def test_neural_lm_cached_requires_a_cache():
    with pytest.raises(ValueError, match="takes no cache argument"):
        NeuralLM(BagLM(6), sos=5, eos=4, cached=True)
