"""CTC decoders (HW3P2): plain functions over padded log-probabilities plus lengths.

- ``ctc_greedy_decode``: best path per utterance (argmax per frame, merge repeats, drop blanks),
  vectorised on the tensor's device with one copy to the host.
- ``ctc_beam_search``: CTC prefix beam search. Each prefix keeps two scores, the mass of the
  alignments ending in a blank and of those ending in its last symbol (the next frame treats
  them differently: "a" + "a" stays "a", "a-" + "a" becomes "aa"); alignments that collapse to the
  same prefix are merged with logsumexp. With a beam wide enough it is exact.
"""
from __future__ import annotations

import torch

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


def ctc_beam_search(log_probs: torch.Tensor, lengths=None, beam_width: int = 10, blank: int = 0,
                    prune_log_prob: float | None = None) -> list[list[tuple[list[int], float]]]:
    """CTC prefix beam search in log space.

    log_probs: (B, T, C) log probabilities (after log_softmax), any float dtype and device; the
    search runs in float64 on the CPU. lengths: (B,) ints or None (all T frames).
    beam_width: prefixes kept after every frame, and the most hypotheses returned.
    prune_log_prob: when given, symbols (the blank included) whose log probability at a frame is
    below it are not tried at that frame; the frame's most probable symbol is always tried.

    Returns, for each utterance, up to ``beam_width`` pairs (class ids, total log probability of
    all alignments of that sequence kept in the beam), best first. A narrow beam may miss the
    best sequence; a beam wider than the number of distinct prefixes is exact.
    """
    if beam_width < 1:
        raise ValueError(f"ctc_beam_search: beam_width must be >= 1, got {beam_width}")
    lengths = _check_ctc_input(log_probs, lengths, "ctc_beam_search")
    all_lp = log_probs.detach().to("cpu", torch.float64)                    # one host copy (B, T, C)
    return [_ctc_prefix_beam_search(all_lp[b, :int(lengths[b])], beam_width, blank, prune_log_prob)
            for b in range(all_lp.shape[0])]


def _ctc_prefix_beam_search(lp: torch.Tensor, beam_width: int, blank: int,
                            prune_log_prob: float | None) -> list[tuple[list[int], float]]:
    """One utterance: lp (T, C) float64. Per frame the K beam prefixes give K*C+K candidates,
    scored as tensors: K "stays" (same prefix, via a blank or a repeat of its last symbol) and
    K*C extensions by one symbol; an extension equal to a prefix already in the beam merges into
    that prefix's stay."""
    C = lp.shape[1]
    prefixes: list[tuple[int, ...]] = [()]
    p_b = torch.zeros(1, dtype=torch.float64)                                 # (K,) ending in blank
    p_nb = torch.full((1,), NEG_INF, dtype=torch.float64)                     # (K,) ending in a symbol
    for frame in lp:                                                          # (C,)
        if prune_log_prob is not None:
            tried = frame >= prune_log_prob
            tried[frame.argmax()] = True
            frame = frame.masked_fill(~tried, NEG_INF)
        K = len(prefixes)
        total = torch.logaddexp(p_b, p_nb)                                    # (K,)
        last = torch.tensor([p[-1] if p else -1 for p in prefixes], dtype=torch.long)
        has_last = last >= 0
        rows = torch.arange(K)[has_last]
        last_lp = frame[last.clamp(min=0)]                                    # (K,)

        stay_b = total + frame[blank]
        stay_nb = torch.where(has_last, p_nb + last_lp, NEG_INF)              # "a" + "a" -> "a"
        ext = total[:, None] + frame[None, :]                                 # (K, C)
        ext[rows, last[has_last]] = p_b[has_last] + last_lp[has_last]         # "a-" + "a" -> "aa"
        ext[:, blank] = NEG_INF

        index = {p: k for k, p in enumerate(prefixes)}                        # merge ext into stays
        merge = [(k, index[p[:-1]], p[-1]) for k, p in enumerate(prefixes) if p and p[:-1] in index]
        if merge:
            into, parent, symbol = (torch.tensor(m, dtype=torch.long) for m in zip(*merge))
            stay_nb[into] = torch.logaddexp(stay_nb[into], ext[parent, symbol])
            ext[parent, symbol] = NEG_INF

        cand_b = torch.cat([stay_b, torch.full((K * C,), NEG_INF, dtype=torch.float64)])  # (K + K*C,)
        cand_nb = torch.cat([stay_nb, ext.flatten()])
        scores = torch.logaddexp(cand_b, cand_nb)
        top_scores, top = scores.topk(min(beam_width, scores.numel()))
        top = top[top_scores > NEG_INF]
        if top.numel() == 0:                                                  # every symbol at -inf
            return []
        new_prefixes = [prefixes[j] if j < K else prefixes[(j - K) // C] + ((j - K) % C,) for j in top.tolist()]
        prefixes, p_b, p_nb = new_prefixes, cand_b[top], cand_nb[top]
    total = torch.logaddexp(p_b, p_nb)
    order = total.argsort(descending=True).tolist()
    return [(list(prefixes[k]), float(total[k])) for k in order[:beam_width]]
