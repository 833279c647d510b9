"""ArcFace and batch-hard triplet loss against loop-over-the-batch references, gradients included."""
import math

import pytest
import torch
import torch.nn.functional as F

from common.faces.losses import ArcFace, arcface_logits, batch_hard_triplet_loss, pairwise_distances


def arcface_reference(emb, weight, labels, s, m, easy_margin):
    """Element by element: angle theta = acos(cos); the true class gets cos(theta + m) when
    that is still a penalty (theta + m <= pi; easy margin: theta <= pi/2), else the fallback."""
    rows = []
    for i in range(emb.shape[0]):
        e = emb[i] / emb[i].norm()
        row = []
        for j in range(weight.shape[0]):
            w = weight[j] / weight[j].norm()
            c = (e * w).sum()
            if j == int(labels[i]):
                theta = torch.acos(c.clamp(-1 + 1e-7, 1 - 1e-7))
                if easy_margin:
                    c = torch.cos(theta + m) if c > 0 else c
                else:
                    c = torch.cos(theta + m) if theta.item() + m < math.pi else c - m * math.sin(m)
            row.append(s * c)
        rows.append(torch.stack(row))
    return torch.stack(rows)


@pytest.mark.parametrize("easy_margin", [False, True])
@pytest.mark.parametrize("m", [0.5, 0.2])
def test_arcface_matches_reference_with_gradients(easy_margin, m):
    g = torch.Generator().manual_seed(0)
    b, d, c, s = 6, 8, 5, 16.0
    weight = torch.randn(c, d, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    emb = torch.randn(b, d, generator=g, dtype=torch.float64)
    # two samples pointing almost opposite their class centre: theta + m > pi (fallback branch),
    # one close to its centre
    emb[0] = -weight[0] + 0.01 * torch.randn(d, generator=g, dtype=torch.float64)
    emb[3] = -weight[3] + 0.01 * torch.randn(d, generator=g, dtype=torch.float64)
    emb[5] = weight[0] + 0.3 * torch.randn(d, generator=g, dtype=torch.float64)
    e1, w1 = emb.clone().requires_grad_(), weight.clone().requires_grad_()
    e2, w2 = emb.clone().requires_grad_(), weight.clone().requires_grad_()
    ours = arcface_logits(e1, w1, labels, s, m, easy_margin)
    ref = arcface_reference(e2, w2, labels, s, m, easy_margin)
    # arcface_logits computes in float32: compare at float32 precision
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-4)
    F.cross_entropy(ours, labels).backward()
    F.cross_entropy(ref.float(), labels).backward()
    torch.testing.assert_close(e1.grad, e2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(w1.grad, w2.grad, rtol=1e-4, atol=1e-5)


def test_arcface_relations():
    g = torch.Generator().manual_seed(1)
    head = ArcFace(8, 10, s=10.0, m=0.4)
    emb = torch.randn(32, 8, generator=g)
    labels = torch.randint(0, 10, (32,), generator=g)
    plain = head(emb)                                   # no labels: scaled cosines
    cos = F.normalize(emb) @ F.normalize(head.weight).T
    torch.testing.assert_close(plain, 10.0 * cos)
    margin = head(emb, labels)
    other = torch.ones_like(margin, dtype=torch.bool).scatter(1, labels[:, None], False)
    assert torch.equal(margin[other], plain[other])           # only the true class changes
    tgt = margin.gather(1, labels[:, None])
    assert (tgt < plain.gather(1, labels[:, None])).all()     # and it is always penalised
    # m = 0 is plain normalised softmax (NormFace)
    torch.testing.assert_close(arcface_logits(emb, head.weight, labels, 10.0, 0.0), plain)


def test_arcface_is_float32_under_autocast():
    head = ArcFace(8, 4)
    emb = torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(emb.bfloat16(), torch.tensor([0, 1, 2, 3]))
    assert out.dtype == torch.float32


def triplet_reference(emb, labels, margin, normalize, soft):
    x = F.normalize(emb, dim=1) if normalize else emb
    losses = []
    for a in range(len(labels)):
        pos = [(x[a] - x[p]).norm() for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        neg = [(x[a] - x[n]).norm() for n in range(len(labels)) if labels[n] != labels[a]]
        if not pos or not neg:
            continue
        gap = torch.stack(pos).max() - torch.stack(neg).min()
        losses.append(F.softplus(gap) if soft else torch.relu(gap + margin))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("normalize, soft, margin", [(True, False, 0.3), (False, False, 1.0),
                                                     (True, True, 0.0)])
def test_triplet_matches_reference_with_gradients(normalize, soft, margin):
    g = torch.Generator().manual_seed(2)
    # identity 3 appears once: that anchor has no positive and is skipped
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3])
    emb = torch.randn(len(labels), 6, generator=g, dtype=torch.float64)
    e1, e2 = emb.clone().requires_grad_(), emb.clone().requires_grad_()
    ours, stats = batch_hard_triplet_loss(e1, labels, margin, normalize, soft, return_stats=True)
    ref = triplet_reference(e2, labels, margin, normalize, soft)
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-6)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(e1.grad, e2.grad, rtol=1e-4, atol=1e-6)
    assert int(stats["valid"]) == 8
    assert 0 < int(stats["active"]) <= 8


def test_triplet_zero_when_separated_and_no_nan_without_positives():
    # identities far apart and tight: every hardest positive is closer than every negative
    centres = torch.eye(4) * 10
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    emb = centres[labels] + 0.01 * torch.randn(8, 4, generator=torch.Generator().manual_seed(3))
    assert batch_hard_triplet_loss(emb, labels, margin=0.3).item() == 0.0
    # all labels different: no positives anywhere -> loss 0, gradient 0 (not NaN)
    e = torch.randn(5, 4, requires_grad=True)
    loss = batch_hard_triplet_loss(e, torch.arange(5))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(e.grad, torch.zeros_like(e))
    # duplicated embeddings (distance 0) keep gradients finite
    e = torch.ones(4, 3, requires_grad=True)
    batch_hard_triplet_loss(e, torch.tensor([0, 0, 1, 1]), normalize=False).backward()
    assert torch.isfinite(e.grad).all()


def test_pairwise_distances_match_cdist():
    x = torch.randn(7, 5, dtype=torch.float64)
    torch.testing.assert_close(pairwise_distances(x), torch.cdist(x, x), atol=1e-6, rtol=0)
