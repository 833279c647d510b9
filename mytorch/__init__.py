"""MyTorch: the course's deep learning library written from scratch in NumPy (Part 1).

Every layer has ``forward`` and ``backward`` side by side; gradients are stored on the
layer (``dLdW``, ``dLdb``, ...). This package never imports torch (its tests do).

It follows the course's handouts, names and call forms, so the course's own autograders
pass with only their module paths mapped. Where the course deliberately computes something
other than PyTorch, the course's form is the default and PyTorch's is one argument away
(each class's docstring says why):

- ``nn.Dropout.backward``: delta * mask, without the forward's 1/(1-p)
  (``scale_backward=True``: PyTorch's);
- ``nn.RNNCell``: N(0, 1) initial weights drawn in the course's order, parameter gradients
  averaged over the batch (``init="uniform"``, ``batch_mean=False``: PyTorch's);
- ``nn.GRUCell``: N(0, 1) initial weights drawn in the course's order (``init="uniform"``:
  PyTorch's);
- ``models.RNNPhonemeClassifier.backward``: the cells' gradients and the returned dh_0
  divided by N, the output Linear's left as ``Linear.backward`` computes them
  (``batch_mean=False``: PyTorch's);
- ``nn.CTCLoss``: forward is the course's divergence -sum gamma log y, backward is not
  divided by the batch size (``convention="torch"``: -log P and its exact gradient);
- ``autograd.Autograd``: the course's tape engine, beside ``autograd.Tensor``.
"""
from . import nn, optim, models, autograd, decoding  # noqa: F401
from .serialization import save, load  # noqa: F401

__all__ = ["nn", "optim", "models", "autograd", "decoding", "save", "load"]
