"""The model cells of hw4p1.ipynb (tagged ``model``) as a namespace, for tests and benchmarks."""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from common.nn_regularizers import EmbeddingDropout, LockedDropout, WeightDrop

NOTEBOOK = Path(__file__).resolve().parents[2] / "hw4_transformer" / "hw4p1.ipynb"


def notebook_models(tag: str = "model") -> SimpleNamespace:
    """Execute the notebook's cells tagged ``tag`` with the names its setup cell imports."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    ns = {"math": math, "torch": torch, "nn": nn, "F": F, "LockedDropout": LockedDropout,
          "EmbeddingDropout": EmbeddingDropout, "WeightDrop": WeightDrop, "__name__": "hw4p1_models"}
    sources = ["".join(c["source"]) for c in cells if tag in c.get("metadata", {}).get("tags", [])]
    if not sources:
        raise LookupError(f"{NOTEBOOK} has no cell tagged {tag!r}")
    for src in sources:
        exec(compile(src, f"{NOTEBOOK.name}[{tag}]", "exec"), ns)
    return SimpleNamespace(**{k: v for k, v in ns.items() if not k.startswith("__")})
