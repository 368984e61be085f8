"""caption: image -> caption with an attention LSTM (the ML@B slides' image captioning).

``--data`` is a folder holding ``train.tsv`` (and optionally ``test.tsv``) of ``image<TAB>caption``
lines, the image path relative to the folder (PNG, JPEG, anything Pillow reads); ``rnnkit data fetch
digits`` makes one from real handwritten digits. Images are read in grey levels and scaled to one
height (``--image-height``; by default the tallest training image's), keeping their aspect ratio;
captions are space-separated words. A seeded share of the training images is the validation set
(early stopping, the best checkpoint); a folder's ``test.tsv`` is scored once at the end with the
weights validation selected. Metrics: exact-match accuracy, word (token) error rate, token accuracy
under teacher forcing, loss; ``attention.png`` shows the attention over a few validation images.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..runtime.batches import Batch, to_device
from ..data.padding import pad_sequences
from ..data.text import check_file, read_pairs
from ..data.vocab import BOS_ID, EOS_ID, NEVER_EMITTED, SPECIALS, UNK, Vocab
from ..errors import UserError
from ..tools.figures import image_attention_figure
from ..models import CAPTION_ATTENTION, Captioner, RecurrentConfig
from ..options import option
from ..state import State
from .base import Task, data_path, device_of, epoch_indices, split_off
from .scoring import error_rates, teacher_forced, teacher_forced_scores



@dataclass
class CaptionConfig:
    attention: str = option("slides (the ML@B slides' attention LSTM: the attention comes out of the LSTM's own "
                            "linear map and weights the next step's input), soft (Show, Attend and Tell) or none",
                            "soft", choices=CAPTION_ATTENTION)
    beam: int = option("beam width for validation and prediction (1: greedy)", 1, at_least=1, at_most=1000)
    channels: int = option("feature channels of the convolutional encoder", 64, at_least=1, at_most=4096)
    embed_size: int = option("word embedding size", 64, at_least=1, at_most=65536)
    image_height: int = option("scale every image to this height in pixels (0: the tallest training image)", 0,
                               at_least=0, at_most=4096)
    valid_fraction: float = option("share of the training images held out for validation", 0.1, above=0.0, below=1.0)
    max_decode_len: int = option("longest caption to decode (0: twice the longest training caption + 2)", 0,
                                 at_least=0, at_most=100_000)


def read_image(path: Path, height: int) -> np.ndarray:
    """The image at ``path`` in grey levels (uint8, (height, width)), scaled to ``height`` keeping its aspect."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if height and im.height != height:
                im = im.resize((max(1, round(im.width * height / im.height)), height), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"expected an image file (PNG, JPEG, ...) at {path}; could not read it ({e})") from None


def image_batch(images: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Images (B, 1, H, W_max) in [0, 1], zero-padded on the right, and their widths (B,)."""
    widths = torch.tensor([im.shape[1] for im in images])
    batch = torch.zeros(len(images), 1, images[0].shape[0], int(widths.max()))
    for b, im in enumerate(images):
        batch[b, 0, :, :im.shape[1]] = torch.from_numpy(im).float() / 255
    return batch, widths


class Caption(Task):
    name = "caption"
    predicts = True
    attention_maps = True
    Config = CaptionConfig
    primary = "exact_match"
    higher_is_better = True
    model_defaults = {"hidden_size": 128}
    train_defaults = {"steps": 3000, "batch_size": 64, "lr": 3e-3, "eval_every": 250}

    @classmethod
    def prepare(cls, cfg: CaptionConfig, model_cfg: RecurrentConfig, data, *, seed: int = 0) -> "Caption":
        folder = data_path(data, cls.name)
        train_file = check_file(folder / "train.tsv" if folder.is_dir() else folder,
                                "a folder holding train.tsv (and test.tsv) of image<TAB>caption lines")
        lines = cls._read_lines(train_file)
        height = cfg.image_height or max(cls._height(train_file.parent / p) for p, _ in lines)
        images = [read_image(train_file.parent / p, height) for p, _ in lines]
        width = max(im.shape[1] for im in images)
        if height < 4 or width < 4:
            raise UserError(f"expected images at least 4 pixels high and wide; received {height} x {width}")
        test = train_file.parent / "test.tsv"
        meta = {"data": str(data), "train": str(train_file), "test": str(test) if test.is_file() else None,
                "height": height, "grid_size": (height // 4) * (width // 4),
                "vocab": Vocab.build([c.split() for _, c in lines], specials=SPECIALS).symbols,
                "max_target": max(len(c.split()) for _, c in lines)}
        task = cls(cfg, model_cfg, meta, seed=seed)
        tr, va = split_off(len(lines), cfg.valid_fraction, seed)
        task.train_set = [task.encode(images[i], lines[i][1]) for i in tr.tolist()]
        task.valid_set = [task.encode(images[i], lines[i][1]) for i in va.tolist()]
        return task

    @staticmethod
    def _height(path: Path) -> int:
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(path) as im:
                return im.height
        except (UnidentifiedImageError, OSError) as e:
            raise UserError(f"expected an image file (PNG, JPEG, ...) at {path}; could not read it ({e})") from None

    @staticmethod
    def _read_lines(path: Path, at_least: int = 2) -> list[tuple[str, str]]:
        return read_pairs(path, "image", "caption", at_least=at_least, second_required=True)

    @cached_property
    def vocab(self) -> Vocab:
        return Vocab(self.meta["vocab"])

    def encode(self, image: np.ndarray, caption: str) -> tuple[np.ndarray, Tensor]:
        return image, torch.tensor([BOS_ID] + self.vocab.encode(caption.split(), unk=UNK) + [EOS_ID])

    def _read_set(self, tsv: Path) -> list[tuple[np.ndarray, Tensor]]:
        return [self.encode(read_image(tsv.parent / p, self.meta["height"]), c)
                for p, c in self._read_lines(tsv, at_least=1)]

    def load_eval_data(self, data) -> None:
        if data:
            path = Path(data).expanduser()
            self.valid_set = self._read_set(check_file(path / "test.tsv" if path.is_dir() else path,
                                                       "a TSV file of image<TAB>caption lines, or a folder with test.tsv"))
            return
        train_file = Path(self.meta["train"])
        lines = self._read_lines(train_file)
        _, va = split_off(len(lines), self.cfg.valid_fraction, self.seed)
        self.valid_set = [self.encode(read_image(train_file.parent / lines[i][0], self.meta["height"]), lines[i][1])
                          for i in va.tolist()]

    def build_model(self) -> Captioner:
        return Captioner(self.model_cfg, len(self.meta["vocab"]), grid_size=self.meta["grid_size"],
                         attention=self.cfg.attention, channels=self.cfg.channels, embed_size=self.cfg.embed_size)

    # ------------------------------------------------------------------ training
    def _batch(self, examples: list[tuple[np.ndarray, Tensor]]) -> Batch:
        images, widths = image_batch([im for im, _ in examples])
        tgt, tgt_len = pad_sequences([t for _, t in examples])
        return Batch(images, widths, (tgt, tgt_len))

    def train_batch(self, step: int, batch_size: int) -> Batch:
        idx = epoch_indices(len(self.train_set), batch_size, self.seed, step)
        return self._batch([self.train_set[i] for i in idx])

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        return teacher_forced(model, batch)[0], None, len(batch.lengths)

    def max_decode_len(self) -> int:
        return self.cfg.max_decode_len or 2 * self.meta["max_target"] + 2

    def _decode(self, model: Captioner, images: list[np.ndarray]):
        batch, widths = image_batch(images)
        try:
            return model.decode(batch, widths, bos=BOS_ID, eos=EOS_ID, banned=NEVER_EMITTED,
                                max_len=self.max_decode_len(), beam=self.cfg.beam)
        except ValueError as e:
            raise UserError(str(e)) from None

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self._score(model, self.valid_set)

    def _score(self, model: nn.Module, examples) -> dict[str, float]:
        model.eval()
        forced = teacher_forced_scores(model, (to_device(self._batch(examples[a:a + 256]), device_of(model))
                                               for a in range(0, len(examples), 256)))
        outputs = [out for a in range(0, len(examples), 256)
                   for out in self._decode(model, [im for im, _ in examples[a:a + 256]])[0]]
        rates = error_rates(outputs, [[t[1:-1].tolist()] for _, t in examples])
        return {"exact_match": 1 - rates["sequence_error_rate"], **rates, **forced}

    def test_metrics(self, model: nn.Module) -> tuple[str, dict[str, float]] | None:
        """A data folder's test.tsv scored with ``model`` (the weights validation selected), or None."""
        if not self.meta.get("test"):
            return None
        return self.meta["test"], self._score(model, self._read_set(Path(self.meta["test"])))

    def figures(self, run_dir: Path, model: nn.Module, count: int = 4) -> list[Path]:
        """``attention.png``: a few validation images, each word's attention over the image."""
        if model.kind == "none":
            return []
        if not hasattr(self, "valid_set"):
            self.load_eval_data(None)
        rows = [self._attention_row(model, im) for im, _ in self.valid_set[:count]]
        return [image_attention_figure(rows, run_dir / "attention.png")]

    def _attention_row(self, model: Captioner, image: np.ndarray):
        outs, maps, (h, w) = self._decode(model.eval(), [image])
        words = [self.vocab.symbols[i] for i in outs[0]]
        return image, words, [m[:h * w] for m in maps[0]], (h, w)

    def predict(self, model: nn.Module, text: str, *, attention_map: str | None = None) -> list[str]:
        """The caption of the image file ``text``; with ``attention_map``, a PNG of where each word looked."""
        image = read_image(check_file(text, "an image file (PNG, JPEG, ...)"), self.meta["height"])
        row = self._attention_row(model, image)
        if attention_map:
            if model.kind == "none":
                raise UserError("expected a run with attention for --attention-map; this run has --attention none")
            image_attention_figure([row], Path(attention_map))
        return [" ".join(row[1])]
