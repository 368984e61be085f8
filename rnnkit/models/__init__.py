"""Models on top of the runners, one family a file: the recurrent stack's configuration, sequence models and the
language model, LSTM-FCN (and LSTM-Inception) and its masked batch norm, seed ensembles, attention, and the encoder-decoder core shared
by seq2seq and captioning.

>>> m = SequenceModel(RecurrentConfig(cell="gru", hidden_size=8), vocab_size=5, output_size=3, readout="last")
>>> tuple(m(torch.tensor([[1, 2, 3]]))[0].shape)
(1, 3)
"""
import torch  # noqa: F401  (the doctest's)

from .attention import Attention
from .batch_norm import MaskedBatchNorm1d, population_statistics_
from .captioner import CAPTION_ATTENTION, Captioner, ConvEncoder
from .config import RecurrentConfig, build_runner
from .encoder_decoder import EncoderDecoderCore
from .ensemble import Ensemble, is_ensemble
from .lstm_fcn import FCN, FCN_FILTERS, FCN_KERNELS, LSTMFCN
from .inception import Inception, LSTMInception
from .sequence import POOLS, READOUTS, LanguageModel, SequenceModel
from .seq2seq import Seq2Seq
from .text_cnn import LSTMCNN, TokenCNN

__all__ = ["Attention", "MaskedBatchNorm1d", "population_statistics_", "CAPTION_ATTENTION", "Captioner", "ConvEncoder",
           "RecurrentConfig", "build_runner", "EncoderDecoderCore", "Ensemble", "is_ensemble", "FCN", "FCN_FILTERS",
           "FCN_KERNELS", "LSTMFCN", "Inception", "LSTMInception", "POOLS", "READOUTS", "LanguageModel", "SequenceModel", "Seq2Seq",
           "LSTMCNN", "TokenCNN"]
