"""NGramLM's sparse store against its dense store and against a brute-force recursion over counts."""
import math
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from common.lm import NGramLM
from common.lm import ngram as ngram_module
from common.speech.decoding import ctc_beam_search


def reference_model(corpus, V, order, smoothing):
    """p(w | history) by the textbook recursion over dictionaries of counts (no arrays, no tables)."""
    S = V                                                        # start (in contexts) and end (outcome)
    top = Counter()
    for seq in corpus:
        padded = [S] * (order - 1) + list(seq) + [S]
        for i in range(len(padded) - order + 1):
            top[tuple(padded[i:i + order])] += 1
    counts = {order: top}                                        # m -> {m-gram: count}
    for m in range(order - 1, 0, -1):
        lower = Counter()
        for gram, c in counts[m + 1].items():
            lower[gram[1:]] += 1 if smoothing == "kneser_ney" else c
        counts[m] = lower
    followers = {m: defaultdict(dict) for m in counts}           # m -> context -> {word: count}
    for m, grams in counts.items():
        for gram, c in grams.items():
            followers[m][gram[:-1]][gram[-1]] = c
    discount = {}
    for m, grams in counts.items():
        n1 = sum(c == 1 for c in grams.values())
        n2 = sum(c == 2 for c in grams.values())
        discount[m] = min(max(n1 / (n1 + 2 * n2) if n1 else 0.5, 0.05), 0.95)

    def prob(history, w, m=order):
        if m == 0:
            return 1 / (V + 1)
        context = tuple(history[len(history) - (m - 1):]) if m > 1 else ()
        seen = followers[m].get(context)
        if seen is None:                                          # unseen context: the shorter one
            return prob(history, w, m - 1)
        total, distinct, c = sum(seen.values()), len(seen), seen.get(w, 0)
        if smoothing == "kneser_ney":
            d = discount[m]
            return max(c - d, 0) / total + d * distinct / total * prob(history, w, m - 1)
        return (c + distinct * prob(history, w, m - 1)) / (total + distinct)

    def next_probs(history):                                      # history without padding
        padded = ([S] * (order - 1) + list(history))[-(order - 1):] if order > 1 else []
        return [prob(padded, w) for w in range(V + 1)]

    return next_probs


def corpus_for(seed, V, sentences=25):
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, V + 1)                             # Zipfian, so contexts repeat
    return [rng.choice(V, size=rng.integers(0, 9), p=weights / weights.sum()).tolist() for _ in range(sentences)]


def histories_for(seed, corpus, V, rows=16, steps=6):
    """Row histories: half follow training sentences (seen contexts), half are random (unseen)."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for r in range(rows):
        source = corpus[rng.integers(len(corpus))] if r % 2 else rng.integers(0, V, size=steps).tolist()
        out.append(list(source[:rng.integers(0, steps + 1)]))
    return out


def scored(lm, histories):
    """(rows, V + 1) next-symbol log probs of each history, through initial/advance/select."""
    width = max(len(h) for h in histories)
    state = lm.initial(len(histories))
    for t in range(width):
        tokens = torch.tensor([h[t] if t < len(h) else -1 for h in histories])
        state = lm.advance(state, tokens)
    state = lm.select(state, torch.arange(len(histories)))
    return torch.cat([lm.log_probs(state), lm.final(state)[:, None]], 1)


@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell"])
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_equals_dense_equals_brute_force(seed, order, smoothing):
    V = 3 + seed * 2
    corpus = corpus_for(seed, V)
    dense = NGramLM.train(corpus, V, order=order, smoothing=smoothing, store="dense")
    sparse = NGramLM.train(corpus, V, order=order, smoothing=smoothing, store="sparse")
    assert (dense.store, sparse.store, sparse.table) == ("dense", "sparse", None)
    histories = histories_for(seed, corpus, V)
    reference = reference_model(corpus, V, order, smoothing)
    expected = np.log([reference(h) for h in histories])
    got_dense, got_sparse = scored(dense, histories).numpy(), scored(sparse, histories).numpy()
    assert got_sparse.dtype == np.float64
    np.testing.assert_allclose(got_sparse, got_dense, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_sparse, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.logaddexp.reduce(got_sparse, axis=1), 0.0, atol=1e-12)
    # whole sequences: the same numbers as the step-by-step scorer and as each other
    for seq in corpus[:5] + [histories[0], histories[1]]:
        stepwise = sum(math.log(reference(seq[:t])[w]) for t, w in enumerate(seq + [V]))
        assert abs(sparse.sequence_log_prob(seq) - stepwise) < 1e-9
        assert abs(dense.sequence_log_prob(seq) - stepwise) < 1e-9
    assert abs(sparse.perplexity(corpus + histories) - dense.perplexity(corpus + histories)) < 1e-9


@pytest.mark.parametrize("smoothing", ["kneser_ney", "witten_bell"])
def test_sparse_sums_to_one_for_every_seen_context(smoothing):
    V, order = 6, 4
    corpus = corpus_for(7, V, sentences=60)
    lm = NGramLM.train(corpus, V, order=order, smoothing=smoothing, store="sparse")
    base = V + 1
    for m, keys in enumerate(lm.context_keys):                  # contexts of length m, as padded histories
        digits = np.stack([(keys // base ** (m - 1 - j)) % base for j in range(m)], 1) if m else keys[:, None][:, :0]
        context = np.concatenate([np.full((len(keys), order - 1 - m), V), digits], 1)
        state = lm._state(torch.as_tensor(context, dtype=torch.long))
        total = torch.cat([lm.log_probs(state), lm.final(state)[:, None]], 1).logsumexp(1)
        np.testing.assert_allclose(total.numpy(), 0.0, atol=1e-12)


def test_store_choice_by_table_size(monkeypatch):
    corpus = corpus_for(3, 5)
    assert NGramLM.train(corpus, 5, order=3).store == "dense"     # small vocabularies stay one gather
    monkeypatch.setattr(ngram_module, "DENSE_MAX_BYTES", 1000)
    assert NGramLM.train(corpus, 5, order=3).store == "sparse"
    with pytest.raises(ValueError, match="store"):
        NGramLM.train(corpus, 5, store="compressed")
    with pytest.raises(ValueError, match="no sequences"):
        NGramLM.train([], 5)


def test_large_vocabulary_sparse_distribution():
    """A word-level vocabulary: the sparse model trains without a dense table and normalises."""
    V = 30_000
    rng = np.random.default_rng(0)
    weights = 1 / np.arange(1, V + 1)
    corpus = [rng.choice(V, size=20, p=weights / weights.sum()).tolist() for _ in range(300)]
    lm = NGramLM.train(corpus, V, order=3)
    assert lm.store == "sparse"                                  # dense: ~4k contexts x 30k > 256 MB
    p = scored(lm, [corpus[0][:2], corpus[1][:5], [], [V - 1, V - 2]])
    np.testing.assert_allclose(p.logsumexp(1).numpy(), 0.0, atol=1e-12)
    step = sum(float(scored(lm, [corpus[2][:t]])[0, w]) for t, w in enumerate(corpus[2] + [V]))
    assert abs(lm.sequence_log_prob(corpus[2]) - step) < 1e-9


def test_fusion_decodes_the_same_with_either_store():
    V, order = 6, 3
    corpus = corpus_for(5, V - 1, sentences=80)
    corpus = [[t + 1 for t in s] for s in corpus]                 # class 0 is the CTC blank
    dense = NGramLM.train(corpus, V, order=order, store="dense")
    sparse = NGramLM.train(corpus, V, order=order, store="sparse")
    g = torch.Generator().manual_seed(0)
    log_probs = torch.randn(4, 30, V, generator=g).mul(2).log_softmax(-1)
    a = ctc_beam_search(log_probs, beam_width=8, lm=dense, lm_weight=0.7)
    b = ctc_beam_search(log_probs, beam_width=8, lm=sparse, lm_weight=0.7)
    assert [[seq for seq, _ in u] for u in a] == [[seq for seq, _ in u] for u in b]
    np.testing.assert_allclose([s for u in a for _, s in u], [s for u in b for _, s in u], atol=1e-9)


def test_save_load_both_stores_and_version_1(tmp_path):
    corpus = corpus_for(4, 7, sentences=50)
    for store in ("dense", "sparse"):
        lm = NGramLM.train(corpus, 7, order=4, smoothing="witten_bell", store=store)
        lm.save(tmp_path / f"{store}.pt")
        loaded = NGramLM.load(tmp_path / f"{store}.pt")
        assert (loaded.store, loaded.order, loaded.smoothing) == (store, 4, "witten_bell")
        histories = histories_for(4, corpus, 7)
        assert torch.equal(scored(loaded, histories), scored(lm, histories))
        assert loaded.perplexity(corpus) == lm.perplexity(corpus)
    # a version-1 file (PR before the sparse store): dense table and context keys only
    torch.save({"format": "idl-ngram", "version": 1, "vocab_size": 7, "order": 4, "smoothing": "witten_bell",
                "table": torch.from_numpy(lm.table if lm.table is not None else NGramLM.train(
                    corpus, 7, order=4, smoothing="witten_bell", store="dense").table),
                "context_keys": [torch.from_numpy(k) for k in lm.context_keys]}, tmp_path / "v1.pt")
    old = NGramLM.load(tmp_path / "v1.pt")
    assert old.store == "dense"
    np.testing.assert_allclose(scored(old, histories).numpy(), scored(lm, histories).numpy(), atol=1e-9)
    torch.save({"format": "idl-ngram", "version": 3}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="version 3"):
        NGramLM.load(tmp_path / "future.pt")


@pytest.mark.parametrize("store", ["dense", "sparse"])
def test_token_log_probs_are_the_asked_entries(store):
    V = 6
    corpus = corpus_for(8, V, sentences=40)
    lm = NGramLM.train(corpus, V, order=3, store=store)
    histories = histories_for(8, corpus, V)
    full = scored(lm, histories)
    state = lm.initial(len(histories))
    for t in range(max(len(h) for h in histories)):
        state = lm.advance(state, torch.tensor([h[t] if t < len(h) else -1 for h in histories]))
    tokens = torch.tensor(np.random.default_rng(0).integers(0, V + 1, size=len(histories)))   # V: the end
    np.testing.assert_allclose(lm.token_log_probs(state, tokens).numpy(),
                               full[torch.arange(len(histories)), tokens].numpy(), rtol=0, atol=1e-12)
    contexts = sum(len(k) for k in lm.context_keys)
    assert lm.nbytes >= (contexts * (V + 1) * 8 if store == "dense" else (V + 1) * 8)
