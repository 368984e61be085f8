"""The seeds' applications as tasks: ``rnnkit train TASK``."""
from .charlm import CharLM

TASKS = {t.name: t for t in (CharLM,)}

__all__ = ["TASKS"]
