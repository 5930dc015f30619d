"""Cross-validation over speakers of the Google-12 column of results/learnability (issue 27).

The learnability table tests on one tenth of the speakers (fold 0: 25 speakers and the
silence clips, 62 groups). Folds 1-9 (``--set speaker_fold=K``) test the other nine
tenths, so that over ten folds every speaker of the 4,890 clips is tested once, by a model
that never heard them. Per fold: each model's test accuracy and its gap to GRU; pooled over
the folds: the accuracy of every clip's own fold's model, with a 95% cluster-bootstrap
interval over all test groups (speakers; ``experiments.intervals``, one run per fold).
The folds' models share most of their training speakers, so the spread of the per-fold gaps
is not the standard error of their mean (Bengio & Grandvalet 2004); the pooled interval
covers the test speakers' sampling, not the training seed's.

    python tools/speaker_folds.py results/speaker-folds ../shared/data \
        --fold0 results/learnability/google12 [--suffix S] [--models M ...] [--bar B]

--models (default gru reweighted l1l1; the first is the reference): fold K's run is
``FOLDS_DIR/MODEL-foldK``, fold 0's that or else the table's run ``FOLD0/MODEL`` + S
(``--suffix -3`` for ``gru-3``). A fold where a model's run diverged or is missing is
left out of the comparison, and named. ``--bar``: the gap the per-fold table counts.
"""

import argparse
from pathlib import Path

import numpy as np

from unfoldrnn.config import TrainConfig
from unfoldrnn.data import FOLDS
from unfoldrnn.experiments.intervals import (
    accuracy_interval,
    difference_interval,
    outcome_rows,
)
from unfoldrnn.experiments.learnability import SPEECH
from unfoldrnn.runs import read_metrics
from unfoldrnn.tasks import ClassificationTask

MODELS = ("gru", "reweighted", "l1l1")


def outcomes_of(run: Path) -> np.ndarray | str:
    """A finished run's per-clip test outcomes (1 right, 0 wrong), in the test split's
    order; else why there are none: "diverged" or "no run" (still training, or never
    started)."""
    path = run / "metrics.json"
    metrics = read_metrics(path) if path.exists() else {}
    if "diverged" in metrics:
        return "diverged"
    rows = outcome_rows([metrics])
    return "no run" if rows is None else rows[0]


def run_folder(fold0: Path, folds: Path, model: str, fold: int, suffix: str = "") -> Path:
    own = folds / f"{model}-fold{fold}"
    return fold0 / f"{model}{suffix}" if fold == 0 and not own.exists() else own


def gap_line(name: str, gaps: list[float], bar: float) -> str:
    g = np.array(gaps)
    return (f"| {name} | {100 * g.mean():+.1f} | {100 * g.std(ddof=1):.1f} | "
            f"{100 * g.min():+.1f} | {100 * g.max():+.1f} | {(g > bar / 100).sum()} of "
            f"{len(g)} |")


def main(folds: str, data: str, fold0: str, suffix: str = "", models=MODELS,
         bar: float = 5.0) -> None:
    folds, fold0, reference = Path(folds), Path(fold0), models[0]
    rows, pooled, groups, missing = [], {m: [] for m in models}, [], []
    first = run_folder(fold0, folds, reference, 0, suffix) / "metrics.json"
    if not first.exists():
        raise SystemExit(f"{first} not found: the reference's fold-0 run (--fold0, --suffix)")
    settings = read_metrics(first)["config"]
    for fold in range(FOLDS):
        right = {m: outcomes_of(run_folder(fold0, folds, m, fold, suffix)) for m in models}
        lacking = [f"{m} {o}" for m, o in right.items() if isinstance(o, str)]
        if lacking:
            missing.append(f"{fold} ({', '.join(lacking)})")
            continue
        config = TrainConfig(task="classification", data=str(Path(data) / SPEECH),
                             model=reference, speaker_fold=fold)
        fold_groups = ClassificationTask.test_groups(config)
        if any(len(o) != len(fold_groups) for o in right.values()):
            raise SystemExit(f"fold {fold}: a run's test outcomes do not match the fold's "
                             f"{len(fold_groups)} test clips")
        rows.append((fold, len(fold_groups), len(set(fold_groups)),
                     {m: o.mean() for m, o in right.items()}))
        for m in models:
            pooled[m].append(right[m])
        groups += [f"{fold}:{g}" for g in fold_groups]
    if not rows:
        raise SystemExit("no fold has a run of every model")
    print(f"Google-12, d = {settings['num_layers']}, {settings['epochs']} epochs, the settings of "
          f"{fold0} (seed {settings['seed']}), cross-validated over speakers: {len(rows)} folds" +
          (f"; left out: fold {'; '.join(missing)}" if missing else "") + "\n")
    print("| fold | test clips | groups | " + " | ".join(models) + " | " +
          " | ".join(f"{reference} - {m}" for m in models[1:]) + " |")
    print("|---" * (3 + 2 * len(models) - 1) + "|")
    for fold, clips, n_groups, acc in rows:
        print(f"| {fold} | {clips} | {n_groups} | " +
              " | ".join(f"{100 * acc[m]:.1f}" for m in models) + " | " +
              " | ".join(f"{100 * (acc[reference] - acc[m]):+.1f}" for m in models[1:]) + " |")
    print(f"\nPer-fold gaps [points]: mean, std over folds, range, folds where {reference} "
          f"leads by more than {bar:g}\n")
    print(f"| gap | mean | std | min | max | over {bar:g} |\n|---|---|---|---|---|---|")
    for m in models[1:]:
        print(gap_line(f"{reference} - {m}", [acc[reference] - acc[m] for *_, acc in rows],
                       bar))
    stacked = {m: np.concatenate(o)[None] for m, o in pooled.items()}
    print(f"\nPooled over the folds' {len(groups)} test clips and {len(set(groups))} groups, "
          "95% interval over the groups:\n")
    for m in models:
        cell = accuracy_interval(stacked[m], groups)
        print(f"* {m}: {100 * cell['mean']:.1f} [{100 * cell['low']:.1f}, "
              f"{100 * cell['high']:.1f}]")
    for m in models[1:]:
        d = difference_interval(stacked[reference], stacked[m], groups)
        print(f"* {reference} - {m}: {100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, "
              f"{100 * d['high']:+.1f}]{' (called)' if d['called'] else ''}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folds", help="the folder of the fold runs (MODEL-foldK)")
    parser.add_argument("data", help="the folder holding speech_commands/")
    parser.add_argument("--fold0", required=True, help="the table's run folders (fold 0)")
    parser.add_argument("--suffix", default="", help="of the table's run names (-3: gru-3)")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--bar", type=float, default=5.0, help="gap in points (default 5)")
    args = parser.parse_args()
    main(args.folds, args.data, args.fold0, args.suffix, tuple(args.models), args.bar)
