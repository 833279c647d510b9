"""Device, seeding, mixed precision and compilation helpers.

AMP policy (what the training loop uses):
- CUDA with bf16 support (Ampere and newer: A100, L4, H100; Colab's T4 and Kaggle's P100
  lack it): bfloat16 autocast, no gradient scaler (bf16 has fp32's exponent range).
- other CUDA GPUs (T4, P100, V100): float16 autocast with a ``GradScaler``.
- CPU / MPS: float32 (``None``): CPU autocast exists but is slower than fp32 for MLPs.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "amp_dtype", "make_grad_scaler", "maybe_compile",
           "autocast", "count_parameters"]


def get_device(prefer: str | None = None) -> torch.device:
    """``prefer`` ("cuda", "cpu", "mps") if given, else CUDA > MPS > CPU."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)


def amp_dtype(device: torch.device | str, enabled: bool = True) -> torch.dtype | None:
    """The autocast dtype for ``device``: bf16 / fp16 on CUDA, ``None`` (fp32) elsewhere."""
    device = torch.device(device)
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def make_grad_scaler(device: torch.device | str, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is enabled only for fp16 autocast (bf16 and fp32 need none)."""
    device = torch.device(device)
    return torch.amp.GradScaler(device.type, enabled=(dtype == torch.float16))


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype``, or a disabled context when ``dtype`` is None."""
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=dtype or torch.float32,
                          enabled=dtype is not None)


def maybe_compile(model: torch.nn.Module, enabled: bool, **kwargs) -> torch.nn.Module:
    """``torch.compile(model)`` when ``enabled`` and a CUDA device is present, else ``model``.

    Compilation pays off on GPUs for long runs; on CPU notebooks it only adds start-up time.
    The compiled module shares parameters with ``model``: save ``model.state_dict()``.
    """
    if enabled and torch.cuda.is_available():
        return torch.compile(model, **kwargs)
    return model


def count_parameters(model: torch.nn.Module, limit: int | None = None, name: str | None = None,
                     hint: str = "make the model smaller") -> int:
    """Print and return the number of trainable parameters, against the course ``limit``.

    Over the limit it raises ``ValueError`` naming the count, the limit and ``hint`` (what to
    shrink), so that a notebook never trains a model the course would not accept.
    """
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    name = name or type(model).__name__
    if limit is None:
        print(f"{name}: {n:,} trainable parameters")
        return n
    print(f"{name}: {n:,} trainable parameters (limit {limit:,}: {'OK' if n <= limit else 'OVER THE LIMIT'}, "
          f"{n / limit:.1%})")
    if n > limit:
        raise ValueError(f"{name} has {n:,} trainable parameters, over the course limit of {limit:,} "
                         f"by {n - limit:,}: {hint}")
    return n
