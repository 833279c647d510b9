"""Small shared library for the Part 2 notebooks (PyTorch).

One file per concern, functions over tensors, no hidden global state. Import the
submodules directly (``from common.engine.train import train_epoch``); this package import is
kept light so that a notebook's setup cell is fast.
"""
__version__ = "0.1.0"
