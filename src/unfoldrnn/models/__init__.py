"""Every model maps x [B, T, input_size] -> (codes [B, T, hidden_size], h_last)."""

from .convrnn import ConvRNN
from .mgu import MGU
from .registry import MODEL_NAMES, MODELS, UNFOLDING_MODELS, build, register_model
from .stacked import GRU, LSTM, ElmanRNN, FastGRNN, FastRNN, IndRNN, SpectralRNN
from .unfolding import L1L1RNN, ReweightedRNN, SistaRNN, algorithm1

__all__ = [
    "build", "MODELS", "MODEL_NAMES", "UNFOLDING_MODELS", "algorithm1", "register_model",
    "ReweightedRNN", "L1L1RNN", "SistaRNN",
    "ElmanRNN", "LSTM", "GRU", "MGU", "IndRNN", "FastRNN", "FastGRNN", "SpectralRNN", "ConvRNN",
]
