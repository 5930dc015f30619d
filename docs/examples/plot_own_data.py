"""
Training on your own ``.npz``
=============================

Any sequences become a classification task with no code: an ``.npz`` holding
``x_train [N, T, n]`` and ``y_train [N]`` (optionally ``x_valid``/``y_valid``,
``x_test``/``y_test``, ``lengths_*`` for sequences shorter than T, and ``class_names``).
Missing splits are cut from the training arrays (seeded). Here the two classes have the same
frames in opposite order, so only a model of the time order can tell them apart; the
sequences have different lengths.
"""

# %%
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from unfoldrnn import plots

rng = np.random.default_rng(0)
N, T, n = 600, 20, 4
ramp = np.linspace(-1, 1, T)
y = rng.integers(0, 2, N)
x = np.where(y[:, None] == 0, ramp, ramp[::-1])[:, :, None] * rng.standard_normal(n)
x = (x + 0.5 * rng.standard_normal((N, T, n))).astype(np.float32)
lengths = rng.integers(15, T + 1, N)  # each sequence is padded after its last step
for i, L in enumerate(lengths):
    x[i, L:] = 0.0
folder = Path(tempfile.mkdtemp())
np.savez(folder / "mine.npz", x_train=x, y_train=y, lengths_train=lengths,
         class_names=np.array(["rising", "falling"]))

# %%
# The command line trains it like any other data set (here through ``python -m``).
command = [sys.executable, "-m", "unfoldrnn", "train", "--task", "classification",
           "--data", str(folder / "mine.npz"), "--model", "reweighted", "--hidden-size", "32",
           "--epochs", "6", "--out", str(folder / "run"), "--quiet"]
print(subprocess.run(command, capture_output=True, text=True, check=True).stderr)
metrics = json.loads((folder / "run" / "metrics.json").read_text())
print(f"test accuracy {100 * metrics['test']['accuracy']:.1f}%")

# %%
# ``unfoldrnn predict`` answers on new arrays with the run's own normalisation and names.
# Padded sequences go in an ``.npz`` with their ``lengths`` (a ``.npy`` carries none, and
# each sequence would be read at its last, padded, step).
np.savez(folder / "new.npz", x=x[:3], lengths=lengths[:3])
print(subprocess.run([sys.executable, "-m", "unfoldrnn", "predict", str(folder / "run"),
                      str(folder / "new.npz")], capture_output=True, text=True,
                     check=True).stdout)

# %%
# The run's learning curves, from its ``metrics.json`` (``unfoldrnn plot RUN`` writes the
# same figure as a PNG).
plots.learning_curves(metrics["epochs"], None, "reweighted-RNN on mine.npz")
plt.show()
