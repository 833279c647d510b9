"""The model cells of hw4p1.ipynb (tagged ``model``) as a namespace, for tests and benchmarks."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from common.nn_regularizers import EmbeddingDropout, LockedDropout, WeightDrop
from common.notebook.cells import notebook_namespace

NOTEBOOK = Path(__file__).resolve().parents[2] / "hw4_transformer" / "hw4p1.ipynb"


def notebook_models(tag: str = "model") -> SimpleNamespace:
    """Execute the notebook's cells tagged ``tag`` with the names its setup cell imports."""
    ns = {"math": math, "torch": torch, "nn": nn, "F": F, "LockedDropout": LockedDropout,
          "EmbeddingDropout": EmbeddingDropout, "WeightDrop": WeightDrop, "__name__": "hw4p1_models"}
    ns = notebook_namespace(NOTEBOOK, (tag,), ns)
    return SimpleNamespace(**{k: v for k, v in ns.items() if not k.startswith("__")})
