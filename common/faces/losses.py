"""Face recognition losses: the ArcFace head and batch-hard triplet loss.

Cross-entropy with label smoothing is torch's own (``F.cross_entropy(..., label_smoothing=)``);
ArcFace produces logits for that same cross-entropy.

Both compute in float32 with autocast switched off: the margin acts on cosines close to 1,
where bf16 (8 bits of mantissa) cannot tell cos = 0.996 from 1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ArcFace", "arcface_logits", "batch_hard_triplet_loss", "pairwise_distances"]


def arcface_logits(embeddings: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor | None,
                   s: float = 30.0, m: float = 0.5, easy_margin: bool = False) -> torch.Tensor:
    """ArcFace logits (Deng et al. 2019): ``s * cos(theta_y + m)`` for the true class y,
    ``s * cos(theta_j)`` for the others, theta the angle between embedding and class centre.

    ``cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m)``. Past ``theta = pi - m`` the
    function turns back up (no longer a penalty), so the usual fix applies: with
    ``easy_margin`` the margin is used only where ``cos(theta) > 0``; otherwise, where
    ``cos(theta) <= cos(pi - m)``, the logit is ``cos(theta) - m sin(m)`` (CosFace-like, and
    continuous at the switch). ``labels=None``: plain scaled cosines (inference).

    embeddings (B, D), weight (C, D), labels (B,) -> logits (B, C) float32.
    """
    with torch.autocast(embeddings.device.type, enabled=False):
        cos = F.linear(F.normalize(embeddings.float(), dim=1), F.normalize(weight.float(), dim=1))
        if labels is None:
            return s * cos
        cos_y = cos.gather(1, labels.view(-1, 1)).clamp(-1 + 1e-7, 1 - 1e-7)      # (B, 1)
        sin_y = torch.sqrt(1.0 - cos_y * cos_y)
        phi = cos_y * math.cos(m) - sin_y * math.sin(m)                          # cos(theta + m)
        if easy_margin:
            phi = torch.where(cos_y > 0, phi, cos_y)
        else:
            phi = torch.where(cos_y > math.cos(math.pi - m), phi, cos_y - math.sin(math.pi - m) * m)
        logits = cos.scatter(1, labels.view(-1, 1), phi)
        return s * logits


class ArcFace(nn.Module):
    """ArcFace classification head: one learnable centre per identity on the unit sphere.

    ``forward(embeddings, labels)`` returns logits for ``F.cross_entropy``; without labels
    it returns ``s * cos`` (whose argmax is the predicted identity).
    """

    def __init__(self, embedding_dim: int, num_classes: int, s: float = 30.0, m: float = 0.5,
                 easy_margin: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)
        self.s, self.m, self.easy_margin = s, m, easy_margin

    def forward(self, embeddings, labels=None):
        return arcface_logits(embeddings, self.weight, labels, self.s, self.m, self.easy_margin)

    def extra_repr(self) -> str:
        c, d = self.weight.shape
        return f"{d} -> {c}, s={self.s}, m={self.m}, easy_margin={self.easy_margin}"


def pairwise_distances(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances between the rows of ``x`` (B, D) -> (B, B).

    ``sqrt(|a|^2 + |b|^2 - 2 a.b)``, clamped at ``eps`` before the square root so that
    identical embeddings give a finite gradient (0 instead of NaN).
    """
    sq = (x * x).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    return torch.sqrt(d2.clamp(min=eps))


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.3,
                            normalize: bool = True, soft: bool = False,
                            return_stats: bool = False):
    """Batch-hard triplet loss (Hermans, Beyer and Leibe 2017).

    For every anchor: the farthest image of the same identity (hardest positive) and the
    closest image of another identity (hardest negative);
    ``loss = mean_a max(0, margin + d(a, p*) - d(a, n*))`` (``soft``: ``softplus(d_ap - d_an)``).
    Anchors without a positive or without a negative in the batch are skipped (use
    ``common.faces.samplers.IdentityBatchSampler`` so that every identity has K images). With
    ``normalize`` the embeddings are L2-normalised first (distances in [0, 2]).

    ``return_stats``: also ``{"valid": anchors used, "active": anchors with a non-zero loss}``.
    """
    with torch.autocast(embeddings.device.type, enabled=False):
        x = embeddings.float()
        if normalize:
            x = F.normalize(x, dim=1)
        d = pairwise_distances(x)                                   # (B, B)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        pos = same & ~eye
        neg = ~same
        d_ap = torch.where(pos, d, torch.full_like(d, -math.inf)).amax(1)
        d_an = torch.where(neg, d, torch.full_like(d, math.inf)).amin(1)
        valid = pos.any(1) & neg.any(1)
        gap = d_ap - d_an
        per_anchor = F.softplus(gap) if soft else F.relu(gap + margin)
        per_anchor = torch.where(valid, per_anchor, torch.zeros_like(per_anchor))
        n_valid = valid.sum()
        loss = per_anchor.sum() / n_valid.clamp(min=1)
    if return_stats:
        active = ((per_anchor > 0) & valid).sum()
        return loss, {"valid": n_valid, "active": active}
    return loss
