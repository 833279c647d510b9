"""Faces (HW2P2): image reading and batching (``data``), device-side augmentation (``augment``),
face losses (``losses``). Import the submodules directly."""
