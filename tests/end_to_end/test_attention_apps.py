"""Captioning and grapheme-to-phoneme runs trained with `python -m rnnkit` in a subprocess, then used from
their run folders alone (the data deleted): caption and seq2seq tasks, models, decoding and the CLI together."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from datasets import caption_folder, rnnkit_process

pytestmark = pytest.mark.slow


def test_predict_a_new_image_and_a_new_word_from_the_run_folder_alone(tmp_path):
    data = tmp_path / "caps"
    caption_folder(data, 40)
    proc = rnnkit_process("train", "caption", "--data", data, "--run", tmp_path / "cap", "--max-steps", 6, "--eval-every", 3,
                   "--batch-size", 8, "--hidden-size", 8, "--channels", 4, "--attention", "slides")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cap" / "attention.png").stat().st_size > 0
    assert set(json.loads((tmp_path / "cap" / "test_metrics.json").read_text())) >= {"exact_match", "token_error_rate"}
    g2p = tmp_path / "g2p"
    g2p.mkdir()
    (g2p / "train.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in
                                           ["cat", "dog", "bird", "fish", "cow", "pig", "hen", "owl", "bat", "ant"]))
    proc = rnnkit_process("train", "seq2seq", "--data", g2p, "--run", tmp_path / "s2s", "--max-steps", 4, "--eval-every", 2,
                   "--hidden-size", 8, "--bidirectional")
    assert proc.returncode == 0, proc.stderr
    # the data is gone; the run folders alone answer
    shutil.rmtree(data / "images")
    shutil.rmtree(g2p)
    new_image = tmp_path / "new.png"
    Image.fromarray(np.pad(np.full((8, 4), 255, np.uint8), ((4, 0), (2, 10)))).save(new_image)
    proc = rnnkit_process("predict", tmp_path / "cap", new_image, "--attention-map", tmp_path / "where.png")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= {"one", "two", "three", "<unk>"}
    assert (tmp_path / "where.png").stat().st_size > 0
    proc = rnnkit_process("predict", tmp_path / "s2s", "tacocat", "--attention-map", tmp_path / "word.png")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= set("CATDOGBIRFSHWPNLE") | {"<unk>"}
    assert (tmp_path / "word.png").stat().st_size > 0
