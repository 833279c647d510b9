"""MyTorch: the course's deep learning library written from scratch in NumPy (Part 1).

Every layer has ``forward`` and ``backward`` side by side; gradients are stored on the
layer (``dLdW``, ``dLdb``, ...). This package never imports torch (its tests do).
"""
from . import nn, optim, models, autograd, decoding  # noqa: F401
from .serialization import save, load  # noqa: F401

__all__ = ["nn", "optim", "models", "autograd", "decoding", "save", "load"]
