"""Autoregressive seq2seq decoders (HW3 LAS, HW4P2), scores in log space.

``seq2seq_greedy_decode`` / ``seq2seq_beam_search``: decoding with a ``step_fn`` that maps the
tokens so far (rows, t) to the next token's log probabilities (rows, V); the caller binds the
model and the encoder output inside it.
"""
from __future__ import annotations

import torch

__all__ = ["seq2seq_greedy_decode", "seq2seq_beam_search"]

NEG_INF = float("-inf")


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
