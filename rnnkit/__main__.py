"""``python -m rnnkit``: the command line (what torchrun and environments without the script call)."""
import sys

from .cli import main

sys.exit(main())
