"""The training engine every notebook uses: device, seeding and AMP (``device``), the train loop and
``fit`` (``train``) and its option groups (``options``: ``Validation``, ``Precision``, ``Stepping``,
``Checkpointing``), checkpoints (``checkpoint``) and resuming (``resume``), learning-rate schedules
(``schedule``), multi-GPU (``distributed``), wandb (``tracking``) and atomic file writes (``files``).

Import the submodules directly (``from common.engine.train import fit``). Nothing here imports a
domain package (speech, faces, text, lm).
"""
