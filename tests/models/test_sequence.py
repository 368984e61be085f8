"""rnnkit.models.sequence: embedding dropout drops a token type everywhere in the batch."""
import torch

from rnnkit.cli import _configs, build_parser
from rnnkit.models import SequenceModel
from rnnkit.tasks import TASKS


def _model_cfg(*flags):
    args = build_parser().parse_args(["train", "classify", "--data", "x", *flags])
    return _configs(TASKS["classify"], args)[1]


def test_embedding_dropout_drops_a_token_everywhere_in_the_batch():
    cfg = _model_cfg("--embed-dropout", "0.5")
    model = SequenceModel(cfg, output_size=2, vocab_size=50, embed_size=8)
    x = torch.randint(0, 50, (4, 30))
    torch.manual_seed(1)
    e = model.train().features(x)
    zero = (e == 0).all(-1)                                   # (B, T): rows dropped
    for token in x.unique():
        at = zero[x == token]
        assert at.all() or not at.any()                       # one decision per token type
    assert 0 < zero.float().mean() < 1
    kept = ~zero
    torch.testing.assert_close(e[kept], 2 * model.embedding(x)[kept])
    torch.testing.assert_close(model.eval().features(x), model.embedding(x))
