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
"""
from __future__ import annotations

import torch

__all__ = ["CTCPrefixScorer"]

NEG_INF = float("-inf")


class CTCPrefixScorer:
    """CTC prefix scorer over the encoder's CTC log probabilities of a batch.

    log_probs: (B, T, C) CTC log probabilities; lengths: (B,) frames per utterance; blank: the CTC
    blank id; eos: the decoder's end token (scored as "the prefix is the whole sequence");
    beam_width: hypotheses per utterance, rows ``b*beam_width .. b*beam_width+beam_width-1`` belong
    to utterance b (``initial`` accepts any multiple of B rows). vocab_size: the decoder's
    vocabulary (default C); classes >= vocab_size are never proposed, tokens >= C (e.g. an eos the
    CTC head lacks) score -inf. The blank scores -inf.

    >>> lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]], dtype=torch.float64).log()[None]   # blank 0, label 1
    >>> scorer = CTCPrefixScorer(lp, torch.tensor([2]), blank=0, eos=2, beam_width=1, vocab_size=3)
    >>> state = scorer.initial(1)
    >>> scorer.log_probs(state).exp()           # P(prefix "1") = .64; P("" is all) = .36
    tensor([[0.0000, 0.6400, 0.3600]], dtype=torch.float64)
    """

    def __init__(self, log_probs: torch.Tensor, lengths, blank: int, eos: int, beam_width: int,
                 vocab_size: int | None = None):
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
        self.B, self.T, self.C = B, T, C

    def initial(self, rows: int, device=None) -> dict:
        if rows % self.B:
            raise ValueError(f"CTCPrefixScorer.initial: {rows} rows is not a multiple of the batch of {self.B}")
        utt = torch.arange(rows, device=self.x.device) // (rows // self.B)
        r = torch.full((rows, self.T, 2), NEG_INF, dtype=self.x.dtype, device=self.x.device)
        r[:, :, 1] = self.x[utt, :, self.blank].cumsum(1)                     # only blanks so far
        zeros = torch.zeros(rows, dtype=torch.long, device=self.x.device)
        return {"utt": utt, "r": r, "psi": torch.zeros(rows, dtype=self.x.dtype, device=self.x.device),
                "last": zeros - 1, "length": zeros}

    def _extend_all(self, state) -> tuple[torch.Tensor, torch.Tensor]:
        """r (rows, T, 2, V) and psi (rows, V) of every one-token extension of each row."""
        utt, r, last, length = state["utt"], state["r"], state["last"], state["length"]
        V, rows = self.vocab_size, len(utt)
        c = torch.arange(V, device=r.device)
        x = self.x[utt][:, :, :V]                                              # (rows, T, V)
        if V > self.C:                                                         # tokens CTC never emits
            x = torch.cat([x, x.new_full((rows, self.T, V - self.C), NEG_INF)], dim=2)
        x_blank = self.x[utt][:, :, self.blank]                                # (rows, T)
        same = c[None, :] == last[:, None]                                     # (rows, V)
        phi = torch.logaddexp(r[:, :, 1, None], torch.where(same[:, None, :], NEG_INF, r[:, :, 0, None]))
        new_r = torch.full((rows, self.T, 2, V), NEG_INF, dtype=r.dtype, device=r.device)
        new_r[:, 0, 0] = torch.where((length == 0)[:, None], x[:, 0], NEG_INF)
        start = max(int(length.min()), 1)
        for t in range(start, self.T):
            new_r[:, t, 0] = torch.logaddexp(new_r[:, t - 1, 0], phi[:, t - 1]) + x[:, t]
            new_r[:, t, 1] = torch.logaddexp(new_r[:, t - 1, 1], new_r[:, t - 1, 0]) + x_blank[:, t, None]
        terms = torch.cat([new_r[:, :1, 0], phi[:, :-1] + x[:, 1:]], dim=1)    # (rows, T, V)
        psi = terms.logsumexp(1)
        if self.blank < V:
            psi[:, self.blank] = NEG_INF
        return new_r, psi

    def _cached(self, state):
        if "cache" not in state:
            state["cache"] = self._extend_all(state)                           # kept for advance
        return state["cache"]

    def full(self, state) -> torch.Tensor:
        """(rows,) log P_ctc(h): the alignments of the whole utterance that collapse to h."""
        end = (self.lengths[state["utt"]] - 1).clamp(min=0)
        r_end = state["r"][torch.arange(len(end), device=end.device), end]     # (rows, 2)
        empty = torch.where(state["length"] == 0, 0.0, NEG_INF).to(r_end.dtype)
        return torch.where(self.lengths[state["utt"]] > 0, r_end.logsumexp(1), empty)

    def log_probs(self, state) -> torch.Tensor:
        _, psi = self._cached(state)
        possible = (state["psi"] > NEG_INF)[:, None]                           # impossible prefix: -inf, not nan
        out = torch.where(possible, psi - state["psi"][:, None], NEG_INF)
        if self.eos < self.vocab_size:
            out[:, self.eos] = self.final(state)
        return out

    def final(self, state) -> torch.Tensor:
        return torch.where(state["psi"] > NEG_INF, self.full(state) - state["psi"], NEG_INF)

    def advance(self, state, tokens: torch.Tensor) -> dict:
        new_r, psi = self._cached(state)
        tokens = tokens.to(state["r"].device)
        grow = tokens >= 0
        tok = tokens.clamp(min=0)
        rows = torch.arange(len(tok), device=tok.device)
        r = torch.where(grow[:, None, None], new_r[rows, :, :, tok], state["r"])
        return {"utt": state["utt"], "r": r,
                "psi": torch.where(grow, psi[rows, tok], state["psi"]),
                "last": torch.where(grow, tokens, state["last"]),
                "length": state["length"] + grow.long()}

    def select(self, state, index: torch.Tensor) -> dict:
        out = {k: v[index] for k, v in state.items() if k != "cache"}
        if "cache" in state:
            out["cache"] = tuple(v[index] for v in state["cache"])
        return out
