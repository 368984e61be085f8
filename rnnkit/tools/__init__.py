"""Tools around the library: the benchmark (bench.py), interleaved timing (timing.py), the vanishing-gradient
measurements (diagnostics.py), a run's figures (figures.py), weights to and from torch.nn (interop.py)."""
