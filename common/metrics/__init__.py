"""Metrics: classification, sequence (edit distance, CER/WER and their substitution/insertion/deletion
breakdown, through rapidfuzz) and verification (EER, ROC)."""
from .classification import *  # noqa: F401,F403
from .sequence import *  # noqa: F401,F403
from .verification import *  # noqa: F401,F403
