"""Model names for configs and the CLI: ``build(name, input_size, hidden_size, num_layers)``."""

from __future__ import annotations

from torch import nn

from .convrnn import ConvRNN
from .mgu import MGU
from .stacked import GRU, LSTM, ElmanRNN, FastGRNN, FastRNN, IndRNN, SpectralRNN
from .unfolding import L1L1RNN, ReweightedRNN, SistaRNN

MODELS: dict[str, type[nn.Module]] = {
    "reweighted": ReweightedRNN,
    "l1l1": L1L1RNN,
    "sista": SistaRNN,
    "rnn": ElmanRNN,
    "lstm": LSTM,
    "gru": GRU,
    "mgu": MGU,
    "indrnn": IndRNN,
    "fastrnn": FastRNN,
    "fastgrnn": FastGRNN,
    "spectralrnn": SpectralRNN,
    "convrnn": ConvRNN,
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
UNFOLDING_MODELS: tuple[str, ...] = ("reweighted", "l1l1", "sista")


def build(name: str, input_size: int, hidden_size: int, num_layers: int = 1, **kw) -> nn.Module:
    """Construct a registered model; ``kw`` go to its constructor (e.g. signal_size, A, D)."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}") from None
    return cls(input_size, hidden_size, num_layers, **kw)
