"""The seeds' applications as tasks: ``rnnkit train TASK``."""
from .caption import Caption
from .charlm import CharLM
from .classify import Classify
from .forecast import Forecast
from .memory import Memory
from .reber import Reber
from .regress import Regress
from .seq2seq import Seq2SeqTask
from .tag import Tag

TASKS = {t.name: t for t in (CharLM, Classify, Regress, Seq2SeqTask, Caption, Reber, Forecast, Memory, Tag)}

__all__ = ["TASKS"]
