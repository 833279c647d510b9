"""Metrics: classification, sequence (edit distance, CER/WER and their substitution/insertion/deletion
breakdown, through rapidfuzz), verification (EER, ROC) and attention (diagonality of an alignment)."""
from .classification import *  # noqa: F401,F403
from .sequence import *  # noqa: F401,F403
from .verification import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
