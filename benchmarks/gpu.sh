#!/usr/bin/env bash
# The GPU check (`make gpu-check`): CUDA tests, then every cell's forward+backward time against its
# cuDNN peer, in one JSON (benchmarks/gpu.json unless --out); arguments go to benchmarks/gpu.py.
# It installs nothing, since a lent device machine reaches no package registry: it runs from this
# checkout with the first Python whose torch sees a GPU (the venv's CPU torch here does not), or
# $PYTHON when set.
set -euo pipefail
cd "$(dirname "$0")/.."

py=${PYTHON:-}
if [ -z "$py" ]; then
    fallback=
    for candidate in .venv/bin/python python3 python; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
            py=$candidate
            break
        fi
        if [ -z "$fallback" ] && "$candidate" -c 'import torch' 2>/dev/null; then
            fallback=$candidate
        fi
    done
    py=${py:-${fallback:-python3}}
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$py" benchmarks/gpu.py "$@"
