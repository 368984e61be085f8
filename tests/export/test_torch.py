"""rnnkit.export.torch: the torch.export writer on a full disk."""

import pytest

from faults import unchanged_after_a_full_disk

pytestmark = pytest.mark.slow




def test_torch_export_writer(tmp_path, monkeypatch):
    import rnnkit as rk
    from rnnkit.export.torch import export_step_program

    program = tmp_path / "gru.pt2"
    unchanged_after_a_full_disk(program, lambda: export_step_program(rk.GRUCell(3, 4).eval(), program), monkeypatch)
