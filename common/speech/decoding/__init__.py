"""Decoders over padded log-probabilities plus lengths: CTC (``ctc``) and seq2seq (``seq2seq``)."""
from .ctc import ctc_beam_search, ctc_greedy_decode
from .seq2seq import seq2seq_beam_search, seq2seq_greedy_decode

__all__ = ["ctc_greedy_decode", "ctc_beam_search", "seq2seq_greedy_decode", "seq2seq_beam_search"]
