"""Sequence classification (paper 000 Sec. 4.1-4.2): spoken commands from log Mel features.

Features x_t in R^n (n = 32 log Mel energies per 10 ms, T = 99), normalised with the
training split's per-filter mean and standard deviation (saved with the run as buffers),
feed a registered model; the scores are y = Y h_T^(d), a linear head without bias on the top
layer's last state; loss: cross-entropy; metric: accuracy. Unfolding models take paper 000's
setting: A = I fixed (n = n0), D random-uniform, Z_l = P = I, g_l = 1 and
(c, lambda1, lambda2) = (1.0, 0.003, 0.02); SpectralRNN takes its reference code's truncated
reflectors (k = h / 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import CLASS_SETS, SpeechCommands
from ..models import UNFOLDING_MODELS, build
from .base import Task, shuffled


class ClassificationTask(Task):
    """Feature normalisation, a registered model and the linear head y = Y h_T."""

    name = "classification"
    monitor = "accuracy"
    maximize = True

    def __init__(self, model: str, input_size: int = 32, num_classes: int = 12,
                 hidden_size: int = 100, num_layers: int = 3, seed: int = 0, **model_kw):
        super().__init__()
        self.model_name, self.num_classes = model, num_classes
        torch.manual_seed(seed)
        if model in UNFOLDING_MODELS:
            model_kw.setdefault("alpha" if model == "sista" else "c", 1.0)  # paper 000 Sec. 4.1
        if model == "spectralrnn":  # the reference code's reflectors (paper 000 ran it)
            model_kw.setdefault("truncated", True)
        self.model = build(model, input_size, hidden_size, num_layers, **model_kw)
        # y = Y h_T; a model with a readout of its own (convrnn: paper 002's pooled V * h_T)
        self.head = self.model.readout(num_classes) if hasattr(self.model, "readout") else \
            nn.Linear(hidden_size, num_classes, bias=False)
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))

    def set_normalization(self, features: Tensor) -> None:
        """Per-feature mean and standard deviation over every clip and frame of [N, T, n]."""
        flat = features.reshape(-1, features.shape[-1]).double()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp(min=1e-6))

    def normalize(self, features: Tensor) -> Tensor:
        return (features.to(self.mean.device) - self.mean) / self.std

    def forward(self, features: Tensor) -> Tensor:
        """Raw features [B, T, n] -> class scores [B, num_classes]."""
        codes = self.model(self.normalize(features))[0]
        return self.head(codes[:, -1])

    # ------------------------------------------------------------ the loop's interface

    @classmethod
    def load_data(cls, config, progress: bool = True):
        """(features [N, 99, n], labels [N]) of the train, valid and test splits."""
        return tuple((d.features, d.labels) for d in (
            SpeechCommands(config.data, split, config.classes, config.num_filters, progress)
            for split in ("train", "valid", "test")))

    @classmethod
    def from_config(cls, config, train=None, seed: int | None = None, **model_kw):
        task = cls(config.model, config.num_filters, len(CLASS_SETS[config.classes]),
                   config.hidden_size, config.num_layers,
                   seed=config.seed if seed is None else seed, **model_kw)
        if train is not None:
            task.set_normalization(train[0])
        return task

    def batches(self, split, batch_size: int, generator=None):
        features, labels = split
        for idx in shuffled(len(labels), batch_size, generator):
            yield features[idx], labels[idx]

    def with_input_noise(self, batch, sigma: float, generator: torch.Generator):
        """The batch with Gaussian noise of standard deviation ``sigma`` added to the
        normalised features (paper 003 Sec. 3.3), drawn from ``generator``."""
        features, labels = batch
        eps = torch.randn(features.shape, generator=generator, dtype=features.dtype)
        return features + sigma * eps * self.std.cpu().to(features.dtype), labels

    def training_loss(self, batch):
        features, labels = batch
        labels = labels.to(self.device)
        scores = self(features.to(self.device))
        accuracy = (scores.argmax(1) == labels).float().mean().item()
        return F.cross_entropy(scores, labels), {"accuracy": accuracy}, len(labels)

    def loss_range(self) -> float | None:
        """1: the ramp loss of paper 000 eq. 17, which Prop. 3.4 bounds, lies in [0, 1]."""
        return 1.0

    @torch.no_grad()
    def predict(self, split, batch_size: int = 512) -> Tensor:
        """Predicted class of every clip of a split."""
        self.eval()
        return torch.cat([self(x).argmax(1).cpu() for x, _ in self.batches(split, batch_size)])

    @torch.no_grad()
    def evaluate(self, split, batch_size: int = 512) -> dict[str, float]:
        """Mean cross-entropy and accuracy over a split."""
        self.eval()
        loss, correct, n = 0.0, 0, 0
        for features, labels in self.batches(split, batch_size):
            labels = labels.to(self.device)
            scores = self(features)
            loss += float(F.cross_entropy(scores, labels, reduction="sum"))
            correct += int((scores.argmax(1) == labels).sum())
            n += len(labels)
        return {"loss": loss / n, "accuracy": correct / n}

    def model_inputs(self, split) -> Tensor:
        return self.normalize(split[0])

    @staticmethod
    def describe(scores: dict[str, float]) -> str:
        return f"accuracy {100 * scores['accuracy']:.2f}%"


def confusion_matrix(predicted: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """counts[i, j] = clips of true class i predicted as j."""
    flat = labels.long() * num_classes + predicted.long()
    return torch.bincount(flat, minlength=num_classes ** 2).view(num_classes, num_classes)
