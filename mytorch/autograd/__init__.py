"""Autograd engine (placeholder until the MLP issue lands)."""
__all__ = []
