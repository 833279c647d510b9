"""Decoders over padded log-probabilities plus lengths, with language-model fusion.

``ctc`` (greedy, batched prefix beam search), ``seq2seq`` (batched greedy and beam search over a
cached or uncached step function), ``lm`` (the ``TokenScorer`` interface,
``NeuralLM``), ``ngram`` (``NGramLM``, dense or sparse), ``ctc_prefix`` (``CTCPrefixScorer`` for
joint attention/CTC decoding).
"""
from .ctc import ctc_beam_search, ctc_greedy_decode
from .ctc_prefix import CTCPrefixScorer
from .lm import NeuralLM, TokenScorer
from .ngram import NGramLM
from .seq2seq import reorder_state, seq2seq_beam_search, seq2seq_greedy_decode

__all__ = ["ctc_greedy_decode", "ctc_beam_search", "seq2seq_greedy_decode", "seq2seq_beam_search",
           "reorder_state", "TokenScorer", "NGramLM", "NeuralLM", "CTCPrefixScorer"]
