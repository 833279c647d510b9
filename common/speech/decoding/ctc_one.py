"""CTC prefix beam search for ONE utterance, in plain Python over the pruned candidates of each frame.

``ctc_beam_search`` calls this for a batch of one on the CPU: a single utterance gains nothing from
(B, K, C) tensors, and a torch call costs microseconds whatever its size. Here a frame costs about
(beams + surviving extensions) Python steps:

- the candidate tokens of each frame (log probability >= ``prune_log_prob``, at most
  ``max_candidates``, the frame's best always included) are found for all frames at once in NumPy;
- a run of frames whose only candidate is the blank is one step (every prefix ends in a blank
  after it and its score moves by the run's summed blank log probability: the ranking cannot change);
- the prefixes already in the beam ("stays", with the extensions that merge into them) are scored
  first; the new one-token extensions are then tried beam by beam, candidates best first, and the
  loop stops as soon as no remaining extension can enter the top ``beam_width`` (an extension's
  score is bounded by its parent's plus the token's log probability and the insertion bonus, the
  LM term being <= 0 for ``lm_weight >= 0``);
- prefixes more than ``-beam_prune_log_prob`` below the frame's best are dropped.

Prefixes are nodes of a trie (parent id, token); the LM state follows the beam through the
``TokenScorer`` calls, one batched ``advance`` per frame where the beam changed.
"""
from __future__ import annotations

import heapq
import math

import numpy as np
import torch

NEG_INF = float("-inf")


def _lae(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for floats (-inf allowed)."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def masked_candidates(lp: np.ndarray, prune_log_prob, max_candidates) -> np.ndarray:
    """lp (..., C) with the symbols not tried at a frame set to -inf: below ``prune_log_prob``, or
    beyond the ``max_candidates`` most probable; the frame's most probable symbol is always kept."""
    C = lp.shape[-1]
    tried = np.ones(lp.shape, dtype=bool) if prune_log_prob is None else lp >= prune_log_prob
    if max_candidates is not None and max_candidates < C:
        tried &= lp >= np.partition(lp, C - max_candidates, axis=-1)[..., C - max_candidates, None]
    np.put_along_axis(tried, lp.argmax(-1)[..., None], True, axis=-1)
    return np.where(tried, lp, NEG_INF)


def candidate_frames(lp: np.ndarray, blank: int, prune_log_prob, max_candidates) -> tuple[list, list, list]:
    """For lp (T, C): per frame the classes ordered best first, the rows of lp with the
    non-candidates at -inf, and the number of non-blank candidates (lists; NumPy over all frames)."""
    masked = masked_candidates(lp, prune_log_prob, max_candidates)
    order = np.argsort(-masked, axis=1, kind="stable")
    counts = (masked > NEG_INF).sum(1) - (masked[:, blank] > NEG_INF)
    return order.tolist(), masked.tolist(), counts.tolist()


def beam_search_one(lp: np.ndarray, beam_width: int, blank: int, prune_log_prob, beam_prune_log_prob,
                    max_candidates, lm, lm_weight: float, insertion_bonus: float, device) -> list:
    """lp: (T, C) float64 NumPy log probabilities of one utterance. Same search and same result
    format as ``ctc_beam_search`` (list of (tokens, score), best first)."""
    T, C = lp.shape
    K = beam_width
    orders, rows, counts = candidate_frames(lp, blank, prune_log_prob, max_candidates)
    blank_lp = [row[blank] for row in rows]
    blank_only = [not c for c in counts]
    # trie of prefixes: node 0 is the empty prefix
    parent_of, token_of, children = [-1], [-1], {}
    # the beam, best first: node ids and per prefix p_b, p_nb, fused (LM + bonus), last token
    ids, pb, pnb, fused, last = [0], [0.0], [NEG_INF], [0.0], [-1]
    lm_state = lm_rows = None
    if lm is not None:
        lm_state = lm.initial(1, device=device)
        lm_rows = (lm_weight * lm.log_probs(lm_state).to(torch.float64)).tolist()
    state_rows = [0]                                          # beam slot -> row of lm_state
    bound_lm = lm is None or lm_weight >= 0
    prune = NEG_INF if beam_prune_log_prob is None else beam_prune_log_prob
    t = 0
    while t < T:
        n = len(ids)
        if blank_only[t]:                                     # a run of blank-only frames: one step
            s = 0.0
            while t < T and blank_only[t]:
                s += blank_lp[t]
                t += 1
            for i in range(n):
                pb[i] = _lae(pb[i], pnb[i]) + s
                pnb[i] = NEG_INF
            continue
        row, lb, frame = rows[t], blank_lp[t], orders[t][:counts[t] + 1]    # the candidates, best first
        t += 1
        where = {node: i for i, node in enumerate(ids)}
        tot = [_lae(pb[i], pnb[i]) for i in range(n)]
        # stays: the prefixes in the beam, each with the extension of its parent that merges into it
        new_pb, new_pnb, skip = [], [], set()
        for i in range(n):
            lst = last[i]
            stay_b = tot[i] + lb
            stay_nb = pnb[i] + row[lst] if lst >= 0 else NEG_INF
            if lst >= 0:
                j = where.get(parent_of[ids[i]])
                if j is not None:
                    lpc = row[lst]
                    if lpc > NEG_INF:
                        stay_nb = _lae(stay_nb, (pb[j] if last[j] == lst else tot[j]) + lpc)
                    skip.add((j, lst))
            new_pb.append(stay_b)
            new_pnb.append(stay_nb)
        # (score, tie order, source beam, token or -1, p_b, p_nb, fused)
        heap = []
        best = NEG_INF
        for i in range(n):
            score = _lae(new_pb[i], new_pnb[i]) + fused[i]
            if score > NEG_INF:
                item = (score, -i, i, -1, new_pb[i], new_pnb[i], fused[i])
                if len(heap) < K:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
                best = max(best, score)
        order = 1 << 30
        for j in range(n):                                    # the beam is sorted best first
            base, f_j, lst = tot[j] + fused[j], fused[j], last[j]
            lm_j = lm_rows[j] if lm is not None else None
            first = True
            for c in frame:
                if c == blank:
                    continue
                lpc = row[c]
                floor = heap[0][0] if len(heap) == K else NEG_INF
                floor = max(floor, best + prune)
                if bound_lm and base + lpc + insertion_bonus < floor:
                    break                                     # candidates are sorted: none further
                first = False
                if (j, c) in skip:
                    continue
                nb = (pb[j] if c == lst else tot[j]) + lpc
                f = f_j + insertion_bonus + (lm_j[c] if lm_j is not None else 0.0)
                score = nb + f
                if score == NEG_INF:
                    continue
                order -= 1
                item = (score, order, j, c, NEG_INF, nb, f)
                if len(heap) < K:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
                else:
                    continue
                best = max(best, score)
            else:
                continue
            if first:                                         # nor for the worse beams that follow
                break
        kept = sorted((it for it in heap if it[0] >= best + prune), reverse=True)
        new_ids, src, toks = [], [], []
        for *_, j, c, _pb, _pnb, _f in kept:
            if c < 0:
                new_ids.append(ids[j])
            else:
                key = (ids[j], c)
                node = children.get(key)
                if node is None:
                    node = len(parent_of)
                    children[key] = node
                    parent_of.append(ids[j])
                    token_of.append(c)
                new_ids.append(node)
            src.append(j)
            toks.append(c)
        pb = [it[4] for it in kept]
        pnb = [it[5] for it in kept]
        fused = [it[6] for it in kept]
        last = [last[j] if c < 0 else c for j, c in zip(src, toks)]
        if lm is not None:
            if any(c >= 0 for c in toks):                    # new prefixes: one select + advance
                index = torch.tensor([state_rows[j] for j in src], device=device)
                lm_state = lm.advance(lm.select(lm_state, index), torch.tensor(toks, device=device))
                lm_rows = (lm_weight * lm.log_probs(lm_state).to(torch.float64)).tolist()
                state_rows = list(range(len(src)))
            else:                                             # only reordered or dropped: no LM call
                lm_rows = [lm_rows[j] for j in src]
                state_rows = [state_rows[j] for j in src]
        ids = new_ids
    final = [_lae(pb[i], pnb[i]) + fused[i] for i in range(len(ids))]
    if lm is not None:
        end = (lm_weight * lm.final(lm_state).to(torch.float64)).tolist()
        end = [end[r] for r in state_rows]
        final = [f + e if f > NEG_INF else NEG_INF for f, e in zip(final, end)]
    results = []
    for i in sorted(range(len(ids)), key=lambda i: -final[i]):
        if final[i] == NEG_INF:
            continue
        seq, node = [], ids[i]
        while node > 0:
            seq.append(token_of[node])
            node = parent_of[node]
        results.append((seq[::-1], final[i]))
    return results
