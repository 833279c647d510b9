import itertools
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from common.metrics import (
    EditCounts,
    accuracy,
    alignment,
    cer,
    confusion_matrix,
    edit_counts,
    error_breakdown,
    levenshtein,
    levenshtein_distances,
    mean_levenshtein,
    per_class_accuracy,
    unpad,
    wer,
)


def _edit_distance_reference(a, b):
    """Textbook full-table dynamic programming."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
        d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


def _edit_distance_numpy(a, b):
    """The project's former NumPy implementation: row by row, vectorised over ``b`` except for
    the insertion chain (a running minimum of cur[j] - j)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    b_arr = np.asarray(list(b), dtype=object)
    prev = np.arange(len(b) + 1)
    for i, ca in enumerate(a, start=1):
        sub = prev[:-1] + (b_arr != ca)            # substitution or match
        cur = np.empty_like(prev)
        cur[0] = i
        cur[1:] = np.minimum(sub, prev[1:] + 1)     # deletion
        cur = np.minimum.accumulate(cur - np.arange(len(cur))) + np.arange(len(cur))
        prev = cur
    return int(prev[-1])



@given(st.text(alphabet="abc-", max_size=12), st.text(alphabet="abc-", max_size=12))
def test_levenshtein_matches_both_references_on_strings(a, b):
    assert levenshtein(a, b) == _edit_distance_reference(a, b) == _edit_distance_numpy(a, b)


@given(st.lists(st.integers(0, 4), max_size=12), st.lists(st.integers(0, 4), max_size=12))
def test_levenshtein_matches_reference_on_token_ids(a, b):
    assert levenshtein(a, b) == _edit_distance_numpy(a, b)
    assert levenshtein(torch.tensor(a, dtype=torch.long), np.array(b, dtype=np.int64)) == _edit_distance_numpy(a, b)


@given(st.lists(st.integers(0, 4), max_size=10), st.lists(st.integers(0, 4), max_size=10))
def test_alignment_rebuilds_both_sequences_at_minimum_cost(hyp, ref):
    steps = list(alignment(hyp, ref))
    assert [r for _, r, _ in steps if r is not None] == ref
    assert [h for _, _, h in steps if h is not None] == hyp
    assert all((op == "equal") == (r == h) for op, r, h in steps if op in ("equal", "substitute"))
    assert sum(op != "equal" for op, _, _ in steps) == _edit_distance_reference(hyp, ref)
    c = edit_counts([hyp], [ref])
    assert (c.substitutions, c.insertions, c.deletions) == tuple(
        sum(op == k for op, _, _ in steps) for k in ("substitute", "insert", "delete"))
    assert c.errors == levenshtein(hyp, ref)
    assert c.hits + c.substitutions + c.deletions == len(ref)
    assert c.hits + c.substitutions + c.insertions == len(hyp)


@given(st.lists(st.tuples(st.lists(st.integers(0, 3), max_size=8), st.lists(st.integers(0, 3), max_size=8)),
                min_size=1, max_size=6))
def test_breakdown_counters_add_up_to_the_batch_distance(pairs):
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    b = error_breakdown(hyps, refs)
    total = sum(_edit_distance_reference(h, r) for h, r in pairs)
    assert b.counts.errors == total == int(levenshtein_distances(hyps, refs).sum())
    assert sum(b.substitutions.values()) == b.counts.substitutions
    assert b.reference == Counter(s for r in refs for s in r)
    expected = Counter()
    for h, r in pairs:
        expected.update((r_, h_) for op, r_, h_ in alignment(h, r) if op == "substitute")
    assert b.substitutions == expected
    assert edit_counts(hyps, refs) == b.counts


def test_padded_tensors_with_lengths_equal_lists():
    rng = np.random.default_rng(0)
    hyps = [rng.integers(0, 5, rng.integers(0, 9)).tolist() for _ in range(7)]
    refs = [rng.integers(0, 5, rng.integers(1, 9)).tolist() for _ in range(7)]

    def pad(seqs):
        out = torch.full((len(seqs), 9), 99, dtype=torch.long)     # 99: padding that must be cut off
        for i, s in enumerate(seqs):
            out[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        return out, torch.tensor([len(s) for s in seqs])

    (hp, hl), (rp, rl) = pad(hyps), pad(refs)
    assert unpad(hp, hl) == hyps
    expected = [_edit_distance_numpy(h, r) for h, r in zip(hyps, refs)]
    np.testing.assert_array_equal(levenshtein_distances(hp, rp, hl, rl), expected)
    assert mean_levenshtein(hp, rp, hl, rl) == pytest.approx(np.mean(expected))
    assert edit_counts(hp, rp, hl, rl) == edit_counts(hyps, refs)
    with pytest.raises(ValueError, match="7 predictions but 6 targets"):
        levenshtein_distances(hyps, refs[:6])
    with pytest.raises(ValueError, match="7 sequences but 2 lengths"):
        unpad(hp, hl[:2])


def test_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert mean_levenshtein(["abc", ""], ["abd", "xy"]) == pytest.approx(1.5)
    assert cer(["HELLO WORLD"], ["HELLO WORD"]) == pytest.approx(1 / 10)
    assert wer(["the cat sat"], ["the cat sat down"]) == pytest.approx(1 / 4)
    assert wer(["a b", "c"], ["a x", "c d e"]) == pytest.approx(3 / 5)   # pooled, not averaged per utterance
    assert np.isnan(cer([""], [""]))


def test_breakdown_names_the_phonemes():
    tokens = ["", "AA", "B", "D", "IY", "S"]                 # id -> phoneme, like vocab.tokens
    ref = [[1, 2, 4], [5, 1]]                                # AA B IY | S AA
    hyp = [[1, 3, 4, 5], [1]]                                # AA D IY S (B -> D, + S) | AA (- S)
    b = error_breakdown(hyp, ref, symbols=tokens)
    assert b.counts == EditCounts(substitutions=1, insertions=1, deletions=1, reference_length=5)
    assert b.substitutions == Counter({("B", "D"): 1})
    assert b.insertions == Counter({"S": 1}) and b.deletions == Counter({"S": 1})
    assert b.most_common("substitutions") == [(("B", "D"), 1)]
    table = b.per_symbol()
    assert table.loc["B", "substituted"] == 1 and table.loc["B", "most_often_as"] == "D"
    assert table.loc["S", "deleted"] == 1 and table.loc["S", "inserted"] == 1
    assert table.loc["S", "error_rate"] == pytest.approx(1.0) and table.loc["AA", "error_rate"] == 0
    assert list(table.index[:2]) == ["S", "B"]               # worst first: S has 2 errors, B 1
    assert b.counts.as_dict("dev_")["dev_error_rate"] == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="kind must be"):
        b.most_common("swaps")


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 6, 500), rng.integers(0, 6, 500)
    cm = confusion_matrix(p, t, 6)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(t, p, labels=range(6)))
    np.testing.assert_allclose(per_class_accuracy(cm), [np.mean(p[t == k] == k) for k in range(6)])
    assert accuracy(p, t) == pytest.approx(np.mean(p == t))
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([7], [0], 6)


def test_docstring_examples_run():
    import doctest

    import common.metrics.sequence as sequence
    result = doctest.testmod(sequence)
    assert result.attempted >= 2 and result.failed == 0


def test_attention_diagonality_is_the_mass_within_the_band_around_the_line():
    """Against a loop over every cell of random maps; a map stuck on the first frame scores low."""
    from common.metrics import attention_diagonality

    rng = np.random.default_rng(0)
    for out_len, in_len in [(7, 30), (12, 12), (5, 3)]:
        w = rng.random((out_len + 2, in_len + 4))            # padded beyond the lengths
        w[:out_len, :in_len] /= w[:out_len, :in_len].sum(1, keepdims=True)
        band = max(1.0, 0.1 * in_len)
        mass = near_cells = 0.0
        for i in range(out_len):
            for t in range(in_len):
                near = abs(t + 0.5 - (i + 0.5) * in_len / out_len) <= band
                mass += w[i, t] * near
                near_cells += near
        got, chance = attention_diagonality(w, in_len, out_len)
        assert got == pytest.approx(mass / out_len, rel=1e-6)
        assert chance == pytest.approx(near_cells / (out_len * in_len), rel=1e-6)
    stuck = np.zeros((20, 50))
    stuck[:, 0] = 1.0
    score, chance = attention_diagonality(stuck)
    assert score < chance                                       # below a uniform attention
