"""FastGRNN on WikiText-2 with and without the state carried from window to window: the
trained model's state norm over carried windows, and both runs' perplexities.

FastGRNN's update h_t = (sigmoid(zeta) (1 - z) + sigmoid(nu)) h~ + z h_(t-1) (Kusupati et al.
2018; ``models.stacked.FastGRNNCell``) bounds |h_t| only by sigmoid(zeta) + sigmoid(nu) /
(1 - z): with gates near 1 a carried state integrates its updates. The settings are those of
``results/tune-wikitext2`` trial 0 (d = 3, one epoch over 100,000 words, adaptive softmax).

    python tools/carried_state.py ../shared/data/wikitext-2 results/fastgrnn-carried-state
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import torch

from unfoldrnn.config import TrainConfig
from unfoldrnn.train import build_data, load_run, train_run

SETTING = {"task": "language_model", "model": "fastgrnn", "num_layers": 3, "epochs": 1,
           "max_train_tokens": 100_000, "max_eval_tokens": 50_000, "adaptive_softmax": True}
WINDOWS, COLUMNS, SHOWN = 40, 20, (1, 2, 6, 11, 21, 40)


@torch.no_grad()
def state_norms(run_dir: Path) -> list[float]:
    """Mean l2 norm of the top layer's last state after each of WINDOWS carried windows of
    the validation stream (COLUMNS columns, the run's bptt words per window)."""
    config, task, _ = load_run(run_dir, "last")
    valid = build_data(config, progress=False)[1]
    stream = valid[: COLUMNS * WINDOWS * config.bptt].view(COLUMNS, -1)
    state, norms = None, []
    for k in range(WINDOWS):
        words = stream[:, k * config.bptt:(k + 1) * config.bptt]
        codes, state = task.model(task.embedding(words), state)
        norms.append(float(codes[:, -1].norm(dim=-1).mean()))
    return norms


def main(data: str, out: Path) -> None:
    started = time.perf_counter()
    result = {"setting": SETTING}
    for carry in (True, False):
        name = "carried" if carry else "not-carried"
        config = TrainConfig.from_dict({**SETTING, "data": data, "carry_state": carry})
        metrics = train_run(config, out / name)
        result[name] = {"train_loss": metrics["epochs"][-1]["train_loss"],
                        "val_perplexity": metrics["epochs"][-1]["val_perplexity"],
                        "test_perplexity": metrics["test"]["perplexity"],
                        "state_norms": state_norms(out / name)}
    command = shlex.join(["python", "tools/carried_state.py", data, str(out)])
    (out / "carried_state.json").write_text(json.dumps({**result, "command": command},
                                                       indent=1))
    lines = ["# FastGRNN on WikiText-2: the state carried from window to window or not", "",
             "| state | train loss [nats] | test perplexity | state norm after windows "
             + ", ".join(map(str, SHOWN)) + " |", "|---|---|---|---|"]
    for name in ("carried", "not-carried"):
        r = result[name]
        norms = ", ".join(f"{r['state_norms'][k - 1]:.3g}" for k in SHOWN)
        lines.append(f"| {name} | {r['train_loss']:.2f} | {r['test_perplexity']:.4g} | "
                     f"{norms} |")
    lines += ["", f"Setting: {SETTING} (one seed, one run each). The norms: the mean l2 norm of "
              f"the top layer's state over {COLUMNS} columns of the validation stream, the "
              "state carried through every window, for both trained models. A uniform guess "
              "is ln 33,278 = 10.4 nats.",
              f"Made by `{command}` in {(time.perf_counter() - started) / 60:.1f} min."]
    (out / "carried_state.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}/carried_state.md")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tools/carried_state.py WIKITEXT2_FOLDER OUT")
    main(sys.argv[1], Path(sys.argv[2]))
