"""Run configuration: one dataclass, read from TOML/JSON files and command-line flags."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .models import MODEL_NAMES


class ConfigError(ValueError):
    """A configuration names an unknown key, model or an invalid value."""


@dataclass
class TrainConfig:
    """Defaults are paper 001's Moving MNIST setting (Sec. 4 and DESIGN 4.1)."""

    task: str = "reconstruction"
    model: str = "reweighted"
    rate: float = 0.2  # CS rate n / n0
    hidden_size: int = 1024
    num_layers: int = 3
    # data: "embedded" (digits of the MNIST test set shipped in the package), a folder with
    # the official MNIST idx files (their 60,000 training digits), or mnist_test_seq.npy
    data: str = "embedded"
    num_sequences: int = 10000
    split: tuple[int, int, int] = (8000, 1000, 1000)
    frame_size: int = 16
    data_seed: int = 0
    # optimisation
    epochs: int = 200
    batch_size: int = 32
    lr: float = 3e-4
    clip: float = 0.25  # gradient l2-norm clip
    lr_factor: float = 0.3  # ReduceLROnPlateau on the validation loss
    lr_patience: int = 5
    early_stopping: int = 0  # stop after this many epochs without improvement (0: never)
    seed: int = 0
    device: str = "auto"
    # unfolding models: (lambda1, lambda2); 0 keeps the model's default
    lambda1: float = 0.0
    lambda2: float = 0.0
    lambda_search_trials: int = 0  # random search in [1e-5, 3] on the validation set
    lambda_search_steps: int = 20  # training steps per trial
    compile_prox: bool = False
    # bounds (paper 000 Sec. 4.4): loss += bound_lambda * sum_l ||W_l||_{1,inf}
    bound_lambda: float = 0.0
    track_bound: bool = True  # log the Rademacher bound of unfolding models every epoch

    def __post_init__(self):
        self.split = tuple(self.split)
        if self.model not in MODEL_NAMES:
            raise ConfigError(f"unknown model {self.model!r}; choose one of: "
                              f"{', '.join(MODEL_NAMES)}")
        if self.task != "reconstruction":
            raise ConfigError(f"unknown task {self.task!r}; available: reconstruction")
        if not (isinstance(self.rate, (int, float)) and 0 < self.rate <= 1):
            raise ConfigError(f"rate must lie in (0, 1], got {self.rate!r}")
        for name in ("hidden_size", "num_layers", "epochs", "batch_size", "num_sequences",
                     "frame_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "clip", "lr_factor"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("lambda1", "lambda2", "bound_lambda", "lambda_search_trials",
                     "early_stopping"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be non-negative, got {getattr(self, name)!r}")
        if len(self.split) != 3 or sum(self.split) > self.num_sequences or min(self.split) <= 0:
            raise ConfigError(f"split {self.split} does not fit {self.num_sequences} sequences")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}; "
                              f"valid keys: {', '.join(sorted(known))}")
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(str(err)) from None


def read_config_file(path: str | Path) -> dict:
    """Key-value pairs of a .toml or .json file (flat, the keys of TrainConfig)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".json":
            return json.loads(text)
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        return tomllib.loads(text)
    except ValueError as err:
        raise ConfigError(f"cannot parse {path}: {err}") from None
