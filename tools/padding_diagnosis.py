"""Where the unfolding models lose to GRU on Google-12 at d = 1: clips shorter than 1 s, which
the loader pads with zero samples to 1 s (issue 27).

A padded tail is a run of frames at the log-Mel floor in every filter (log of the floor
energy: no sound at all). For the training split and each test speaker: the share of such
trailing frames; then the committed learnability runs (3 seeds each) read as trained (at
frame T, after the padding) and read at each clip's last frame before its padded tail
(``lengths``; the models are causal, so this is the state the clip itself leaves). A
diagnostic on the test split of runs that were made and chosen without it.

    python tools/padding_diagnosis.py results/learnability ../shared/data
"""

import sys
from pathlib import Path

import numpy as np
import torch

from unfoldrnn.config import TrainConfig
from unfoldrnn.experiments.learnability import SEEDS, SPEECH
from unfoldrnn.experiments.seeds import seeded
from unfoldrnn.tasks import ClassificationTask
from unfoldrnn.train import build_data, load_run

MODELS = ("gru", "reweighted", "l1l1")
MOSTLY_PADDED = 0.2  # a speaker whose clips are more than this share padding


def padded_tail(features: torch.Tensor) -> torch.Tensor:
    """Frames at the end of each clip [N, T, n] whose every filter sits at the clip set's
    floor (the log of the floor energy), [N]."""
    silent = (features <= features.min() + 1e-3).all(-1)  # [N, T]
    not_silent = ~silent.flip(1)
    first = not_silent.float().argmax(1)
    return torch.where(not_silent.any(1), first, torch.tensor(features.shape[1]))


def main(folder: str, data: str) -> None:
    torch.set_num_threads(2)
    config = TrainConfig(task="classification", data=str(Path(data) / SPEECH), model="gru")
    train, _, test = build_data(config, progress=False)
    groups = np.array(ClassificationTask.test_groups(config))
    T = test[0].shape[1]
    tail_train = padded_tail(train[0]).numpy()
    tail = padded_tail(test[0])
    lengths = (T - tail).clamp(min=1)
    share = {g: tail.numpy()[groups == g].sum() / (T * (groups == g).sum())
             for g in dict.fromkeys(groups)}
    padded = np.array([share[g] > MOSTLY_PADDED for g in groups])
    speakers = ", ".join(sorted({str(g) for g in groups[padded]}))
    print(f"padded frames: training split {tail_train.sum() / tail_train.size / T:.3f}; "
          f"test {tail.sum().item() / len(tail) / T:.3f}; test speakers with more than "
          f"{MOSTLY_PADDED:.0%}: {speakers} "
          f"({padded.sum()} clips, {tail.numpy()[padded].sum() / padded.sum() / T:.2f} of "
          "their frames)\n")
    print("| model | their clips, read at T | at the last real frame | whole test split, at T "
          "| at the last real frame |")
    print("|---|---|---|---|---|")
    for model in MODELS:
        rows = []
        for seed in SEEDS:
            task = load_run(Path(folder) / "google12" / seeded(model, seed))[1].eval()
            with torch.no_grad():
                at_t = (task(test[0]).argmax(1) == test[1]).numpy()
                at_end = (task(test[0], lengths).argmax(1) == test[1]).numpy()
            rows.append((at_t[padded].mean(), at_end[padded].mean(), at_t.mean(),
                         at_end.mean()))
        print(f"| {model} | " + " | ".join(f"{100 * v:.1f}" for v in np.mean(rows, 0)) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
