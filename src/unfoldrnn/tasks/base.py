"""The interface between a task and the one training loop (``unfoldrnn.train``).

A task is an ``nn.Module`` holding a registered model with its inputs, head and loss, plus
the class methods that read its data; the loop knows nothing else about it (as Lightning
separates a LightningModule from its Trainer). Splits are whatever ``load_data`` returns
(tensors, or tuples of tensors); batches are whatever ``batches`` yields.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class Task(nn.Module):
    """What the loop calls. Subclasses set ``name``, ``monitor`` and ``maximize``."""

    name: str
    monitor: str = "loss"  # the validation metric that picks the best checkpoint
    metric: str = "loss"  # the task's own test metric beside the loss (psnr, accuracy, ...)
    maximize: bool = False
    # the unfolding models' step 1/c (Sista: 1/alpha) where the task fixes one (paper 000
    # Sec. 4.1: c = 1); None: the model's default (the Lipschitz constant ||A D||_2^2)
    unfolding_step: float | None = None
    keys: tuple[str, ...] = ()  # the config keys that belong to this task alone
    model: nn.Module
    model_name: str

    @classmethod
    def defaults(cls, model: str) -> dict:
        """The config values this task gives the keys a config leaves at None: its paper's
        setting (``TrainConfig.preset`` changes how the task builds its model, not these)."""
        raise NotImplementedError

    @classmethod
    def unfolding_init(cls, config) -> str:
        """How the task initialises an unfolding model (``init`` of ``models.unfolding``):
        "paper", its paper's setting, unless a task says otherwise."""
        return "paper"

    @classmethod
    def load_data(cls, config, progress: bool = True) -> tuple:
        """(train, valid, test) splits of ``config.data``; raises DataError naming the problem."""
        raise NotImplementedError

    @classmethod
    def data_settings(cls, config, splits) -> dict:
        """Config keys that the data decides (your own data's sizes, classes, split), written
        into the run's effective config so that its checkpoint rebuilds without the data."""
        return {}

    @classmethod
    def run_files(cls, config) -> dict[str, str]:
        """Text files the run folder keeps beside its checkpoints (name -> content), for
        using the trained model without the data (a language model's vocabulary)."""
        return {}

    @classmethod
    def from_config(cls, config, train=None, seed: int | None = None, **model_kw) -> Task:
        """The task of ``config``; ``train`` provides data statistics (None when a checkpoint
        will overwrite them)."""
        raise NotImplementedError

    def batches(self, split, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator:
        """Minibatches of ``split``: shuffled by ``generator``, in order without one."""
        raise NotImplementedError

    def num_batches(self, split, batch_size: int) -> int:
        """How many batches ``batches`` yields (for the progress bar)."""
        n = len(split[0]) if isinstance(split, tuple) else len(split)
        return math.ceil(n / batch_size)

    def with_input_noise(self, batch, sigma: float, generator: torch.Generator):
        """The batch with Gaussian noise on the model's inputs (tasks that support it)."""
        raise NotImplementedError(f"{self.name} has no input noise")

    def training_loss(self, batch) -> tuple[Tensor, dict[str, float], int]:
        """(mean loss to minimise, batch means of extra metrics, batch size)."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, split, batch_size: int = 256) -> dict[str, float]:
        """{"loss": ..., metric: ...} over a whole split."""
        raise NotImplementedError

    def outcomes(self, split) -> str | None:
        """Per-example outcome over a split, "1" right and "0" wrong, in the split's order
        (for intervals over the test set's sampling); None where the metric is no average of
        per-example outcomes."""
        return None

    @classmethod
    def test_groups(cls, config) -> list[str] | None:
        """The i.i.d. unit of each test example (a speaker), in the test split's order; None:
        the examples are the units."""
        return None

    def model_inputs(self, split) -> Tensor:
        """The model's input sequences x [m, T, n] over a split (for the bounds)."""
        raise NotImplementedError

    def loss_range(self) -> float | None:
        """The range [0, eta] of the bounded loss that the task's generalization bound speaks
        of (eq. 14 of paper 000 needs a bounded loss), or None where no bound applies. One
        definition for ``unfoldrnn bound`` and the figures."""
        return None

    @torch.no_grad()
    def figures(self, split, folder) -> list:
        """PNG files picturing the task's model now (for TensorBoard): the learned
        activations of unfolding models, and what else the task shows."""
        from .. import plots
        from ..models import UNFOLDING_MODELS

        if self.model_name not in UNFOLDING_MODELS:
            return []
        return [plots.activations(self.model, folder / "activations.png")]

    @staticmethod
    def describe(scores: dict[str, float]) -> str:
        """One line for the log, e.g. 'PSNR 30.10 dB'."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def shuffled(n: int, batch_size: int, generator: torch.Generator | None) -> list[Tensor]:
    """Index batches over n items: a permutation drawn from ``generator``, or in order."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))
