"""
Compressive video reconstruction
================================

Paper 001's task end to end: frames s_t of Moving MNIST (generated from the MNIST digits
shipped in the package) are measured as x_t = A s_t at CS rate 0.2, and a reweighted-RNN
(the unfolded reweighted l1-l1 minimisation, paper 001 eq. 8-12) reconstructs them, its
dictionary D decoding the codes. Small settings: 600 sequences of 16 x 16 frames, h = 128,
8 epochs at a rate of 3e-3, about 20 s on two cores (the paper trains h = 1024 for 200
epochs).
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from unfoldrnn import plots
from unfoldrnn.config import TrainConfig
from unfoldrnn.train import build_data, fit, load_run

out = Path(tempfile.mkdtemp())
config = TrainConfig(task="reconstruction", model="reweighted", hidden_size=128, num_layers=3,
                     num_sequences=600, epochs=8, batch_size=32, lr=3e-3)
metrics = fit(config, out / "reweighted", progress=False, log=lambda *_: None)
print(f"test PSNR {metrics['test']['psnr']:.2f} dB after {config.epochs} epochs")

# %%
# The reconstructions of one test sequence, frame by frame, with the PSNR of each frame.
config, task, _ = load_run(out / "reweighted")
test = build_data(config, progress=False)[2]
with torch.no_grad():
    estimate = task(test[:1])[0]
# sphinx_gallery_thumbnail_number = 1
plots.reconstructions(test[0][:10], {"reweighted-RNN": estimate[:10]}, None,
                      config.frame_size)  # path None: the figure stays open, shown here
plt.show()
