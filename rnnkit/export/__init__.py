"""Leaving the training process: streaming a sequence chunk by chunk (``stream``)."""
from .stream import Stream

__all__ = ["Stream"]
