import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rnnkit.kernels import native  # noqa: E402

# The tests compare the compiled paths with the others: build them once here, explicitly (a no-op
# when `make install` has), as a user does with `rnnkit kernels build`.
native.build()


# Modules whose tests build wheels, start processes (torchrun, the results scripts, the CLI in a subprocess),
# fetch packages or train whole runs: all of them slow. `make test-fast` deselects them with the tests marked
# slow one by one; `make test` runs everything.
SLOW_MODULES = {"test_packaging", "test_results_smoke", "test_distributed", "test_trust", "test_companion",
                "test_gpu_check", "test_disk_full", "test_fetch_suite", "test_lengths_linear", "test_sklearn",
                "test_api", "test_tensorboard", "test_export", "test_attention_apps", "test_tag", "test_names",
                "test_classify_series", "test_train", "test_cli", "test_regress", "test_forecast", "test_text"}


def pytest_collection_modifyitems(config, items):
    import pytest
    for item in items:
        if item.path.stem in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
