"""
Adding a model of your own
==========================

A model is an ``nn.Module`` built as ``cls(input_size, hidden_size, num_layers, **options)``
that maps x [B, T, input_size] to (codes [B, T, hidden_size], h_last), with
``forward(x, h0=None)``, the convention of ``torch.nn.RNN(batch_first=True)``.
``register_model`` makes it trainable on every task, beside the papers' models. Here: a
one-gate "leaky" RNN, h_t = (1 - a) h_{t-1} + a tanh(W x_t + U h_{t-1}), with a learned a.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

from unfoldrnn import plots
from unfoldrnn.config import TrainConfig
from unfoldrnn.models import MODELS, register_model
from unfoldrnn.train import fit, load_run


class LeakyRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = nn.RNNCell(input_size, hidden_size)
        self.logit = nn.Parameter(torch.tensor(0.0))

    def forward(self, x, h0=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h0 is None else h0
        a = torch.sigmoid(self.logit)
        codes = []
        for t in range(x.shape[1]):
            h = (1 - a) * h + a * self.cell(x[:, t], h)
            codes.append(h)
        return torch.stack(codes, 1), h


if "leaky" not in MODELS:
    register_model("leaky", LeakyRNN)

# %%
# It trains on the reconstruction task like the registered baselines (with a linear decoder).
config = TrainConfig(task="reconstruction", model="leaky", hidden_size=64, num_layers=1,
                     num_sequences=200, epochs=2, lr=3e-3)
run = Path(tempfile.mkdtemp()) / "leaky"
metrics = fit(config, run, progress=False, log=lambda *_: None)
print(f"leaky RNN: test PSNR {metrics['test']['psnr']:.2f} dB")

# %%
# Its learning curves, and the learned leak a = sigmoid(logit) (0.5 at the start).
print(f"learned leak: {torch.sigmoid(load_run(run)[1].model.logit).item():.3f}")
plots.learning_curves(metrics["epochs"], None, "leaky RNN, reconstruction")
plt.show()
