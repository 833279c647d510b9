"""Language models used by the decoders and by HW4P1: the ``TokenScorer`` interface every decoder
fuses through (``scorer``), the n-gram model, dense or sparse (``ngram``), the adapter over a causal
torch LM (``neural``) and the ``lm.pt`` format HW4P1 exports and HW4P2 loads (``checkpoint``).

    from . import NGramLM, NeuralLM, TokenScorer

Depends on ``common.engine`` (atomic files, checkpoints) and ``common.vocab``; the decoders in
``common.speech.decoding`` depend on it, never the other way.
"""
from .neural import NeuralLM
from .ngram import NGramLM
from .scorer import TokenScorer

__all__ = ["TokenScorer", "NGramLM", "NeuralLM"]
