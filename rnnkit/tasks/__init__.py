"""The seeds' applications as tasks: ``rnnkit train TASK``.

A task registers itself by subclassing ``base.Task`` with a ``name`` (``base.REGISTRY``), so a task defined
outside this package is trained, evaluated and predicted by the same commands once its module is imported;
an installed package names such modules as entry points of the group ``rnnkit.tasks``, loaded here.
"""
import sys
from importlib.metadata import entry_points

from .base import REGISTRY
from .charlm import CharLM
from .classify import Classify
from .regress import Regress
from .seq2seq import Seq2SeqTask
from .caption import Caption
from .reber import Reber
from .forecast import Forecast
from .memory import Memory
from .tag import Tag
from .binary_add import BinaryAdd

TASKS = REGISTRY                 # name -> task class, in the order above, then any registered later

for _plugin in entry_points(group="rnnkit.tasks"):     # after TASKS: a plug-in may import it
    try:
        _plugin.load()
    except Exception as e:           # a broken plugin must not take every command down with it
        print(f"rnnkit: warning: the task plugin {_plugin.value} did not load ({type(e).__name__}: {e})",
              file=sys.stderr)

__all__ = ["TASKS", "CharLM", "Classify", "Regress", "Seq2SeqTask", "Caption", "Reber", "Forecast", "Memory", "Tag",
           "BinaryAdd"]
