"""Leaving the training process: streaming a sequence chunk by chunk (``stream``), and ONNX files of a
step or of the whole sequence (``onnx``; needs the ``onnx`` package, imported on use), a torch.export
program of a step (``torch``)."""
from .stream import Stream

__all__ = ["Stream", "export_step", "export_sequence"]


def export_step(*args, **kwargs):
    """``rnnkit.export.onnx.export_step``."""
    from .onnx import export_step as run
    return run(*args, **kwargs)


def export_sequence(*args, **kwargs):
    """``rnnkit.export.onnx.export_sequence``."""
    from .onnx import export_sequence as run
    return run(*args, **kwargs)
