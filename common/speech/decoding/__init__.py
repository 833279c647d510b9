"""Decoders over padded log-probabilities plus lengths, with language-model fusion.

``ctc`` (greedy, batched prefix beam search), ``seq2seq`` (batched greedy and beam search over a
cached or uncached step function), ``ctc_prefix`` (``CTCPrefixScorer`` for joint attention/CTC
decoding). Language models come in through the ``TokenScorer`` interface of ``common.lm``.
"""
from .ctc import ctc_beam_search, ctc_greedy_decode
from .ctc_prefix import CTCPrefixScorer
from .seq2seq import reorder_state, seq2seq_beam_search, seq2seq_greedy_decode, trim_at_eos

__all__ = ["ctc_greedy_decode", "ctc_beam_search", "seq2seq_greedy_decode", "seq2seq_beam_search",
           "reorder_state", "trim_at_eos", "CTCPrefixScorer"]
