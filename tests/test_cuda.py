"""The tests that need a CUDA GPU (they skip elsewhere). They live in one top-level file because the GPU check
(`make gpu-check`, benchmarks/gpu.py) finds CUDA tests by reading tests/test_*.py, not subfolders."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cases import perturbed
import rnnkit as rk
from datasets import text_file
from rnnkit.cli import main


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def checkpoint(run: Path) -> dict:
    return load_file(str(run / "checkpoint" / "model.safetensors"))


@pytest.mark.slow
@CUDA
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_cuda_paths_equal_cpu(cell):
    import rnnkit as rk
    from rnnkit import kernels
    make = {"lstm": lambda: rk.LSTMCell(8, 16), "gru": lambda: rk.GRUCell(8, 16), "elman": lambda: rk.ElmanCell(8, 16)}
    for variant in (make[cell](), rk.Dropout(make[cell](), state_p=0.3, variational=True).eval()):
        x, lengths = torch.randn(4, 12, 8), torch.tensor([12, 7, 1, 0])
        y, _ = rk.unroll(variant, x, lengths=lengths)
        gpu = variant.to("cuda")
        assert kernels.path_for(gpu, x.cuda()) in ("torch", "generic")
        y_gpu, _ = rk.unroll(gpu, x.cuda(), lengths=lengths)
        assert torch.allclose(y, y_gpu.cpu(), atol=1e-5)


@pytest.mark.slow
@CUDA
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_mixed_precision_training_steps(tmp_path, precision):
    run = tmp_path / "run"
    assert main(["train", "charlm", "--data", str(text_file(tmp_path / "t.txt")), "--run", str(run), "--max-steps",
                 "6", "--eval-every", "3", "--seq-len", "16", "--device", "cuda", "--precision", precision]) == 0
    assert all(t.dtype == torch.float32 and bool(torch.isfinite(t).all()) for t in checkpoint(run).values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_eunn_on_cuda_equals_the_cpu():
    cell = perturbed(rk.EUNNCell(3, 8, capacity=4)).double()
    x, lengths = torch.randn(4, 9, 3, dtype=torch.float64), torch.tensor([9, 4, 0, 7])
    y, h = rk.unroll(cell, x, lengths=lengths, reverse=True)
    gpu = cell.cuda()
    assert rk.kernels.path_for(gpu, x.cuda()) == "eunn"
    y2, h2 = rk.unroll(gpu, x.cuda(), lengths=lengths.cuda(), reverse=True)
    torch.testing.assert_close(y2.cpu(), y)
    torch.testing.assert_close(h2.cpu(), h)
