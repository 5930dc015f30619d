"""Where the unfolding models lose to GRU on Google-12 at d = 1: clips shorter than 1 s, which
the loader pads with zero samples to 1 s (issue 27).

A clip's length is the frames it fills before its trailing zero samples (the loader's
``lengths``, ``--set clip_lengths=true``). For the training split and each test speaker: the
share of padded frames; then the committed learnability runs (3 seeds each) read as trained (at
frame T, after the padding) and read at each clip's last frame before its padded tail
(``lengths``; the models are causal, so this is the state the clip itself leaves). A
diagnostic on the test split of runs that were made and chosen without it.

    python tools/padding_diagnosis.py results/learnability ../shared/data [TRAINED]

TRAINED: a folder of the same runs trained with ``--set clip_lengths=true`` (MODEL[-seedK]),
read at the last real frame as they were trained: their row is added per model.
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


def accuracies(run: Path, test, lengths, padded) -> tuple[float, float]:
    """(accuracy on the mostly padded clips, on the whole test split) of a run's best
    checkpoint, read at ``lengths`` (None: at T)."""
    task = load_run(run)[1].eval()
    with torch.no_grad():
        right = (task(test[0], lengths).argmax(1) == test[1]).numpy()
    return right[padded].mean(), right.mean()


def main(folder: str, data: str, trained: str | None = None) -> None:
    torch.set_num_threads(2)
    config = TrainConfig(task="classification", data=str(Path(data) / SPEECH), model="gru",
                         clip_lengths=True)
    train, _, test = build_data(config, progress=False)
    groups = np.array(ClassificationTask.test_groups(config))
    T = test[0].shape[1]
    tail_train = (T - train[2]).numpy()
    lengths = test[2]
    tail = T - lengths
    share = {g: tail.numpy()[groups == g].sum() / (T * (groups == g).sum())
             for g in dict.fromkeys(groups)}
    padded = np.array([share[g] > MOSTLY_PADDED for g in groups])
    speakers = ", ".join(sorted({str(g) for g in groups[padded]}))
    print(f"padded frames: training split {tail_train.sum() / tail_train.size / T:.3f}; "
          f"test {tail.sum().item() / len(tail) / T:.3f}; test speakers with more than "
          f"{MOSTLY_PADDED:.0%}: {speakers} "
          f"({padded.sum()} clips, {tail.numpy()[padded].sum() / padded.sum() / T:.2f} of "
          "their frames)\n")
    print("| model | trained on | their clips, read at T | at the last real frame | whole "
          "test split, at T | at the last real frame |")
    print("|---|---|---|---|---|---|")
    for model in MODELS:
        rows = []
        for seed in SEEDS:
            run = Path(folder) / "google12" / seeded(model, seed)
            (a, b), (c, d) = (accuracies(run, test, at, padded) for at in (None, lengths))
            rows.append((a, c, b, d))
        print(f"| {model} | 99 frames | " + " | ".join(f"{100 * v:.1f}" for v in np.mean(rows, 0))
              + " |")
        if trained is not None:
            rows = [accuracies(Path(trained) / seeded(model, seed), test, lengths, padded)
                    for seed in SEEDS]
            (a, b) = np.mean(rows, 0)
            print(f"| {model} | its length | | {100 * a:.1f} | | {100 * b:.1f} |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
