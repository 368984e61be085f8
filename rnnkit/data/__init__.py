"""Data: padding and lengths, and generators (Reber grammar)."""
from .padding import pad_sequences
from .reber import ReberGrammar

__all__ = ["pad_sequences", "ReberGrammar"]
