"""``NeuralLM``: a ``TokenScorer`` (``common.lm.scorer``) over a causal torch LM
``model(tokens (N, t)) -> logits (N, t, V)``, for shallow fusion in the decoders."""
from __future__ import annotations

import torch

__all__ = ["NeuralLM"]


class NeuralLM:
    """A causal torch LM as a ``TokenScorer``: ``model(tokens (N, t)) -> logits (N, t, V)``.

    Uncached: every ``advance`` reruns the model over the whole history of the rows that grew
    (histories start with ``sos``; ``final`` is the log probability of ``eos``).

    >>> torch.manual_seed(0) and None
    >>> emb = torch.nn.Embedding(5, 5)
    >>> lm = NeuralLM(emb, sos=4, eos=3)
    >>> state = lm.advance(lm.initial(2), torch.tensor([1, -1]))
    >>> torch.allclose(lm.log_probs(state)[0], emb.weight[1].log_softmax(-1))
    True
    """

    def __init__(self, model, sos: int, eos: int, vocab_size: int | None = None):
        self.model, self.sos, self.eos = model, sos, eos
        if vocab_size is None:
            param = next(iter(model.parameters()), None)
            device = param.device if param is not None else None
            vocab_size = self._run(torch.tensor([[sos]], device=device), torch.tensor([1], device=device)).shape[-1]
        self.vocab_size = vocab_size

    @torch.no_grad()
    def _run(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self.model(tokens)                                       # (N, t, V)
        last = logits[torch.arange(len(tokens), device=logits.device), lengths.to(logits.device) - 1]
        return torch.log_softmax(last.to(torch.promote_types(last.dtype, torch.float32)), dim=-1)

    def initial(self, rows: int, device=None) -> dict:
        tokens = torch.full((rows, 1), self.sos, dtype=torch.long, device=device)
        lengths = torch.ones(rows, dtype=torch.long, device=device)
        first = self._run(tokens[:1], lengths[:1]).to(device)
        return {"tokens": tokens, "lengths": lengths, "log_probs": first.expand(rows, -1).clone()}

    def log_probs(self, state) -> torch.Tensor:
        return state["log_probs"]

    def final(self, state) -> torch.Tensor:
        return state["log_probs"][:, self.eos]

    def advance(self, state, tokens: torch.Tensor) -> dict:
        history, lengths, log_probs = state["tokens"], state["lengths"], state["log_probs"]
        tokens = tokens.to(history.device)
        grow = (tokens >= 0).nonzero().flatten()
        if grow.numel() == 0:
            return state
        new_lengths = lengths.clone()
        new_lengths[grow] += 1
        width = int(new_lengths.max())
        if width > history.shape[1]:                                      # right-pad with eos
            history = torch.cat([history, history.new_full((len(history), width - history.shape[1]), self.eos)], 1)
        else:
            history = history.clone()
        history[grow, new_lengths[grow] - 1] = tokens[grow]
        log_probs = log_probs.clone()
        rows_len = new_lengths[grow]
        log_probs[grow] = self._run(history[grow, :int(rows_len.max())], rows_len).to(log_probs.device)
        return {"tokens": history, "lengths": new_lengths, "log_probs": log_probs}

    def select(self, state, index: torch.Tensor) -> dict:
        return {k: v[index] for k, v in state.items()}
