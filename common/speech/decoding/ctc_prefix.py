"""CTC prefix scores for joint attention/CTC decoding (HW4P2), as a ``TokenScorer``.

For a hypothesis prefix h of the attention decoder, the CTC prefix probability psi(h) is the total
probability of all alignments whose collapsed label sequence starts with h (Watanabe et al. 2017,
"Hybrid CTC/attention"; ESPnet's CTCPrefixScore). Two forward variables per frame are carried per
hypothesis: r_t^n(h) (alignments of frames 0..t that collapse to h and end in its last label) and
r_t^b(h) (ending in a blank). Extending h by a label c:

    phi_t      = r_t^b(h) + (r_t^n(h) unless c == last(h))
    r_t^n(h+c) = logaddexp(r_{t-1}^n(h+c), phi_{t-1}) + x_t(c)
    r_t^b(h+c) = logaddexp(r_{t-1}^b(h+c), r_{t-1}^n(h+c)) + x_t(blank)
    psi(h+c)   = logsumexp_t (phi_{t-1} + x_t(c))       (t = 0: x_0(c) when h is empty)

``log_probs`` returns psi(h+c) - psi(h) for every token c (so that the increments of a hypothesis
sum to psi of its tokens) and, for ``eos``, log P_ctc(h) - psi(h) (the whole utterance is h).
Cost per decoding step: ``log_probs`` sums over the frames in chunks of (rows, frames, V)
tensors; ``advance`` unrolls the recursion for the chosen tokens with cumulative sums (no loop over
frames). Memory O(rows * T), no (T, V) table per row. ``partial_log_probs(state, tokens (rows, k))``
scores only k tokens per row (ESPnet's pre-beam; ``seq2seq_beam_search(pre_beam=k)``): O(rows * k * T)
instead of O(rows * V * T). The decoder proposes the k tokens; ``pre_beam_tokens`` adds eos and the
tokens the CTC head supports in the utterance (a posterior >= ``pre_beam_floor`` somewhere), so that
a weak decoder cannot hide them: at V = 1,000, k = 15, 10x faster than full scoring with the same best
hypothesis on 100% of ``benchmarks/ctc_partial_scoring.py``'s utterances (the decoder's k alone: 18x,
95%).
"""
from __future__ import annotations

import math

import torch

__all__ = ["CTCPrefixScorer"]

NEG_INF = float("-inf")
PRE_BEAM_FLOOR = math.log(0.1)


class CTCPrefixScorer:
    """CTC prefix scorer over the encoder's CTC log probabilities of a batch.

    log_probs: (B, T, C) CTC log probabilities; lengths: (B,) frames per utterance; blank: the CTC
    blank id; eos: the decoder's end token (scored as "the prefix is the whole sequence");
    beam_width: hypotheses per utterance, rows ``b*beam_width .. b*beam_width+beam_width-1`` belong
    to utterance b (``initial`` accepts any multiple of B rows). vocab_size: the decoder's
    vocabulary (default C); classes >= vocab_size are never proposed, tokens >= C (e.g. an eos the
    CTC head lacks) score -inf. The blank scores -inf. pre_beam_floor: a token whose log posterior
    reaches it in some frame of an utterance is "supported" there (``pre_beam_tokens``: scored
    under ``seq2seq_beam_search``'s pre-beam whatever the decoder's rank); None: none is.

    >>> lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]], dtype=torch.float64).log()[None]   # blank 0, label 1
    >>> scorer = CTCPrefixScorer(lp, torch.tensor([2]), blank=0, eos=2, beam_width=1, vocab_size=3)
    >>> state = scorer.initial(1)
    >>> scorer.log_probs(state).exp()           # P(prefix "1") = .64; P("" is all) = .36
    tensor([[0.0000, 0.6400, 0.3600]], dtype=torch.float64)
    """

    def __init__(self, log_probs: torch.Tensor, lengths, blank: int, eos: int, beam_width: int,
                 vocab_size: int | None = None, pre_beam_floor: float | None = PRE_BEAM_FLOOR):
        if log_probs.ndim != 3:
            raise ValueError(f"CTCPrefixScorer: expected log_probs of shape (B, T, C), got {tuple(log_probs.shape)}")
        B, T, C = log_probs.shape
        dtype = torch.promote_types(log_probs.dtype, torch.float32)
        lengths = torch.as_tensor(lengths, device=log_probs.device).long()
        if lengths.shape != (B,):
            raise ValueError(f"CTCPrefixScorer: expected lengths of shape ({B},), got {tuple(lengths.shape)}")
        frames = torch.arange(T, device=log_probs.device)
        self.x = log_probs.detach().to(dtype).masked_fill((frames >= lengths[:, None])[:, :, None], NEG_INF)
        self.lengths, self.blank, self.eos, self.beam_width = lengths, blank, eos, beam_width
        self.vocab_size = C if vocab_size is None else vocab_size
        if self.vocab_size > C:                                                # tokens the CTC never emits
            self.x = torch.cat([self.x, self.x.new_full((B, T, self.vocab_size - C), NEG_INF)], dim=2)
        self.B, self.T, self.C = B, T, C
        self.support = None
        if pre_beam_floor is not None:                                          # see pre_beam_tokens
            supported = self.x.amax(1) >= pre_beam_floor if T else self.x.new_zeros((B, self.vocab_size), dtype=bool)
            supported[:, blank] = False
            if eos < self.vocab_size:
                supported[:, eos] = True
            count = supported.sum(1)
            order = supported.to(torch.uint8).argsort(dim=1, descending=True, stable=True)
            order = order[:, :int(count.max()) if B else 0]
            self.support = order.masked_fill(torch.arange(order.shape[1], device=order.device) >= count[:, None], -1)

    def initial(self, rows: int, device=None) -> dict:
        if rows % self.B:
            raise ValueError(f"CTCPrefixScorer.initial: {rows} rows is not a multiple of the batch of {self.B}")
        utt = torch.arange(rows, device=self.x.device) // (rows // self.B)
        r = torch.full((rows, self.T, 2), NEG_INF, dtype=self.x.dtype, device=self.x.device)
        r[:, :, 1] = self.x[utt, :, self.blank].cumsum(1)                     # only blanks so far
        zeros = torch.zeros(rows, dtype=torch.long, device=self.x.device)
        return {"utt": utt, "r": r, "psi": torch.zeros(rows, dtype=self.x.dtype, device=self.x.device),
                "last": zeros - 1, "length": zeros}

    def _extend_one(self, state, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """psi (rows,) and forward variables (rows, T, 2) of each row's prefix extended by its token,
        without a loop over frames: with X_t = sum_{u<=t} x_u(c) the recursion unrolls to
        r_t^n = X_t + logcumsumexp_s (phi_{s-1} - X_{s-1}), and likewise r_t^b with the blank
        (float64; log probs below -1e4 count as -1e4 there, which is zero probability anyway)."""
        utt, r, last, length = state["utt"], state["r"].double(), state["last"], state["length"]
        rows, frames = len(utt), torch.arange(self.T, device=r.device)
        x = self.x[utt[:, None], frames[None, :], tokens[:, None]].double()    # (rows, T)
        x_blank = self.x[utt, :, self.blank].double()
        X, XB = x.clamp(min=-1e4).cumsum(1), x_blank.clamp(min=-1e4).cumsum(1)
        same = (tokens == last)[:, None]
        phi = torch.logaddexp(r[:, :, 1], torch.where(same, NEG_INF, r[:, :, 0]))   # (rows, T)
        start = torch.where(length == 0, 0.0, NEG_INF).to(r)[:, None]          # r_0^n = x_0 when h is empty
        r_n = X + torch.cat([start, phi[:, :-1] - X[:, :-1]], 1).logcumsumexp(1)
        never = torch.full((rows, 1), NEG_INF, dtype=r.dtype, device=r.device)
        r_b = XB + torch.cat([never, r_n[:, :-1] - XB[:, :-1]], 1).logcumsumexp(1)
        psi = torch.cat([start + x[:, :1], phi[:, :-1] + x[:, 1:]], 1).logsumexp(1)
        psi = psi.masked_fill(tokens == self.blank, NEG_INF)
        return psi.to(state["r"].dtype), torch.stack([r_n, r_b], 2).to(state["r"].dtype)

    def _psi_all(self, state) -> torch.Tensor:
        """(rows, vocab_size) psi of every one-token extension; cached in ``state`` for ``advance``.
        No recursion: psi(h+c) = logsumexp_t (phi_{t-1}(c) + x_t(c)), in chunks of frames."""
        if "cache" in state:
            return state["cache"]
        utt, r, last, length = state["utt"], state["r"], state["last"], state["length"]
        rows, V = len(utt), self.vocab_size
        tokens = torch.arange(V, device=r.device)
        same = (tokens[None, :] == last[:, None])[:, None, :]                   # (rows, 1, V)
        psi = torch.where((length == 0)[:, None], self.x[utt, 0, :V], NEG_INF)  # t = 0: h empty
        chunk = max(1, 2 ** 22 // max(rows * V, 1))
        for t0 in range(max(int(length.min()), 1), self.T, chunk):
            t1 = min(t0 + chunk, self.T)
            r_b, r_n = r[:, t0 - 1:t1 - 1, 1, None], r[:, t0 - 1:t1 - 1, 0, None]   # (rows, S, 1)
            phi = torch.logaddexp(r_b, torch.where(same, NEG_INF, r_n))        # (rows, S, V)
            psi = torch.logaddexp(psi, (phi + self.x[utt, t0:t1, :V]).logsumexp(1))
        state["cache"] = psi.masked_fill(tokens[None, :] == self.blank, NEG_INF)
        return state["cache"]

    def _psi_some(self, state, tokens: torch.Tensor) -> torch.Tensor:
        """(rows, k) psi of the extensions of each row by its own k ``tokens`` (rows, k) only:
        the pre-beam partial scoring of ESPnet. The k columns of the frames are gathered once,
        (rows, k, T), instead of (rows, T, V)."""
        utt, r, last, length = state["utt"], state["r"], state["last"], state["length"]
        rows, k = tokens.shape
        x = self.x.transpose(1, 2)[utt[:, None], tokens]                       # (rows, k, T)
        same = (tokens == last[:, None])[:, :, None]                           # (rows, k, 1)
        psi = torch.where((length == 0)[:, None], x[:, :, 0], NEG_INF)         # t = 0: h empty
        t0 = max(int(length.min()), 1) if rows else 1
        if t0 < self.T:
            r_b, r_n = r[:, t0 - 1:-1, 1][:, None, :], r[:, t0 - 1:-1, 0][:, None, :]   # (rows, 1, S)
            phi = torch.logaddexp(r_b, torch.where(same, NEG_INF, r_n))         # (rows, k, S)
            psi = torch.logaddexp(psi, (phi + x[:, :, t0:]).logsumexp(2))
        return psi.masked_fill(tokens == self.blank, NEG_INF)

    def pre_beam_tokens(self, state) -> torch.Tensor | None:
        """(rows, s) tokens that ``seq2seq_beam_search(pre_beam=k)`` scores besides the decoder's k
        best: the tokens the CTC head supports in the row's utterance (log posterior >= the
        ``pre_beam_floor`` in some frame, found once per utterance) and eos; -1 pads. A token the
        CTC is sure of is never lost to a decoder that ranks it low. None without a floor."""
        return None if self.support is None else self.support[state["utt"]]

    def partial_log_probs(self, state, tokens: torch.Tensor) -> torch.Tensor:
        """``log_probs(state)`` at the (rows, k) ``tokens`` only (eos included: the final score):
        a (rows, k) tensor, equal to ``log_probs(state).gather(1, tokens)``. Decoders call it with
        the k best next tokens of the attention decoder (``seq2seq_beam_search``'s ``pre_beam``)."""
        tokens = tokens.to(state["r"].device)
        psi = self._psi_some(state, tokens.clamp(max=self.vocab_size - 1))
        possible = (state["psi"] > NEG_INF)[:, None]
        out = torch.where(possible, psi - state["psi"][:, None], NEG_INF)
        return torch.where(tokens == self.eos, self.final(state)[:, None], out)

    def full(self, state) -> torch.Tensor:
        """(rows,) log P_ctc(h): the alignments of the whole utterance that collapse to h."""
        end = (self.lengths[state["utt"]] - 1).clamp(min=0)
        r_end = state["r"][torch.arange(len(end), device=end.device), end]     # (rows, 2)
        empty = torch.where(state["length"] == 0, 0.0, NEG_INF).to(r_end.dtype)
        return torch.where(self.lengths[state["utt"]] > 0, r_end.logsumexp(1), empty)

    def log_probs(self, state) -> torch.Tensor:
        psi = self._psi_all(state)
        possible = (state["psi"] > NEG_INF)[:, None]                           # impossible prefix: -inf, not nan
        out = torch.where(possible, psi - state["psi"][:, None], NEG_INF)
        if self.eos < self.vocab_size:
            out[:, self.eos] = self.final(state)
        return out

    def final(self, state) -> torch.Tensor:
        return torch.where(state["psi"] > NEG_INF, self.full(state) - state["psi"], NEG_INF)

    def advance(self, state, tokens: torch.Tensor) -> dict:
        tokens = tokens.to(state["r"].device)
        grow = tokens >= 0
        psi, new_r = self._extend_one(state, tokens.clamp(min=0))
        return {"utt": state["utt"], "r": torch.where(grow[:, None, None], new_r, state["r"]),
                "psi": torch.where(grow, psi, state["psi"]),
                "last": torch.where(grow, tokens, state["last"]),
                "length": state["length"] + grow.long()}

    def select(self, state, index: torch.Tensor) -> dict:
        return {k: v[index] for k, v in state.items()}
