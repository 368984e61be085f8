"""Config dataclass fields that carry their ``--help`` text (the CLI builds its flags from them)."""
from dataclasses import field
from typing import Any


def option(help_text: str, default: Any) -> Any:
    """A dataclass field with a default and the help line of its command-line flag."""
    return field(default=default, metadata={"help": help_text})
