import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rnnkit.kernels import native  # noqa: E402

# The tests compare the compiled paths with the others: build them once here, explicitly (a no-op
# when `make install` has), as a user does with `rnnkit kernels build`.
native.build()


# Slow tests (they build wheels, start processes, fetch packages or train whole runs) carry the `slow` marker in
# their own files: `pytestmark = pytest.mark.slow` for a whole file, `@pytest.mark.slow` for one test.
# `make test-fast` deselects them; `make test` runs everything.
