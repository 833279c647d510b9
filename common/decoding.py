"""Decoders for the Part 2 notebooks: CTC (HW3P2) and autoregressive seq2seq (HW3 LAS, HW4P2).

Plain functions over padded tensors plus lengths, all scores in log space.

- ``ctc_greedy_decode``: best path per utterance (argmax per frame, merge repeats, drop blanks),
  vectorised on the tensor's device with one copy to the host.
- ``ctc_beam_search``: CTC prefix beam search. Each prefix keeps two scores, the mass of the
  alignments ending in a blank and of those ending in its last symbol (the next frame treats
  them differently: "a" + "a" stays "a", "a-" + "a" becomes "aa"); alignments that collapse to the
  same prefix are merged with logsumexp. With a beam wide enough it is exact.
- ``seq2seq_greedy_decode`` / ``seq2seq_beam_search``: decoding with a ``step_fn`` that maps the
  tokens so far (rows, t) to the next token's log probabilities (rows, V); the caller binds the
  model and the encoder output inside it.
"""
from __future__ import annotations

import torch

__all__ = ["ctc_greedy_decode", "ctc_beam_search", "seq2seq_greedy_decode", "seq2seq_beam_search"]

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


def _check_step_output(log_probs: torch.Tensor, rows: int, decoder: str) -> torch.Tensor:
    if log_probs.ndim != 2 or log_probs.shape[0] != rows:
        raise ValueError(f"{decoder}: step_fn must return log probabilities of shape ({rows}, V) "
                         f"for {rows} rows of tokens, got {tuple(log_probs.shape)}")
    return log_probs


@torch.no_grad()
def seq2seq_greedy_decode(step_fn, batch_size: int, sos: int, eos: int, max_len: int,
                          device=None) -> torch.Tensor:
    """Greedy autoregressive decoding of a batch.

    step_fn(tokens (B, t) long) -> (B, V) log probabilities (or logits) of the next token, where
    ``tokens`` starts with ``sos``. Returns (B, L) long tokens without ``sos``, L <= max_len:
    each row's argmax path, padded with ``eos`` after the row emitted ``eos``; decoding stops as
    soon as every row has emitted ``eos``.
    """
    tokens = torch.full((batch_size, 1), sos, dtype=torch.long, device=device)   # (B, 1)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for _ in range(max_len):
        log_probs = _check_step_output(step_fn(tokens), batch_size, "seq2seq_greedy_decode")
        next_token = log_probs.argmax(dim=-1).to(tokens.device)                   # (B,)
        next_token = next_token.masked_fill(finished, eos)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token == eos
        if bool(finished.all()):
            break
    return tokens[:, 1:]


@torch.no_grad()
def seq2seq_beam_search(step_fn, sos: int, eos: int, max_len: int, beam_width: int = 4,
                        length_penalty: float = 0.0, device=None) -> list[tuple[list[int], float]]:
    """Beam search for ONE input (bind its encoder output inside ``step_fn``).

    step_fn(tokens (K, t) long) -> (K, V) log probabilities of the next token, one row per live
    beam (K <= beam_width); ``tokens`` start with ``sos`` and live on ``device``.
    Each step keeps the best ``beam_width`` candidates that do not end in ``eos`` as the live beams;
    a candidate ending in ``eos`` joins the finished hypotheses when it ranks among the best
    ``beam_width`` candidates of its step (so ``beam_width=1`` is greedy decoding). A beam_width at
    least (live beams x V) drops no candidate and is exact, up to ``max_len`` tokens eos included.
    Finished hypotheses are ranked by ``log_prob / length ** length_penalty`` (GNMT-style when
    > 0), with length the number of generated tokens, eos included. Returns up to ``beam_width`` pairs (tokens without
    sos and eos, that normalised score), best first. If none finished, the live beams are
    returned, scored the same way. Stops early once no live beam can beat the ``beam_width``-th
    finished one.
    """
    if beam_width < 1:
        raise ValueError(f"seq2seq_beam_search: beam_width must be >= 1, got {beam_width}")

    def normalise(score: float, length: int) -> float:
        return score / length ** length_penalty if length_penalty else score

    tokens = torch.full((1, 1), sos, dtype=torch.long, device=device)             # (K, t)
    scores = None                                                                 # (K,)
    finished: list[tuple[list[int], float]] = []
    for step in range(1, max_len + 1):
        log_probs = _check_step_output(step_fn(tokens), tokens.shape[0], "seq2seq_beam_search")
        if scores is None:
            scores = torch.zeros(1, dtype=torch.promote_types(log_probs.dtype, torch.float32),
                                 device=log_probs.device)
        K, V = log_probs.shape
        candidates = (scores[:, None] + log_probs).flatten()                     # (K*V,)
        # at most K candidates end in eos, so the best beam_width + K hold beam_width live ones
        top_scores, top = candidates.topk(min(beam_width + K, candidates.numel()))
        live_rows, live_tokens, live_scores = [], [], []
        for rank, (score, j) in enumerate(zip(top_scores.tolist(), top.tolist())):
            if score == NEG_INF:
                break
            row, token = divmod(j, V)
            if token == eos:
                if rank < beam_width:
                    finished.append((tokens[row, 1:].tolist(), normalise(score, step)))
            elif len(live_rows) < beam_width:
                live_rows.append(row)
                live_tokens.append(token)
                live_scores.append(score)
        finished.sort(key=lambda h: h[1], reverse=True)
        finished = finished[:beam_width]
        if not live_rows:
            break
        rows = torch.tensor(live_rows, device=tokens.device)
        new = torch.tensor(live_tokens, dtype=torch.long, device=tokens.device)
        tokens = torch.cat([tokens[rows], new[:, None]], dim=1)
        scores = torch.tensor(live_scores, dtype=scores.dtype, device=scores.device)
        if len(finished) == beam_width and step < max_len:
            # log probs only fall as a hypothesis grows; its normalised score is at most this bound
            best = live_scores[0]
            bound = max(normalise(best, step + 1), normalise(best, max_len))
            if bound <= finished[-1][1]:
                break
    if finished:
        return finished
    if scores is None:                                                            # max_len == 0
        return []
    length = tokens.shape[1] - 1
    return [(tokens[k, 1:].tolist(), normalise(float(scores[k]), length)) for k in range(tokens.shape[0])]
