"""
Certifying a trained classifier
===============================

Two routes give a trained classifier a guarantee on unseen data.

* **PAC-Bayes** (Perez-Ortiz et al. 2021, ``unfoldrnn certify RUN --pac-bayes``): a prior
  trained on half the training split, a Gaussian posterior over the weights, and a
  certificate of the 0-1 test error of that stochastic classifier (not of the trained
  weights): with probability >= 1 - delta - delta', test error <= certificate. Any model.
* **Rademacher** (paper 000 Prop. 3.4, ``unfoldrnn bound RUN``): eq. 18 bounds the test
  ramp loss at a margin by the training ramp loss plus a complexity term read off the trained
  weights' norms; the strict reading declares its margins and norm levels in advance and
  splits delta over them. Unfolding models only.

Here both on a small reweighted-RNN trained on synthetic sequences whose classes differ only
in their time order.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from unfoldrnn.bounds import certify
from unfoldrnn.config import TrainConfig
from unfoldrnn.experiments.pac_bayes import pac_bayes_certificate
from unfoldrnn.train import build_data, fit, load_run

rng = np.random.default_rng(0)
N, T, n = 1000, 20, 4
ramp = np.linspace(-1, 1, T)
y = rng.integers(0, 2, N)
x = np.where(y[:, None] == 0, ramp, ramp[::-1])[:, :, None] * rng.standard_normal(n)
x = (x + 0.5 * rng.standard_normal((N, T, n))).astype(np.float32)
folder = Path(tempfile.mkdtemp())
np.savez(folder / "mine.npz", x_train=x, y_train=y)

config = TrainConfig(task="classification", data=str(folder / "mine.npz"), model="reweighted",
                     num_layers=1, hidden_size=16, epochs=8, lr=1e-3, bound_lambda=1.0,
                     bound_lambda_u=1.0)
metrics = fit(config, folder / "run", progress=False, log=lambda *_: None)
print(f"test error of the trained model: {1 - metrics['test']['accuracy']:.3f}")

# %%
# The PAC-Bayes route retrains its prior from the config on half the training split (the
# bound never sees that half), then trains a Gaussian posterior Q around it. The
# certificate is built in two steps: Q's error on the n bound examples, estimated from
# independent (weight draw, example) pairs and bounded above (the sampling bound,
# confidence delta'), then the PAC-Bayes-kl inversion, which adds what n examples and
# KL(Q || P) allow (delta). Beside it, the plain held-out bound of the prior network on
# the same bound examples: PAC-Bayes earns its place only where it is tighter.
report = pac_bayes_certificate(config, prior_epochs=8, sigma_prior=(1e-3, 1e-2),
                               samples=5_000, log=lambda *_: None)
print(f"n = {report['n_bound']} bound examples; sigma_0 = {report['sigma_prior']:g} "
      f"(the better of {report['sigma_grid']}, paid: delta / 2)")
print(f"KL(Q || P) = {report['kl']:.3g} nats over {report['weights']} weights")
print(f"Q's error on the bound part: {report['empirical_error_mc']:.3f} measured, "
      f"<= {report['empirical_error_bound']:.3f}")
print(f"with probability >= {report['confidence']:.3f}:")
print(f"  test error of Q <= {report['certificate_error']:.3f}")
print(f"  (held-out bound of the prior network: {report['prior_heldout_bound']:.3f})")
print(f"measured on the test split: Q {report['stochastic_test_error']:.3f}")

# %%
# What each number is: the certificate sits above everything measured, and the
# gap between Q's error on the bound part and the certificate is the price of
# the guarantee.
bars = {"Q, test split\n(measured)": report["stochastic_test_error"],
        "Q, bound part\n(measured)": report["empirical_error_mc"],
        "sampling\nbound": report["empirical_error_bound"],
        "PAC-Bayes\ncertificate": report["certificate_error"],
        "held-out bound\n(prior net)": report["prior_heldout_bound"]}
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.bar(list(bars), list(bars.values()), color=["C2", "C0", "C0", "C3", "C1"])
ax.set(ylabel="0-1 error", ylim=(0, max(0.05, 1.3 * max(bars.values()))),
       title="what the certificate guarantees (chance: 0.5)")
fig.tight_layout()
plt.show()

# %%
# The Rademacher route reads the trained weights' norms.
config, task, _ = load_run(folder / "run", "last")
train = build_data(config, progress=False)[0]
bounds = certify(task.model, task.model_inputs(train), task.head, train[1])
print(f"eq. 18 on the test ramp loss, paper's reading: {bounds.least_bound:.3g}")
print(f"strict (a guarantee; above 1: vacuous): {bounds.strict_bound:.3g}")
