"""Model names for configs and the CLI: ``build(name, input_size, hidden_size, num_layers)``,
and ``register_model`` for a model of your own."""

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


def register_model(name: str, cls: type[nn.Module]) -> None:
    """Make ``cls`` trainable as ``TrainConfig(model=name)`` on every task.

    ``cls(input_size, hidden_size, num_layers, **model_options)`` must map x [B, T,
    input_size] -> (codes [B, T, hidden_size], h_last), with ``forward(x, h0=None)``, as every
    registered model does (torch.nn.RNN's ``batch_first`` convention). Registering an existing
    name is refused: the papers' models keep their names."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a model name must be an identifier, got {name!r}")
    if name in MODELS:
        raise ValueError(f"a model named {name!r} is registered already")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{cls!r} is not an nn.Module class")
    MODELS[name] = cls
