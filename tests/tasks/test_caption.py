"""rnnkit.tasks.caption: bad inputs to a caption run get one line."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def _tiny_caption_data(folder: Path, n: int) -> None:
    """Canvases of bars: a caption word per bar, its height the word ("one" short, "three" tall)."""
    rng = np.random.default_rng(5)
    (folder / "images").mkdir(parents=True)
    for part, count in (("train", n), ("test", 8)):
        lines = []
        for k in range(count):
            words = [["one", "two", "three"][i] for i in rng.integers(0, 3, size=int(rng.integers(1, 4)))]
            canvas = np.zeros((12, 8 * len(words)), dtype=np.uint8)
            for j, w in enumerate(words):
                canvas[12 - 4 * (["one", "two", "three"].index(w) + 1):, 8 * j + 2:8 * j + 6] = 255
            Image.fromarray(canvas).save(folder / "images" / f"{part}{k}.png")
            lines.append(f"images/{part}{k}.png\t{' '.join(words)}")
        (folder / f"{part}.tsv").write_text("\n".join(lines) + "\n")


def _rnnkit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rnnkit", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_caption_bad_inputs_get_one_line(tmp_path):
    data = tmp_path / "caps"
    _tiny_caption_data(data, 10)
    proc = _rnnkit("train", "caption", "--data", data, "--run", tmp_path / "r", "--max-steps", 2, "--eval-every", 2,
                   "--hidden-size", 4, "--channels", 2)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "not_an_image.png").write_text("hello")
    for args, expected in (((tmp_path / "r", tmp_path / "not_an_image.png"), "expected an image file"),
                           ((tmp_path / "r", tmp_path / "missing.png"), "expected an image file"),
                           ((tmp_path / "r", data / "images" / "test0.png", "--attention-map", tmp_path / "no" / "x.png"),
                            "existing folder")):
        proc = _rnnkit("predict", *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr, proc.stderr
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((12, 400), np.uint8)).save(wide)
    slides = _rnnkit("train", "caption", "--data", data, "--run", tmp_path / "s", "--max-steps", 2, "--eval-every", 2,
                     "--hidden-size", 4, "--channels", 2, "--attention", "slides")
    assert slides.returncode == 0, slides.stderr
    proc = _rnnkit("predict", tmp_path / "s", wide)
    assert proc.returncode != 0 and "pixels wide" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.tsv").write_text("a.png\n")
    proc = _rnnkit("train", "caption", "--data", bad, "--run", tmp_path / "b")
    assert proc.returncode != 0 and "image<TAB>caption" in proc.stderr and "Traceback" not in proc.stderr
