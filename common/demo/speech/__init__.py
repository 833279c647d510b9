"""Demo speech corpus: the Kaggle layouts of HW1P2, HW3P2 and HW4P2 from synthetic speech.

    from . import write_hw1p2, write_hw3p2, write_hw4p2, DEMO_SIZES, PHONEMES
    root = write_hw1p2(base_dir, size="tiny", seed=0)   # base_dir / "11-785-f24-hw1p2"
    root = write_hw3p2(base_dir, size="tiny", seed=0)   # base_dir / "11-785-f24-hw3p2"
    root = write_hw4p2(base_dir, size="tiny", seed=0)   # base_dir / "hw4p2"

Utterances are sentences of real English words (a built-in lexicon with CMUdict
pronunciations) rendered by a small source-filter model with coarticulation, speakers and
noise (``synth.py``), so that the notebooks learn something real and context matters.
``size`` is "tiny" | "small" | "medium" (``DEMO_SIZES``), a number of training utterances,
or a dict of counts. Same seed, same bytes; a folder already written with the same
arguments is returned as it is. Test answers: ``root/"demo_truth"/"test-clean"``.
NumPy only (no torch), so that importing it is fast.
"""
# the 42 phonemes of HW1P2/HW3P2 in the course's order (label = index): one list, the vocabulary's
from common.vocab import HW1_PHONEMES

from .layouts import DEMO_SIZES, resolve_size, write_hw1p2, write_hw3p2, write_hw4p2

PHONEMES = HW1_PHONEMES.tokens

__all__ = ["DEMO_SIZES", "PHONEMES", "resolve_size", "write_hw1p2", "write_hw3p2", "write_hw4p2"]
