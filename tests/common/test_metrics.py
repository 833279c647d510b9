import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from common.metrics import accuracy, cer, confusion_matrix, levenshtein, mean_levenshtein, per_class_accuracy, wer


def _edit_distance_reference(a, b):
    """Textbook full-table dynamic programming."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
        d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


@given(st.text(alphabet="abc-", max_size=12), st.text(alphabet="abc-", max_size=12))
def test_levenshtein_matches_reference(a, b):
    assert levenshtein(a, b) == _edit_distance_reference(a, b)


def test_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert mean_levenshtein(["abc", ""], ["abd", "xy"]) == pytest.approx(1.5)
    assert cer(["HELLO WORLD"], ["HELLO WORD"]) == pytest.approx(1 / 10)
    assert wer(["the cat sat"], ["the cat sat down"]) == pytest.approx(1 / 4)


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 6, 500), rng.integers(0, 6, 500)
    cm = confusion_matrix(p, t, 6)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(t, p, labels=range(6)))
    np.testing.assert_allclose(per_class_accuracy(cm), [np.mean(p[t == k] == k) for k in range(6)])
    assert accuracy(p, t) == pytest.approx(np.mean(p == t))
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([7], [0], 6)
