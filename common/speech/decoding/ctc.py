"""CTC decoders (HW3P2): plain functions over padded log-probabilities plus lengths.

- ``ctc_greedy_decode``: best path per utterance (argmax per frame, merge repeats, drop blanks),
  vectorised on the tensor's device with one copy to the host.
- ``ctc_beam_search``: CTC prefix beam search, one frame at a time for all utterances and beams
  as (B, K) tensors. Each prefix keeps two scores, the mass of the alignments ending in a blank and
  of those ending in its last symbol (the next frame treats them differently: "a" + "a" stays "a",
  "a-" + "a" becomes "aa"); alignments that collapse to the same prefix are merged with logsumexp.
  Optional shallow fusion of a ``TokenScorer`` (n-gram or neural LM). Pruned by default as
  pyctcdecode is, with wider margins (``PRUNE_LOG_PROB``, ``BEAM_PRUNE_LOG_PROB``: the best
  hypothesis of the unpruned search on 100% of the HW3P2 demo dev set, with and without the 4-gram;
  pyctcdecode's -5/-10 lose 4.7% with it); unpruned and with a beam wide enough it is exact.
  Utterances are sorted by length so that each frame touches only those still running; each beam
  is extended by the frame's 2K best tokens only (exact: see the loop); a traceback over (parent,
  token) records recovers the sequences at the end. A batch of one on the CPU goes to
  ``ctc_one.beam_search_one`` (plain Python over the pruned candidates: no batching machinery).
"""
from __future__ import annotations

import math  # noqa: F401  (docstring example)

import torch

from .ctc_one import beam_search_one

__all__ = ["ctc_greedy_decode", "ctc_beam_search"]

NEG_INF = float("-inf")



def _check_ctc_input(log_probs: torch.Tensor, lengths, decoder: str) -> torch.Tensor:
    """``ValueError`` for a log_probs that is not (B, T, C) or lengths that are not (B,) in [0, T];
    returns the lengths as a CPU long tensor (T for every utterance when ``lengths`` is None)."""
    if log_probs.ndim != 3:
        raise ValueError(f"{decoder}: expected log_probs of shape (B, T, C), got {tuple(log_probs.shape)}")
    B, T, _ = log_probs.shape
    if lengths is None:
        return torch.full((B,), T, dtype=torch.long)
    lengths = torch.as_tensor(lengths).detach().to("cpu", torch.long)
    if lengths.shape != (B,):
        raise ValueError(f"{decoder}: expected lengths of shape ({B},) for log_probs of shape "
                         f"{tuple(log_probs.shape)}, got {tuple(lengths.shape)}")
    if B and (lengths.max() > T or lengths.min() < 0):
        raise ValueError(f"{decoder}: lengths must lie in [0, T={T}] for log_probs of shape "
                         f"{tuple(log_probs.shape)}, got {lengths.tolist()}")
    return lengths


def ctc_greedy_decode(log_probs: torch.Tensor, lengths, blank: int = 0) -> list[list[int]]:
    """Best-path CTC decoding.

    log_probs: (B, T, C) per-frame scores (log probabilities or logits: only the argmax counts),
    any float dtype, any device. lengths: (B,) ints, frames ``t >= lengths[b]`` are ignored
    (None: all T frames). Returns B lists of class ids: repeats merged, then blanks removed.
    """
    lengths = _check_ctc_input(log_probs, lengths, "ctc_greedy_decode")
    B, T, _ = log_probs.shape
    best = log_probs.detach().argmax(dim=-1)                                  # (B, T)
    keep = best != blank
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]                               # first frame of each run
    keep &= torch.arange(T, device=best.device) < lengths.to(best.device)[:, None]
    best, keep = best.cpu(), keep.cpu()
    return [best[b][keep[b]].tolist() for b in range(B)]


# Prefixes are identified by a 64-bit hash: multiply-add in int64 (wrapping modulo 2**64), then an
# xor-shift that breaks the algebraic structure of a plain polynomial hash modulo 2**64 (collision
# chance about L**2 / 2**64 for prefixes of L tokens).
_MULT = 0x100000001B3                                    # FNV-1's 64-bit prime


def _extend_hash(h: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """Hash of a prefix (h) followed by ``token`` (both int64 tensors of one shape)."""
    h = h * _MULT + (token + 1)
    return h ^ (h >> 29)


PRUNE_LOG_PROB = -10.0
BEAM_PRUNE_LOG_PROB = -15.0


def ctc_beam_search(log_probs: torch.Tensor, lengths=None, beam_width: int = 10, blank: int = 0,
                    prune_log_prob: float | None = PRUNE_LOG_PROB, *, beam_prune_log_prob: float | None =
                    BEAM_PRUNE_LOG_PROB, max_candidates: int | None = None, lm=None, lm_weight: float = 0.0,
                    insertion_bonus: float = 0.0, batched: bool | None = None) -> list[list[tuple[list[int], float]]]:
    """CTC prefix beam search in log space, batched over utterances and beams.

    log_probs: (B, T, C) log probabilities (after log_softmax), any float dtype; the search runs
    in float64 on the tensor's device, one frame at a time for the whole batch (B x beam_width
    prefixes as tensors). lengths: (B,) ints or None (all T frames).
    beam_width: prefixes kept after every frame, and the most hypotheses returned.
    prune_log_prob: symbols (the blank included) whose log probability at a frame is below it are
    not tried at that frame (pyctcdecode's ``token_min_logp``); the frame's most probable symbol
    is always tried. None: every symbol.
    beam_prune_log_prob: after each frame, prefixes scoring more than ``-beam_prune_log_prob``
    below the best are dropped (pyctcdecode's ``beam_prune_logp``; also the final list). None: kept.
    max_candidates: at most this many symbols tried per frame (the most probable). None: no cap.
    Defaults -10 and -15: see the module docstring; ``prune_log_prob=None,
    beam_prune_log_prob=None`` is the exact prefix beam search at that width.
    batched: True runs the (B, K) tensor search, False one utterance at a time in plain Python
    (the same search and results); None: False for a batch of one on the CPU, else True.
    lm: a ``TokenScorer`` over the same C classes (shallow fusion): a prefix y ranks by
    ``log P_ctc(y) + lm_weight * log P_lm(y) + insertion_bonus * len(y)``, the LM's end-of-sentence
    term added after the last frame. insertion_bonus applies without an LM too.

    Each prefix keeps two scores, the mass of the alignments ending in a blank and of those ending
    in its last symbol ("a" + "a" stays "a", "a-" + "a" becomes "aa"); an extension equal to a
    prefix already in the beam merges into it. Returns, per utterance, up to ``beam_width`` pairs
    (class ids, score), best first; the score is the log probability of all alignments of the
    sequence kept in the beam (plus the fusion terms). Unpruned, a beam wider than the number of
    distinct prefixes is exact. ``beam_width=1`` returns the greedy (best-path) sequence whenever one class
    dominates every frame (say >= 0.95); on flat posteriors it may differ, as a prefix is scored by
    all of its alignments rather than the best one. Prefixes are told apart by 64-bit hashes.

    >>> lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()[None]     # P("a") = .16 + .24 + .24
    >>> [(seq, round(math.exp(score), 2)) for seq, score in ctc_beam_search(lp, beam_width=2)[0]]
    [([1], 0.64), ([], 0.36)]
    """
    if beam_width < 1:
        raise ValueError(f"ctc_beam_search: beam_width must be >= 1, got {beam_width}")
    lengths = _check_ctc_input(log_probs, lengths, "ctc_beam_search")
    B, T, C = log_probs.shape
    if lm is not None and lm.vocab_size != C:
        raise ValueError(f"ctc_beam_search: the LM scores {lm.vocab_size} tokens but log_probs has "
                         f"{C} classes; train the LM over the CTC classes (the blank never occurs)")
    if max_candidates is not None and max_candidates < 1:
        raise ValueError(f"ctc_beam_search: max_candidates must be >= 1 or None, got {max_candidates}")
    device, K = log_probs.device, beam_width
    if batched is None:
        batched = B > 1 or device.type != "cpu"
    if not batched:
        lp_np = log_probs.detach().to("cpu", torch.float64).numpy()
        return [beam_search_one(lp_np[b, :int(lengths[b])], K, blank, prune_log_prob, beam_prune_log_prob,
                                max_candidates, lm, lm_weight, insertion_bonus, device) for b in range(B)]
    lp = log_probs.detach().to(torch.float64)
    if prune_log_prob is not None or (max_candidates is not None and max_candidates < C):
        tried = torch.ones_like(lp, dtype=torch.bool) if prune_log_prob is None else lp >= prune_log_prob
        if max_candidates is not None and max_candidates < C:
            tried &= lp >= lp.topk(max_candidates, dim=2).values[:, :, -1:]
        tried.scatter_(2, lp.argmax(2, keepdim=True), True)
        lp = lp.masked_fill(~tried, NEG_INF)
    order = torch.argsort(lengths, descending=True, stable=True)              # active rows first
    lp = lp[order.to(device)]
    sorted_lengths = lengths[order].tolist()

    def full(value, dtype=torch.float64):
        return torch.full((B, K), value, dtype=dtype, device=device)

    p_b, p_nb = full(NEG_INF), full(NEG_INF)                                 # (B, K) log masses
    p_b[:, 0] = 0.0                                                           # slot 0: empty prefix
    fused = full(0.0)                                                          # lm + bonus terms
    last = full(-1, torch.long)                                                # last token, -1 empty
    hashes, parent_hashes = full(0, torch.long), full(-1, torch.long)
    rows_k = torch.arange(K, device=device)
    back_parent = torch.empty((T, B, K), dtype=torch.long, device=device)      # for the traceback
    back_token = torch.full((T, B, K), -1, dtype=torch.long, device=device)
    back_parent[:] = rows_k
    lm_state = lm_lp = None
    if lm is not None:
        lm_state = lm.initial(B * K, device=device)
        lm_lp = lm_weight * lm.log_probs(lm_state).to(torch.float64).view(B, K, C) + insertion_bonus
    # the new prefixes of a beam j are its extensions by the frame's best tokens: its top K valid
    # ones lie within the 2K best non-blank tokens (at most K - 1 are its children already in the
    # beam, one is its last token, tried separately as the "repeat" column): exact without an LM;
    # with an LM (whose term reorders them) only when pruning is on, else every token is tried
    restrict = lm is None or prune_log_prob is not None
    M = max(1, C - 1 if not restrict else min(C - 1, 2 * K))
    non_blank = lp.clone()
    non_blank[:, :, blank] = NEG_INF
    top_vals, top_ids = non_blank.topk(M, dim=2)                              # (B, T, M) best first
    del non_blank
    # time-major copies: each frame's rows are contiguous
    lp, top_vals, top_ids = (x.transpose(0, 1).contiguous() for x in (lp, top_vals, top_ids))
    active = B
    for t in range(T):
        while active and sorted_lengths[active - 1] <= t:
            active -= 1
        if active == 0:
            break
        n = active
        frame, fv, fi = lp[t, :n], top_vals[t, :n], top_ids[t, :n]           # (n, C), (n, M), (n, M)
        pb, pnb, lst = p_b[:n], p_nb[:n], last[:n]
        total = torch.logaddexp(pb, pnb)                                       # (n, K)
        has_last = lst >= 0
        lst0 = lst.clamp(min=0)
        lp_last = frame.gather(1, lst0)                                        # (n, K)
        stay_b = total + frame[:, blank, None]
        stay_nb = torch.where(has_last, pnb + lp_last, NEG_INF)               # "a" + "a" -> "a"
        repeat = torch.where(has_last, pb + lp_last, NEG_INF)                  # "a-" + "a" -> "aa"
        # an extension j + c that is already in the beam as prefix k merges into k's stay
        valid = total > NEG_INF
        match = ((parent_hashes[:n, :, None] == hashes[:n, None, :]) & valid[:, None, :]
                 & (valid & has_last)[:, :, None])                             # (n, k, j)
        children = int(match.sum(1).max()) if M > K + 1 else 0               # most children of one beam
        m = min(M, K + 1 + children)                                           # tokens needed this frame
        fv, fi = fv[:, :m], fi[:, :m]
        ext = (total[:, :, None] + fv[:, None, :]).masked_fill(fi[:, None, :] == lst[:, :, None], NEG_INF)
        if children or (M <= K + 1 and bool(match.any())):
            # prefixes in the beam are distinct: at most one parent j per k
            matched = match.any(2)                                             # (n, k)
            j = match.to(torch.uint8).argmax(2)                                # (n, k)
            same = lst.gather(1, j) == lst                                     # j + last(k) is j's repeat
            merged = torch.where(same, pb.gather(1, j), total.gather(1, j)) + lp_last
            stay_nb = torch.where(matched, torch.logaddexp(stay_nb, merged), stay_nb)
            rows_n, ks = matched.nonzero(as_tuple=True)
            jj, ss = j[rows_n, ks], same[rows_n, ks]
            repeat[rows_n[ss], jj[ss]] = NEG_INF
            at = fi[rows_n] == lst[rows_n, ks][:, None]                        # (matches, m)
            found = at.any(1) & ~ss
            ext[rows_n[found], jj[found], at.to(torch.uint8).argmax(1)[found]] = NEG_INF
        fz = fused[:n]
        stay = torch.logaddexp(stay_b, stay_nb) + fz
        if lm is not None:
            rep_rank = repeat + fz + lm_lp[:n].gather(2, lst0[:, :, None])[:, :, 0]
            ext_rank = ext + fz[:, :, None] + lm_lp[:n].gather(2, fi[:, None, :].expand(n, K, m))
        else:
            rep_rank = repeat + (fz + insertion_bonus)
            ext_rank = ext + (fz + insertion_bonus)[:, :, None]
        scores = torch.cat([stay, rep_rank, ext_rank.flatten(1)], dim=1)      # (n, 2K + K*m)
        top_scores, top = scores.topk(K, dim=1)
        if beam_prune_log_prob is not None:                                    # far below the best
            top_scores = top_scores.masked_fill(top_scores < top_scores[:, :1] + beam_prune_log_prob, NEG_INF)
        alive = top_scores > NEG_INF
        is_stay, is_rep = top < K, (top >= K) & (top < 2 * K)
        k_stay, k_rep, e = top.clamp(max=K - 1), (top - K).clamp(0, K - 1), (top - 2 * K).clamp(min=0)
        parent = torch.where(is_stay, top, torch.where(is_rep, top - K, e // m))
        is_ext = alive & ~is_stay
        token = torch.where(is_ext, torch.where(is_rep, lst0.gather(1, k_rep), fi.gather(1, e % m)), -1)
        new_nb = torch.where(is_stay, stay_nb.gather(1, k_stay),
                             torch.where(is_rep, repeat.gather(1, k_rep), ext.flatten(1).gather(1, e)))
        p_b[:n] = torch.where(alive & is_stay, stay_b.gather(1, k_stay), NEG_INF)
        p_nb[:n] = torch.where(alive, new_nb, NEG_INF)
        fused[:n] = torch.where(alive, top_scores - torch.logaddexp(p_b[:n], p_nb[:n]), 0.0)
        old_hash = hashes[:n].gather(1, parent)
        parent_hashes[:n] = torch.where(is_ext, old_hash, parent_hashes[:n].gather(1, parent))
        hashes[:n] = torch.where(is_ext, _extend_hash(old_hash, token.clamp(min=0)), old_hash)
        last[:n] = torch.where(is_ext, token, lst.gather(1, parent))
        back_parent[t, :n], back_token[t, :n] = parent, token
        if lm is not None:
            index = (torch.arange(B, device=device)[:, None] * K + back_parent[t]).flatten()
            tokens = back_token[t].flatten()
            lm_state = lm.advance(lm.select(lm_state, index), tokens)
            lm_lp = lm_weight * lm.log_probs(lm_state).to(torch.float64).view(B, K, C) + insertion_bonus
    total = torch.logaddexp(p_b, p_nb)
    final = total + fused
    if lm is not None:
        final = final + lm_weight * lm.final(lm_state).to(torch.float64).view(B, K)
    final = torch.where(total > NEG_INF, final, NEG_INF)
    # traceback: the tokens emitted along each beam's history of parents
    index = rows_k.expand(B, K)
    emitted = torch.empty((T, B, K), dtype=torch.long, device=device)
    for t in range(T - 1, -1, -1):
        emitted[t] = back_token[t].gather(1, index)
        index = back_parent[t].gather(1, index)
    emitted, final = emitted.cpu().numpy(), final.cpu()
    results: list = [None] * B
    for i in range(B):
        ranked = torch.argsort(final[i], descending=True, stable=True).tolist()
        results[int(order[i])] = [(emitted[:, i, k][emitted[:, i, k] >= 0].tolist(), float(final[i, k]))
                                  for k in ranked if final[i, k] > NEG_INF]
    return results
