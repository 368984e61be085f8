"""Captioning and grapheme-to-phoneme runs trained with `python -m rnnkit` in a subprocess, then used from
their run folders alone (the data deleted): caption and seq2seq tasks, models, decoding and the CLI together."""
import json
import shutil
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


def test_predict_a_new_image_and_a_new_word_from_the_run_folder_alone(tmp_path):
    data = tmp_path / "caps"
    _tiny_caption_data(data, 40)
    proc = _rnnkit("train", "caption", "--data", data, "--run", tmp_path / "cap", "--max-steps", 6, "--eval-every", 3,
                   "--batch-size", 8, "--hidden-size", 8, "--channels", 4, "--attention", "slides")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cap" / "attention.png").stat().st_size > 0
    assert set(json.loads((tmp_path / "cap" / "test_metrics.json").read_text())) >= {"exact_match", "token_error_rate"}
    g2p = tmp_path / "g2p"
    g2p.mkdir()
    (g2p / "train.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in
                                           ["cat", "dog", "bird", "fish", "cow", "pig", "hen", "owl", "bat", "ant"]))
    proc = _rnnkit("train", "seq2seq", "--data", g2p, "--run", tmp_path / "s2s", "--max-steps", 4, "--eval-every", 2,
                   "--hidden-size", 8, "--bidirectional")
    assert proc.returncode == 0, proc.stderr
    # the data is gone; the run folders alone answer
    shutil.rmtree(data / "images")
    shutil.rmtree(g2p)
    new_image = tmp_path / "new.png"
    Image.fromarray(np.pad(np.full((8, 4), 255, np.uint8), ((4, 0), (2, 10)))).save(new_image)
    proc = _rnnkit("predict", tmp_path / "cap", new_image, "--attention-map", tmp_path / "where.png")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= {"one", "two", "three", "<unk>"}
    assert (tmp_path / "where.png").stat().st_size > 0
    proc = _rnnkit("predict", tmp_path / "s2s", "tacocat", "--attention-map", tmp_path / "word.png")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= set("CATDOGBIRFSHWPNLE") | {"<unk>"}
    assert (tmp_path / "word.png").stat().st_size > 0
