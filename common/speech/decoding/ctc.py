"""CTC decoders (HW3P2): plain functions over padded log-probabilities plus lengths.

- ``ctc_greedy_decode``: best path per utterance (argmax per frame, merge repeats, drop blanks),
  vectorised on the tensor's device with one copy to the host.
- ``ctc_beam_search``: CTC prefix beam search, one frame at a time for all utterances and beams
  as (B, K) NumPy arrays on the host (a NumPy call on such small arrays costs about 1 us, a torch
  call 3-5 us, a CUDA kernel launch more; ~40 calls a frame). Each prefix keeps two scores, the
  mass of the alignments ending in a blank and of those ending in its last symbol (the next frame
  treats them differently: "a" + "a" stays "a", "a-" + "a" becomes "aa"); alignments that
  collapse to the same prefix are merged with logsumexp.
  Optional shallow fusion of a ``TokenScorer`` (n-gram or neural LM). Pruned by default as
  pyctcdecode is, with wider margins (``PRUNE_LOG_PROB``, ``BEAM_PRUNE_LOG_PROB``: the best
  hypothesis of the unpruned search on 100% of the HW3P2 demo dev set, with and without the 4-gram;
  pyctcdecode's -5/-10 lose 4.7% with it); unpruned and with a beam wide enough it is exact.
  Utterances are sorted by length so that each frame touches only those still running; a run of
  frames where only the blank survives the floor is one step (exact: ``_collapse_blank_runs``);
  each beam is extended by the frame's 2K best tokens only (exact: see the loop); a traceback over
  (parent, token) records recovers the sequences at the end. A batch of one goes to
  ``ctc_one.beam_search_one`` (plain Python over the pruned candidates: no batching machinery).
"""
from __future__ import annotations

import math  # noqa: F401  (docstring example)

import numpy as np
import torch

from .ctc_one import beam_search_one, masked_candidates

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
# chance about L**2 / 2**64 for prefixes of L tokens). Two sentinels: the hash of a dead beam slot and
# the parent hash of a prefix without a parent in the beam (empty or dead): they never match.
_MULT = 0x100000001B3                                    # FNV-1's 64-bit prime
_DEAD, _NO_PARENT = -2, -1


def _extend_hash(h: np.ndarray, token: np.ndarray) -> np.ndarray:
    """Hash of a prefix (h) followed by ``token`` (int64 arrays of one shape)."""
    h = h * _MULT + (token + 1)
    return h ^ (h >> 29)


PRUNE_LOG_PROB = -10.0
BEAM_PRUNE_LOG_PROB = -15.0


def ctc_beam_search(log_probs: torch.Tensor, lengths=None, beam_width: int = 10, blank: int = 0,
                    prune_log_prob: float | None = PRUNE_LOG_PROB, *, beam_prune_log_prob: float | None =
                    BEAM_PRUNE_LOG_PROB, max_candidates: int | None = None, lm=None, lm_weight: float = 0.0,
                    insertion_bonus: float = 0.0, batched: bool | None = None) -> list[list[tuple[list[int], float]]]:
    """CTC prefix beam search in log space, batched over utterances and beams.

    log_probs: (B, T, C) log probabilities (after log_softmax), any float dtype and device; the
    search runs in float64 on the host, one frame at a time for the whole batch (B x beam_width
    prefixes as NumPy arrays; an LM stays on its device). lengths: (B,) ints or None (all T frames).
    beam_width: prefixes kept after every frame, and the most hypotheses returned.
    prune_log_prob: symbols (the blank included) whose log probability at a frame is below it are
    not tried at that frame (pyctcdecode's ``token_min_logp``); the frame's most probable symbol
    is always tried. None: every symbol.
    beam_prune_log_prob: after each frame, prefixes scoring more than ``-beam_prune_log_prob``
    below the best are dropped (pyctcdecode's ``beam_prune_logp``; also the final list). None: kept.
    max_candidates: at most this many symbols tried per frame (the most probable). None: no cap.
    Defaults -10 and -15: see the module docstring; ``prune_log_prob=None,
    beam_prune_log_prob=None`` is the exact prefix beam search at that width.
    batched: True runs the (B, K) array search, False one utterance at a time in plain Python
    (the same search and results); None: False for a batch of one, else True.
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
        batched = B > 1
    if not batched:
        lp_np = log_probs.detach().to("cpu", torch.float64).numpy()
        return [beam_search_one(lp_np[b, :int(lengths[b])], K, blank, prune_log_prob, beam_prune_log_prob,
                                max_candidates, lm, lm_weight, insertion_bonus, device) for b in range(B)]
    lp = masked_candidates(log_probs.detach().to("cpu", torch.float64).numpy(), prune_log_prob, max_candidates)
    return _batched_search(lp, lengths.numpy(), K, blank, beam_prune_log_prob, lm, lm_weight, insertion_bonus,
                           restrict=lm is None or prune_log_prob is not None, device=device)


def _collapse_blank_runs(lp: np.ndarray, lengths: np.ndarray, blank: int) -> tuple:
    """lp (B, T, C) with the non-candidates at -inf -> (frames, blanks, steps): frames (S, B, C + 1)
    time-major with the blank and column C (the "no last token" index) at -inf, blanks (S, B) the
    blank's log probabilities, steps (B,) each utterance's number of steps. A run of frames whose only
    candidate is the blank becomes one step whose blank log probability is the run's sum: after its
    first frame every prefix ends in a blank (p_nb = -inf) and the next frames only add their blank
    to every beam, which changes no ranking."""
    B, T, C = lp.shape
    valid = np.arange(T) < lengths[:, None]
    candidate = lp > NEG_INF
    candidate[..., blank] = False
    blank_only = valid & ~candidate.any(-1)
    merged = np.zeros_like(blank_only)
    merged[:, 1:] = blank_only[:, 1:] & blank_only[:, :-1]                  # folded into the step before
    keep = valid & ~merged
    steps = keep.sum(1)
    rows, times = np.nonzero(keep)
    at = np.cumsum(keep, 1)[rows, times] - 1
    S = int(steps.max(initial=0))
    frames, blanks = np.full((S, B, C + 1), NEG_INF), np.full((S, B), NEG_INF)
    frames[at, rows, :C] = lp[rows, times]
    frames[..., blank] = NEG_INF
    if merged.any():
        vrows, vtimes = np.nonzero(valid)                                       # group = its kept frame
        blanks[at, rows] = np.bincount(np.cumsum(keep[vrows, vtimes]) - 1, weights=lp[vrows, vtimes, blank])
    else:
        blanks[at, rows] = lp[rows, times, blank]
    return frames, blanks, steps


def _batched_search(lp, lengths, K, blank, beam_prune_log_prob, lm, lm_weight, bonus, restrict, device):
    """The (B, K) search of ``ctc_beam_search`` in NumPy (a NumPy call on these small arrays costs about
    1 us, a torch call 3-5); lp (B, T, C) float64 with the non-candidates at -inf."""
    B, T, C = lp.shape
    frames, blanks, steps = _collapse_blank_runs(lp, lengths, blank)
    order = np.argsort(-steps, kind="stable")                                   # active rows first
    frames, blanks, steps = frames[:, order], blanks[:, order], steps[order].tolist()
    S = len(frames)
    # the new prefixes of a beam j are its extensions by the step's best tokens: its top K valid
    # ones lie within the K + 1 + (its children in the beam) best non-blank tokens (those children
    # merge into their stays, one token is its last, tried as the "repeat" column), at most 2K: exact
    # without an LM; with an LM (whose term reorders them) only when pruning is on, else every token
    M = max(1, min(C - 1, 2 * K) if restrict else C - 1)
    # Scores carry the fusion terms: a prefix y keeps p_b + F(y) and p_nb + F(y), F(y) = insertion_bonus
    # * len(y) + lm_weight * log P_lm(y), so that they rank the beams as they are; an extension of j by
    # c adds d(j, c) = F(j + c) - F(j), the row of lm_lp (LM term plus bonus) of j at c.
    # A step's candidates in one row per utterance: the K stays, the K repeats ("a-" + "a"), then
    # K x m extensions by the step's m <= M best tokens. R holds the scores that rank them (a stay's
    # is its total, the others' their p_nb), STAY_B and STAY_NB the stays' p_b and p_nb (-inf in the
    # other columns), TOK the token appended (-1: none). Column DUMMY (never ranked) stands for "no
    # candidate": -inf, no token, its beam is the extra slot K of the state, dead forever.
    DUMMY = 2 * K + K * M
    R, STAY_B, STAY_NB = (np.full((B, DUMMY + 1), NEG_INF) for _ in range(3))
    TOK = np.full((B, DUMMY + 1), -1)
    POS = np.empty((B, C + 1), dtype=np.int64)                                  # token -> column among the m
    parents = {}                                                                # m -> each column's beam
    rows = np.arange(B)[:, None]
    row_w, row_k, row_c = rows * (DUMMY + 1), rows * (K + 1), rows * (C + 1)
    ks = np.arange(K)
    # the K beams (+ the dead slot K): log masses ending in a blank / in the last token and their
    # logaddexp, the last token (C: none), hashes of the prefix and of its parent
    p_b, p_nb, total = (np.full((B, K + 1), NEG_INF) for _ in range(3))
    p_b[:, 0] = total[:, 0] = 0.0                                               # slot 0: empty prefix
    last = np.full((B, K + 1), C)
    hashes, parent_hashes = np.full((B, K + 1), _DEAD), np.full((B, K + 1), _NO_PARENT)
    hashes[:, 0] = 0
    back_parent = np.empty((S, B, K + 1), dtype=np.int64)                       # for the traceback
    back_parent[:] = np.arange(K + 1)
    back_token = np.full((S, B, K + 1), -1)
    lm_state = lm_lp = None
    if lm is not None:
        lm_state = lm.initial(B * K, device=device)
        lm_lp = lm_weight * lm.log_probs(lm_state).to("cpu", torch.float64).numpy().reshape(B, K, C) + bonus
        lm_rows = torch.arange(B, device=device)[:, None] * K
        row_tc = rows * (K * C)
    state_views, step_views = {}, {}                            # views of the first n rows (and m)
    active = B
    for s in range(S):
        while steps[active - 1] <= s:
            active -= 1
        n = active
        if n not in state_views:
            state_views[n] = (p_b[:n, :K], p_nb[:n, :K], total[:n, :K], last[:n, :K], hashes[:n, :K],
                              parent_hashes[:n, :K], STAY_B[:n, :K], STAY_NB[:n, :K], R[:n, :K], R[:n, K:2 * K],
                              TOK[:n, K:2 * K], POS[:n], rows[:n], row_w[:n], row_k[:n], row_c[:n])
        (pb, pnb, tot, lst, hsh, phsh, stay_b, stay_nb, stay, repeat, tok_repeat, pos,
         rows_n, row_w_n, row_k_n, row_c_n) = state_views[n]
        frame = frames[s, :n]                                                   # (n, C + 1)
        at_last = row_c_n + lst
        lp_last = frame.ravel()[at_last]                                        # -inf for no last token
        np.add(tot, blanks[s, :n, None], out=stay_b)                            # "a" + "-" -> "a"
        np.add(pnb, lp_last, out=stay_nb)                                       # "a" + "a" -> "a"
        np.add(pb, lp_last, out=repeat)                                         # "a-" + "a" -> "aa"
        if lm is not None:
            lm_at_last = row_tc[:n] + np.minimum(lst, C - 1)                   # + beam * C: its row
            repeat += lm_lp.ravel()[lm_at_last + ks * C]
        elif bonus:
            repeat += bonus
        # an extension j + c that is already in the beam as prefix k merges into k's stay
        match = phsh[:, :, None] == hsh[:, None, :]                             # (n, k, j)
        children, any_match = 0, match.any()
        if any_match:
            matched = match.any(2)                                              # (n, k)
            j = match.argmax(2)                                                 # k's parent (unique)
            jf = row_k_n + j
            same = last.ravel()[jf] == lst                                      # j + last(k) is j's repeat
            merged = np.where(same, p_b.ravel()[jf], total.ravel()[jf]) + lp_last
            if lm is not None:
                merged += lm_lp.ravel()[lm_at_last + j * C]
            elif bonus:
                merged += bonus
            np.logaddexp(stay_nb, merged, out=stay_nb, where=matched)
            if M > K + 1:
                children = int(np.bincount(jf[matched]).max())
        m = min(M, K + 1 + children)
        if (n, m) not in step_views:
            W = 2 * K + K * m
            if m not in parents:
                parents[m] = np.concatenate([ks, ks, np.repeat(ks, m), np.full(DUMMY + 1 - W, K)])
            step_views[n, m] = (R[:n, :W], R[:n, 2 * K:W].reshape(n, K, m), TOK[:n, 2 * K:W].reshape(n, K, m),
                                np.arange(2 * K, 2 * K + m), ks * m + row_w_n, parents[m])
        rank, ext, tok_ext, ext_at, kill_base, parent_of = step_views[n, m]
        fi = np.argsort(-frame[:, :C], axis=1)[:, :m]                          # the m best non-blank (n, m)
        fv = frame.ravel()[row_c_n + fi]
        np.add(tot[:, :, None], fv[:, None, :], out=ext)                        # "a" + "b" -> "ab"
        if lm is not None:
            ext += np.take_along_axis(lm_lp[:n], np.broadcast_to(fi[:, None, :], (n, K, m)), 2)
        elif bonus:
            ext += bonus
        np.logaddexp(stay_b, stay_nb, out=stay)
        # no extension by a beam's own last token (the repeat column) nor onto a prefix in the beam
        pos.fill(DUMMY)
        pos[rows_n, fi] = ext_at
        at = pos.ravel()[at_last]                                               # column of last(k) in row 0
        R.ravel()[np.minimum(at + kill_base, DUMMY + row_w_n)] = NEG_INF
        if any_match:
            merge = np.where(same, K + j, np.minimum(at + j * m, DUMMY)) + row_w_n
            R.ravel()[merge[matched]] = NEG_INF
        tok_repeat[:] = lst
        tok_ext[:] = fi[:, None, :]
        top_scores, top = (x.numpy() for x in torch.from_numpy(rank).topk(K, dim=1))
        if beam_prune_log_prob is not None:                                     # far below the best
            dead = top_scores < top_scores[:, :1] + beam_prune_log_prob        # (the best is finite)
            top_scores[dead] = NEG_INF
        else:
            dead = top_scores == NEG_INF
        top[dead] = DUMMY
        flat = row_w_n + top
        parent, token = back_parent[s, :n, :K], back_token[s, :n, :K]
        np.take(parent_of, top, out=parent)
        np.take(TOK.ravel(), flat, out=token)
        pf = row_k_n + parent
        is_ext = token >= 0
        old_hash, old_parent_hash, old_last = hashes.ravel()[pf], parent_hashes.ravel()[pf], last.ravel()[pf]
        np.take(STAY_B.ravel(), flat, out=pb)
        pnb[:] = np.where(top < K, STAY_NB.ravel()[flat], top_scores)
        tot[:] = top_scores
        phsh[:] = np.where(is_ext, old_hash, old_parent_hash)
        hsh[:] = np.where(is_ext, _extend_hash(old_hash, token), old_hash)
        lst[:] = np.where(is_ext, token, old_last)
        if lm is not None:
            index = (lm_rows + torch.from_numpy(np.minimum(back_parent[s, :, :K], K - 1)).to(device)).flatten()
            tokens = torch.from_numpy(back_token[s, :, :K]).flatten().to(device)
            lm_state = lm.advance(lm.select(lm_state, index), tokens)
            lm_lp = lm_weight * lm.log_probs(lm_state).to("cpu", torch.float64).numpy().reshape(B, K, C) + bonus
    final = total[:, :K]
    if lm is not None:
        final = final + lm_weight * lm.final(lm_state).to("cpu", torch.float64).numpy().reshape(B, K)
    final = np.where(total[:, :K] > NEG_INF, final, NEG_INF)
    # traceback: the tokens emitted along each beam's history of parents
    index = row_k + ks
    emitted = np.empty((S, B, K), dtype=np.int64)
    for s in range(S - 1, -1, -1):
        emitted[s] = back_token[s].ravel()[index]
        index = row_k + back_parent[s].ravel()[index]
    results: list = [None] * B
    for i in range(B):
        ranked = np.argsort(-final[i], kind="stable").tolist()
        results[int(order[i])] = [(emitted[:, i, k][emitted[:, i, k] >= 0].tolist(), float(final[i, k]))
                                  for k in ranked if final[i, k] > NEG_INF]
    return results
