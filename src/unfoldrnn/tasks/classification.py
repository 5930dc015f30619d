"""Sequence classification (paper 000 Sec. 4.1-4.2): spoken commands from log Mel features.

Features x_t in R^n (n = 32 log Mel energies per 10 ms, T = 99), normalised with the
training split's per-filter mean and standard deviation (saved with the run as buffers),
feed a registered model; the scores are y = Y h_T^(d), a linear head without bias on the top
layer's last state; loss: cross-entropy; metric: accuracy. Unfolding models take paper 000's
setting: A = I fixed (n = n0), D random-uniform, Z_l = P = I, g_l = 1 and
(c, lambda1, lambda2) = (1.0, 0.003, 0.02); SpectralRNN takes its reference code's truncated
reflectors (k = h / 4). Your own sequences (``.npz`` arrays, with ``lengths`` for shorter
ones, or a folder of ``class_name/*.wav``; ``data.own``) run through the same task.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import CLASS_SETS, DataError, SpeechCommands
from ..data.own import (
    LabelledSequences,
    classification_source,
    load_audio_folder,
    load_classification_arrays,
)
from ..data.speech_commands import speaker_of
from ..models import UNFOLDING_MODELS, build
from .base import Task, shuffled


def paper000_optimiser(model: str) -> dict:
    """Paper 000 Sec. 4.1: h = 100, Adam 3e-4 (LSTM, GRU 3e-3; the MGU, GRU's one-gate
    form, as GRU), x0.3 every 50 epochs."""
    return {"hidden_size": 100, "lr": 3e-3 if model in ("lstm", "gru", "mgu") else 3e-4,
            "lr_schedule": "step"}


class ClassificationTask(Task):
    """Feature normalisation, a registered model and the linear head y = Y h_T."""

    name = "classification"
    metric = "accuracy"
    monitor = "accuracy"
    maximize = True
    unfolding_step = 1.0  # paper 000 Sec. 4.1
    keys = ("classes", "num_filters", "num_classes", "class_names", "clip_lengths",
            "speaker_fold")

    @classmethod
    def defaults(cls, model: str) -> dict:
        """Paper 000 Sec. 4.1-4.2, batch 100, Google-12 with 32 log Mel filters; FastGRNN at
        6e-3, the rate ``unfoldrnn tune`` chose on the validation split (at paper 000's 3e-4
        it stays near 22% in 12 epochs; results/tune/README.md)."""
        values = {**paper000_optimiser(model), "batch_size": 100, "classes": "google12",
                  "num_filters": 32, "track_bound": True, "clip_lengths": False,
                  "speaker_fold": 0}
        if model == "fastgrnn":
            values["lr"] = 6e-3
        return values

    def __init__(self, model: str, input_size: int = 32, num_classes: int = 12,
                 hidden_size: int = 100, num_layers: int = 3, seed: int = 0, **model_kw):
        super().__init__()
        self.model_name, self.num_classes = model, num_classes
        torch.manual_seed(seed)
        if model in UNFOLDING_MODELS and model_kw.setdefault("init", "scaled") == "paper":
            model_kw.setdefault("alpha" if model == "sista" else "c", self.unfolding_step)
        if model == "spectralrnn":  # the reference code's reflectors (paper 000 ran it)
            model_kw.setdefault("truncated", True)
        self.model = build(model, input_size, hidden_size, num_layers, **model_kw)
        # y = Y h_T; a model with a readout of its own (convrnn: paper 002's pooled V * h_T)
        self.head = self.model.readout(num_classes) if hasattr(self.model, "readout") else \
            nn.Linear(hidden_size, num_classes, bias=False)
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))

    def set_normalization(self, features: Tensor, lengths: Tensor | None = None) -> None:
        """Per-feature mean and standard deviation over every clip and (valid) frame of
        [N, T, n]."""
        if lengths is not None:
            features = features[torch.arange(features.shape[1]) < lengths[:, None]]
        flat = features.reshape(-1, features.shape[-1]).double()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp(min=1e-6))

    def normalize(self, features: Tensor) -> Tensor:
        return (features.to(self.mean.device) - self.mean) / self.std

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Raw features [B, T, n] -> class scores [B, num_classes], read at each sequence's
        last valid step (``lengths`` [B]; default T): the models are causal, so this equals
        running each sequence alone."""
        codes = self.model(self.normalize(features))[0]
        if lengths is None:
            return self.head(codes[:, -1])
        return self.head(codes[torch.arange(len(codes)), lengths.to(codes.device) - 1])

    # ------------------------------------------------------------ the loop's interface

    @classmethod
    def unfolding_init(cls, config) -> str:
        """"scaled" (codes of unit RMS, thresholds relative to them, a random h0: paper
        000's initialisation learns only in narrow settings; docs: defaults), or paper 000's
        with ``preset = "paper"``."""
        return "paper" if config.preset == "paper" else "scaled"

    @classmethod
    def load_data(cls, config, progress: bool = True):
        """(features [N, T, n], labels [N][, lengths [N]]) of the train, valid and test
        splits: Speech Commands' log Mel features (with each clip's frames before its zero
        padding where ``clip_lengths``), or your own data (``data.own``)."""
        if classification_source(config.data) == "speech":
            splits = [SpeechCommands(config.data, split, config.classes, config.num_filters,
                                     progress, config.speaker_fold)
                      for split in ("train", "valid", "test")]
            if config.clip_lengths:
                return tuple((d.features, d.labels, d.lengths) for d in splits)
            return tuple((d.features, d.labels) for d in splits)
        if config.clip_lengths:
            raise DataError("clip_lengths applies to Speech Commands folders; your own data "
                            "give their sequences' lengths themselves")
        if config.speaker_fold:
            raise DataError("speaker_fold applies to the Google-12 test set; your own data "
                            "are split by data_seed (or by their own x_valid, x_test)")
        own = _own_data(config.data, config.data_seed, config.num_filters or 32, progress)
        for key, value in cls.data_settings(config, own.splits).items():
            if getattr(config, key) not in (None, value):
                raise DataError(f"{key} is {getattr(config, key)!r} in the config, but "
                                f"{config.data} gives {value!r}")
        return own.splits

    @classmethod
    def data_settings(cls, config, splits) -> dict:
        """Feature size, class count and names of your own data, for the run's config."""
        if classification_source(config.data) == "speech":
            return {}
        own = _own_data(config.data, config.data_seed, config.num_filters or 32, False)
        return {"num_filters": own.input_size, "num_classes": len(own.class_names),
                "class_names": own.class_names}

    @classmethod
    def from_config(cls, config, train=None, seed: int | None = None, **model_kw):
        names = class_names(config)
        input_size = config.num_filters or (train[0].shape[-1] if train is not None else 32)
        hidden = input_size if config.model == "convrnn" else config.hidden_size
        if config.model in UNFOLDING_MODELS:
            model_kw.setdefault("init", cls.unfolding_init(config))
        task = cls(config.model, input_size, len(names), hidden, config.num_layers,
                   seed=config.seed if seed is None else seed, **model_kw)
        task.class_names = names
        if train is not None:
            task.set_normalization(train[0], train[2] if len(train) > 2 else None)
        return task

    def batches(self, split, batch_size: int, generator=None):
        """(features, labels[, lengths]) minibatches."""
        for idx in shuffled(len(split[1]), batch_size, generator):
            yield tuple(part[idx] for part in split)

    def with_input_noise(self, batch, sigma: float, generator: torch.Generator):
        """The batch with Gaussian noise of standard deviation ``sigma`` added to the
        normalised features (paper 003 Sec. 3.3), drawn from ``generator``."""
        features, *rest = batch
        eps = torch.randn(features.shape, generator=generator, dtype=features.dtype)
        return (features + sigma * eps * self.std.cpu().to(features.dtype), *rest)

    def training_loss(self, batch):
        features, labels, *lengths = batch
        labels = labels.to(self.device)
        scores = self(features.to(self.device), *lengths)
        accuracy = (scores.argmax(1) == labels).float().mean().item()
        return F.cross_entropy(scores, labels), {"accuracy": accuracy}, len(labels)

    def loss_range(self) -> float | None:
        """1: the ramp loss of paper 000 eq. 17, which Prop. 3.4 bounds, lies in [0, 1]."""
        return 1.0

    @torch.no_grad()
    def predict(self, split, batch_size: int = 512) -> Tensor:
        """Predicted class of every clip of a split."""
        self.eval()
        return torch.cat([self(x, *rest[1:]).argmax(1).cpu()
                          for x, *rest in self.batches(split, batch_size)])

    @torch.no_grad()
    def evaluate(self, split, batch_size: int = 512) -> dict[str, float]:
        """Mean cross-entropy and accuracy over a split."""
        self.eval()
        loss, correct, n = 0.0, 0, 0
        for features, labels, *lengths in self.batches(split, batch_size):
            labels = labels.to(self.device)
            scores = self(features, *lengths)
            loss += float(F.cross_entropy(scores, labels, reduction="sum"))
            correct += int((scores.argmax(1) == labels).sum())
            n += len(labels)
        return {"loss": loss / n, "accuracy": correct / n}

    def outcomes(self, split) -> str:
        """"1"/"0" per clip of ``split``: classified right or wrong."""
        right = self.predict(split) == split[1].cpu()
        return "".join("1" if r else "0" for r in right.tolist())

    @classmethod
    def test_groups(cls, config) -> list[str] | None:
        """A Speech Commands test clip's speaker (``speaker_of``), an .npz's
        ``groups_test`` where it gives ``x_test``; None otherwise (each clip its own unit)."""
        return cls._groups(config, "test")

    @classmethod
    def train_groups(cls, config) -> list[str] | None:
        """The same for the training split (an .npz's ``groups_train`` where it gives its
        own ``x_valid`` and ``x_test``, so that no split was cut from the training arrays)."""
        return cls._groups(config, "train")

    @classmethod
    def _groups(cls, config, split: str) -> list[str] | None:
        source = classification_source(config.data)
        if source == "speech":
            clips = SpeechCommands(config.data, split, config.classes, config.num_filters,
                                   False, config.speaker_fold)
            return [speaker_of(f) for f in clips.files]
        if source == "arrays" and Path(config.data).is_file():
            with np.load(config.data, allow_pickle=False) as arrays:
                whole = "x_valid" in arrays and "x_test" in arrays  # nothing cut from train
                if f"groups_{split}" in arrays and whole:
                    return [str(g) for g in arrays[f"groups_{split}"]]
        return None

    def model_inputs(self, split) -> Tensor:
        return self.normalize(split[0])

    @staticmethod
    def describe(scores: dict[str, float]) -> str:
        return f"accuracy {100 * scores['accuracy']:.2f}%"


@functools.lru_cache(maxsize=2)
def _own_data(data: str, seed: int, num_filters: int, progress: bool) -> LabelledSequences:
    if classification_source(data) == "arrays":
        return load_classification_arrays(data, seed)
    return load_audio_folder(data, num_filters, seed, progress)


def class_names(config) -> list[str]:
    """The class names of a classification config: its own data's (``class_names``, filled
    in from the data when a run starts), or the Speech Commands class set's."""
    if config.class_names is not None:
        return list(config.class_names)
    if classification_source(config.data) == "speech":
        return list(CLASS_SETS[config.classes])
    return _own_data(config.data, config.data_seed, config.num_filters or 32, False).class_names


def confusion_matrix(predicted: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """counts[i, j] = clips of true class i predicted as j."""
    flat = labels.long() * num_classes + predicted.long()
    return torch.bincount(flat, minlength=num_classes ** 2).view(num_classes, num_classes)
