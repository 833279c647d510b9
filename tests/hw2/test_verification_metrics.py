"""Verification metrics against hand-made score sets with known values and brute-force references."""
import numpy as np
import pytest
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from common.metrics import auc, best_accuracy, eer, roc, tpr_at_fpr, verification_metrics  # noqa: F401

# 4 same-person pairs and 4 different-person pairs, one negative (0.6) above one positive (0.4):
# at any threshold in (0.4, 0.6] one positive is rejected and one negative accepted -> EER 1/4;
# 15 of the 16 (positive, negative) pairs are ordered correctly -> AUC 15/16.
POS = [0.9, 0.8, 0.7, 0.4]
NEG = [0.6, 0.3, 0.2, 0.1]
SCORES = np.array(POS + NEG)
LABELS = np.array([1] * 4 + [0] * 4)


def test_known_values():
    m = verification_metrics(SCORES, LABELS, fprs=(0.0, 0.05, 0.25))
    assert m["eer"] == pytest.approx(0.25)
    assert 0.4 < m["eer_threshold"] <= 0.7
    assert m["auc"] == pytest.approx(15 / 16)
    assert m["accuracy"] == pytest.approx(7 / 8)
    assert m["threshold"] in (0.7, 0.4)
    assert m["tpr@fpr=0"] == pytest.approx(0.75)
    assert m["tpr@fpr=0.05"] == pytest.approx(0.75)
    assert m["tpr@fpr=0.25"] == pytest.approx(1.0)


@pytest.mark.parametrize("scores, labels, expected_eer, expected_auc", [
    ([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], 0.0, 1.0),        # separable
    ([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], 1.0, 0.0),        # exactly wrong
    ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 0.5, 0.5),        # no information (all tied)
    ([0.9, 0.5, 0.7, 0.1], [1, 1, 0, 0], 0.5, 0.75),       # crossing at a ROC corner
])
def test_edge_cases(scores, labels, expected_eer, expected_auc):
    assert eer(scores, labels)[0] == pytest.approx(expected_eer)
    assert auc(scores, labels) == pytest.approx(expected_auc)


def test_eer_interpolates_between_roc_points():
    # sorted: 0.9 P, 0.7 N, 0.5 P, 0.4 P, 0.1 N -> ROC (0,0) (0,1/3) (1/2,1/3) (1/2,2/3) (1/2,1) (1,1):
    # FNR falls from 2/3 to 0 on the vertical segment at FPR 1/2, so they meet at 1/2
    assert eer([0.9, 0.5, 0.4, 0.7, 0.1], [1, 1, 1, 0, 0])[0] == pytest.approx(0.5)
    # a tie between a positive and a negative at 0.5 makes a diagonal segment from
    # (FPR, TPR) = (0, 1/2) to (1/2, 1); FPR = FNR = 1/4 halfway along it, at no ROC point
    rate, threshold = eer([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    assert rate == pytest.approx(0.25)
    assert 0.5 <= threshold <= 0.9


def _starter_eer(scores, labels):
    """The course starter's formula: the root of 1 - x - TPR(x) on the interpolated ROC."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)


def _brute(scores, labels):
    """AUC by counting ordered pairs; accuracy and TPR@FPR by trying every threshold."""
    s, y = np.asarray(scores), np.asarray(labels)
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    auc_ = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    accs, points = [], []
    for t in np.concatenate([[np.inf], np.unique(s)]):
        pred = s >= t
        accs.append((pred == (y == 1)).mean())
        points.append(((pred & (y == 0)).sum() / len(neg), (pred & (y == 1)).sum() / len(pos)))
    return auc_, max(accs), points


@pytest.mark.parametrize("seed", range(5))
def test_against_references_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    y[:2] = [0, 1]
    s = rng.normal(size=300) + 1.2 * y
    m = verification_metrics(s, y, fprs=(0.01, 0.1, 0.3))
    assert m["eer"] == pytest.approx(_starter_eer(s, y), abs=1e-6)
    auc_, acc, points = _brute(s, y)
    assert m["auc"] == pytest.approx(auc_)
    assert m["accuracy"] == pytest.approx(acc)
    for target in (0.01, 0.1, 0.3):
        assert m[f"tpr@fpr={target:g}"] == pytest.approx(max(t for f, t in points if f <= target))
    # relations: a better separation gives a lower EER and a higher AUC
    m2 = verification_metrics(s + 2 * y, y)
    assert m2["eer"] < m["eer"] and m2["auc"] > m["auc"]


def test_roc_keeps_every_threshold():
    fpr, tpr, thr = roc(SCORES, LABELS)
    assert len(thr) == len(np.unique(SCORES)) + 1 and np.isinf(thr[0])
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


@pytest.mark.parametrize("scores, labels, match", [
    ([0.1, 0.2], [1, 1], "both"),
    ([0.1, np.nan], [1, 0], "NaN"),
    ([0.1, 0.2, 0.3], [1, 0], "labels"),
    ([0.1, 0.2], [1, 2], "0 .different"),
])
def test_bad_input(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        verification_metrics(scores, labels)
