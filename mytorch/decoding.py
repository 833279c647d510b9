"""CTC decoders (placeholder until the RNN issue lands)."""
__all__ = []
