"""Optimizers over ``mytorch`` layers, each matching ``torch.optim`` step for step.

``step()`` reads every layer's gradients (found by ``mytorch.serialization.named_parameters``:
Linear's W/b, BatchNorm's BW/Bb, Swish's beta, and any layer that declares ``param_grads``)
and updates the parameters in place. Layers overwrite their gradients in ``backward``, so
``zero_grad()`` is only needed when a gradient should not be used twice.
"""
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSProp

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSProp"]
