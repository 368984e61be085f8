"""Config dataclass fields that carry their ``--help`` text and their valid values.

The command line builds its flags from these fields, and ``check_config`` checks every value where
it arrives (a flag, a ``--config`` file, a run's config.json), naming the flag and the value received.

>>> from dataclasses import dataclass
>>> @dataclass
... class C:
...     rate: float = option("a rate", 0.5, at_least=0.0, below=1.0)
>>> check_config(C(rate=1.5))
Traceback (most recent call last):
...
rnnkit.errors.UserError: --rate must be a number in [0.0, 1.0); received 1.5
"""
from __future__ import annotations

import math
from dataclasses import field, fields
from typing import Any

from .errors import UserError

__all__ = ["option", "check_config", "flag_name"]


def option(help_text: str, default: Any, *, choices=None, at_least=None, above=None, at_most=None,
           below=None) -> Any:
    """A dataclass field with a default, the help line of its flag and the values it accepts."""
    return field(default=default, metadata={"help": help_text, "choices": choices, "at_least": at_least,
                                            "above": above, "at_most": at_most, "below": below})


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _range_text(m: dict) -> str:
    lo = f"[{m['at_least']}" if m["at_least"] is not None else (f"({m['above']}" if m["above"] is not None else "(-inf")
    hi = f"{m['at_most']}]" if m["at_most"] is not None else (f"{m['below']})" if m["below"] is not None else "inf)")
    return f"{lo}, {hi}"


def check_value(name: str, kind: str, value: Any, m: dict) -> Any:
    """``value`` for the field ``name`` of type ``kind`` (bool, int, float, str), checked; ints become
    floats where a float is expected."""
    flag = flag_name(name)
    if kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"{flag} must be true or false; received {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise UserError(f"{flag} must be a string; received {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{flag} must be an integer; received {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{flag} must be a finite number; received {value!r}")
        value = float(value)
    if m.get("choices") is not None and value not in m["choices"]:
        raise UserError(f"{flag} must be one of {', '.join(map(str, m['choices']))}; received {value!r}")
    if kind in ("int", "float"):
        ok = ((m.get("at_least") is None or value >= m["at_least"]) and (m.get("above") is None or value > m["above"])
              and (m.get("at_most") is None or value <= m["at_most"]) and (m.get("below") is None or value < m["below"]))
        if not ok:
            what = "an integer" if kind == "int" else "a number"
            raise UserError(f"{flag} must be {what} in {_range_text(m)}; received {value!r}")
    return value


def check_config(cfg) -> None:
    """Check (and normalise) every field of the config dataclass ``cfg`` in place; one UserError for the
    first bad value."""
    for f in fields(cfg):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if kind not in ("bool", "int", "float", "str"):
            continue
        setattr(cfg, f.name, check_value(f.name, kind, getattr(cfg, f.name), f.metadata))
