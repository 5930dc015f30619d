"""Compressive video-frame reconstruction (paper 001 Sec. 2 and 4).

Frames s_t in R^n0 are measured as x_t = A s_t with a trainable sensing matrix A
(n = rate * n0 rows); a model maps x to codes h_t and a decoder maps the codes back:
s_hat_t = D h_t with the unfolding model's own dictionary D (one shared parameter), or a
linear layer for the baselines. Loss: sum_t ||s_t - s_hat_t||^2, averaged over the batch.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from ..data import DataError, load_mnist, load_official, moving_mnist
from ..data.own import default_split, load_matrix, load_sequences, own_source
from ..dictionaries import dct_dictionary
from ..metrics import psnr
from ..models import UNFOLDING_MODELS, build
from .base import Task, shuffled


def measurements(rate: float, n0: int) -> int:
    """n = round(rate * n0), at least 1; rate must lie in (0, 1]."""
    if not (isinstance(rate, (int, float)) and 0 < rate <= 1):
        raise ValueError(f"the CS rate must lie in (0, 1], got {rate!r}")
    return max(1, round(rate * n0))


@functools.lru_cache(maxsize=2)
def _frames(source: str, num_sequences: int, seed: int, frame_size: int) -> Tensor:
    """Moving MNIST frames [N, T, s, s] of a data source (cached: sweeps reuse them)."""
    if source == "embedded":
        return moving_mnist(num_sequences, seed=seed, frame_size=frame_size)
    if source.endswith(".npy"):
        return load_official(source, frame_size)[:num_sequences]
    if not Path(source).is_dir():
        raise DataError(f"data {source!r} is neither 'embedded', a .npy file, nor a folder "
                        "with the MNIST idx files")
    digits = load_mnist(source, train=True)[0]
    return moving_mnist(num_sequences, seed=seed, digits=digits, frame_size=frame_size)


def frame_shape(config) -> int | None:
    """The side of a config's square frames (your own signals: None unless n0 is square)."""
    if config.signal_size is None:
        return config.frame_size
    side = math.isqrt(config.signal_size)
    return side if side * side == config.signal_size else None


class ReconstructionTask(Task):
    """Sensing matrix A, a registered model, and the decoder, end to end."""

    name = "reconstruction"
    keys = ("rate", "num_sequences", "split", "frame_size", "signal_size", "measurement")
    metric = "psnr"

    def __init__(self, model: str, signal_size: int = 256, rate: float = 0.2,
                 hidden_size: int = 1024, num_layers: int = 3, seed: int = 0,
                 measurement: Tensor | None = None, **model_kw):
        super().__init__()
        n0 = signal_size
        self.model_name, self.signal_size = model, n0
        gen = torch.Generator().manual_seed(seed)
        if measurement is None:  # Gaussian, trained with the model (paper 001 Sec. 4)
            n = measurements(rate, signal_size)
            self.A = nn.Parameter(torch.randn(n, n0, generator=gen) / math.sqrt(n))
        else:  # a user's own sensing matrix: the physical sensor, kept fixed
            if measurement.dim() != 2 or measurement.shape[1] != n0:
                raise ValueError(f"measurement must be [n, {n0}], got "
                                 f"{tuple(measurement.shape)}")
            n = measurement.shape[0]
            self.register_buffer("A", measurement.float().clone())
        self.rate = n / n0
        torch.manual_seed(seed)
        if model in UNFOLDING_MODELS:
            D = nn.Parameter(dct_dictionary(n0, hidden_size))
            # step 1/c with c the Lipschitz constant ||A D||_2^2 of the fidelity's gradient
            # (paper 001 Sec. 1), unless given
            step = "alpha" if model == "sista" else "c"
            lipschitz = float(torch.linalg.matrix_norm((self.A @ D).detach(), 2)) ** 2
            model_kw.setdefault(step, lipschitz)
            model_kw.setdefault("init", "paper")  # the paper's initialisation works here
            self.model = build(model, n, hidden_size, num_layers, signal_size=n0, A=self.A, D=D,
                               train_A=measurement is None, **model_kw)
            self.decoder = None
        else:
            self.model = build(model, n, hidden_size, num_layers, **model_kw)
            self.decoder = nn.Linear(hidden_size, n0)

    @classmethod
    def defaults(cls, model: str) -> dict:
        """Paper 001 Sec. 4."""
        return {"hidden_size": 1024, "data": "embedded", "batch_size": 32, "lr": 3e-4,
                "lr_schedule": "plateau", "rate": 0.2, "num_sequences": 10000,
                "frame_size": 16, "track_bound": True}

    def forward(self, s: Tensor) -> Tensor:
        """Frames s [B, T, n0] -> reconstructions s_hat [B, T, n0]."""
        if s.dim() != 3 or s.shape[-1] != self.signal_size:
            raise ValueError(f"frames must be [B, T, {self.signal_size}], got {tuple(s.shape)}")
        codes = self.model(self.measure(s))[0]
        return codes @ self.model.D.T if self.decoder is None else self.decoder(codes)

    def measure(self, s: Tensor) -> Tensor:
        """x_t = A s_t for frames s [B, T, n0]."""
        return s @ self.A.T

    def loss_range(self) -> float | None:
        """eta = sqrt(n0) / ||D||_2: the bound's loss l(h_T) = min(||s_T - D h_T||_2 /
        ||D||_2, eta) is 1-Lipschitz in the code h_T (paper 000 eq. 14) and bounded by eta,
        since pixels and clipped reconstructions lie in [0, 1], so ||s_T - s_hat_T||_2 <=
        sqrt(n0). None for models without a dictionary D (no bound applies)."""
        if self.decoder is not None:
            return None
        return math.sqrt(self.signal_size) / float(torch.linalg.matrix_norm(
            self.model.D.detach(), 2))

    @staticmethod
    def loss(estimate: Tensor, target: Tensor) -> Tensor:
        """sum_t ||s_t - s_hat_t||^2, mean over the batch (paper 001 Sec. 2)."""
        return (estimate - target).square().sum(dim=(1, 2)).mean()

    # ------------------------------------------------------------ the loop's interface

    @classmethod
    def load_data(cls, config, progress: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Train / validation / test frames [N, T, n0] of the configured source (your own
        sequences: 80 / 10 / 10 of the file's, in order, unless ``split`` says otherwise)."""
        if own_source("reconstruction", config.data):
            flat = load_sequences(config.data)
            a, b, c = config.split or default_split(len(flat))
            if config.signal_size not in (None, flat.shape[-1]):
                raise DataError(f"signal_size is {config.signal_size} in the config, but "
                                f"{config.data} holds signals of {flat.shape[-1]}")
            if a + b + c > len(flat) or min(a, b, c) <= 0:
                raise DataError(f"split {[a, b, c]} does not fit the {len(flat)} sequences of "
                                f"{config.data}")
            return flat[:a], flat[a:a + b], flat[a + b:a + b + c]
        frames = _frames(config.data, config.num_sequences, config.data_seed,
                         config.frame_size)
        if frames.shape[0] < sum(config.split):
            raise DataError(f"{config.data} holds {frames.shape[0]} sequences, the split needs "
                            f"{sum(config.split)}")
        flat = frames.flatten(start_dim=2)
        a, b, c = config.split
        return flat[:a], flat[a:a + b], flat[a + b:a + b + c]

    @classmethod
    def data_settings(cls, config, splits) -> dict:
        """The signal size n0 and split of your own sequences, for the run's config."""
        if not own_source("reconstruction", config.data):
            return {}
        return {"signal_size": int(splits[0].shape[-1]), "split": [len(s) for s in splits]}

    @classmethod
    def from_config(cls, config, train=None, seed: int | None = None, **model_kw):
        own = own_source("reconstruction", config.data)
        n0 = config.signal_size or (train.shape[-1] if train is not None and own
                                    else config.frame_size ** 2)
        A = load_matrix(config.measurement, n0) if config.measurement else None
        return cls(config.model, n0, config.rate, config.hidden_size, config.num_layers,
                   seed=config.seed if seed is None else seed, measurement=A, **model_kw)

    def batches(self, split: Tensor, batch_size: int, generator=None):
        for idx in shuffled(len(split), batch_size, generator):
            yield split[idx]

    def training_loss(self, batch: Tensor):
        s = batch.to(self.device)
        return self.loss(self(s), s), {}, len(s)

    @torch.no_grad()
    def evaluate(self, split: Tensor, batch_size: int = 256) -> dict[str, float]:
        """Mean loss (sum_t ||s_t - s_hat_t||^2 per sequence) and mean per-frame PSNR [dB]."""
        self.eval()
        loss, db, n = 0.0, 0.0, 0
        for chunk in split.split(batch_size):
            s = chunk.to(self.device)
            est = self(s)
            loss += float(self.loss(est, s)) * len(s)
            db += float(psnr(est.clamp(0, 1), s)) * len(s)
            n += len(s)
        return {"loss": loss / n, "psnr": db / n}

    @torch.no_grad()
    def figures(self, split: Tensor, folder) -> list:
        """The reconstructions of the first sequence of ``split``, and the activations."""
        from .. import plots

        self.eval()
        side = math.isqrt(self.signal_size)
        side = side if side * side == self.signal_size else None
        grid = plots.reconstructions(split[0], {self.model_name: self(split[:1].to(
            self.device))[0].cpu()}, folder / "reconstructions.png", side)
        return [grid, *super().figures(split, folder)]

    def model_inputs(self, split: Tensor) -> Tensor:
        return self.measure(split.to(self.device))

    @staticmethod
    def describe(scores: dict[str, float]) -> str:
        return f"PSNR {scores['psnr']:.2f} dB"
