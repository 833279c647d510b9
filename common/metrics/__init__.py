"""Metrics: classification, sequence (edit distance) and verification (EER, ROC)."""
from .classification import *  # noqa: F401,F403
from .sequence import *  # noqa: F401,F403
from .verification import *  # noqa: F401,F403
