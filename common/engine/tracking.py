"""Optional Weights & Biases logging: off by default, never needs a network.

``init_wandb(enabled=False)`` returns None and imports nothing. When enabled, the run is
online only if the user is logged in (``WANDB_API_KEY`` set or ``wandb login`` done);
otherwise it is written offline to ``wandb/`` and can be synced later with ``wandb sync``.
"""
from __future__ import annotations

import os

__all__ = ["init_wandb"]


def init_wandb(enabled: bool = False, project: str = "idl-notebooks", config: dict | None = None,
               name: str | None = None, dir: str | None = None):
    """A wandb run (with ``.log(dict, step=...)``) or None when disabled."""
    if not enabled:
        return None
    try:
        import wandb
    except ImportError as err:
        raise ImportError("WANDB=True needs the wandb package: pip install wandb") from err
    if "WANDB_MODE" not in os.environ:
        logged_in = bool(os.environ.get("WANDB_API_KEY")) or bool(wandb.api.api_key)
        os.environ["WANDB_MODE"] = "online" if logged_in else "offline"
    return wandb.init(project=project, config=config or {}, name=name, dir=dir, reinit=True)
