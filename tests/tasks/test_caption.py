"""rnnkit.tasks.caption: bad inputs to a caption run get one line."""

import numpy as np
import pytest
from PIL import Image
from datasets import caption_folder, rnnkit_process

pytestmark = pytest.mark.slow


def test_caption_bad_inputs_get_one_line(tmp_path):
    data = tmp_path / "caps"
    caption_folder(data, 10)
    proc = rnnkit_process("train", "caption", "--data", data, "--run", tmp_path / "r", "--max-steps", 2, "--eval-every", 2,
                   "--hidden-size", 4, "--channels", 2)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "not_an_image.png").write_text("hello")
    for args, expected in (((tmp_path / "r", tmp_path / "not_an_image.png"), "expected an image file"),
                           ((tmp_path / "r", tmp_path / "missing.png"), "expected an image file"),
                           ((tmp_path / "r", data / "images" / "test0.png", "--attention-map", tmp_path / "no" / "x.png"),
                            "existing folder")):
        proc = rnnkit_process("predict", *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr, proc.stderr
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((12, 400), np.uint8)).save(wide)
    slides = rnnkit_process("train", "caption", "--data", data, "--run", tmp_path / "s", "--max-steps", 2, "--eval-every", 2,
                     "--hidden-size", 4, "--channels", 2, "--attention", "slides")
    assert slides.returncode == 0, slides.stderr
    proc = rnnkit_process("predict", tmp_path / "s", wide)
    assert proc.returncode != 0 and "pixels wide" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.tsv").write_text("a.png\n")
    proc = rnnkit_process("train", "caption", "--data", bad, "--run", tmp_path / "b")
    assert proc.returncode != 0 and "image<TAB>caption" in proc.stderr and "Traceback" not in proc.stderr
