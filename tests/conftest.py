import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rnnkit.kernels import native  # noqa: E402

# The tests compare the compiled paths with the others: build them once here, explicitly (a no-op
# when `make install` has), as a user does with `rnnkit kernels build`.
native.build()
