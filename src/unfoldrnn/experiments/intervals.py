"""Confidence intervals that include the test set's own sampling.

A test accuracy varies with the training seed and with the test set drawn. Where the test
clips come in groups that are the i.i.d. unit (a speaker's clips), the test set's sampling is
a draw of groups, so the bootstrap resamples groups, not clips (Field & Welsh 2007's cluster
bootstrap), and the seeds with them (a two-stage bootstrap: seeds, then groups):

    replicate b:  seeds s*_1..s*_S drawn with replacement from the S seeds,
                  groups g*_1..g*_G drawn with replacement from the G test groups,
                  acc*_b = mean_k [ sum_j c(s*_k, g*_j) / sum_j n(g*_j) ],

with c(s, g) the clips of group g that seed s's run classified right and n(g) the group's
clips. The interval is the percentile interval of acc*_b. Two models are compared on the
same group draws (the test set is shared), each with its own seed draws; a difference is
called only where the interval of acc*_A - acc*_B excludes 0.
"""

from __future__ import annotations

import numpy as np

REPLICATES = 4000
LEVEL = 0.95


def _group_sums(outcomes: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
    """(right answers per seed and group [S, G], clips per group [G])."""
    outcomes = np.atleast_2d(np.asarray(outcomes, dtype=float))
    labels, index = np.unique(np.asarray(groups), return_inverse=True)
    if outcomes.shape[1] != len(index):
        raise ValueError(f"{outcomes.shape[1]} outcomes per seed but {len(index)} groups")
    right = np.stack([np.bincount(index, weights=row, minlength=len(labels))
                      for row in outcomes])
    return right, np.bincount(index, minlength=len(labels)).astype(float)


def _replicates(rights: list[np.ndarray], sizes: np.ndarray, rng: np.random.Generator,
                replicates: int, chunk: int = 256) -> np.ndarray:
    """acc*_b of each model [len(rights), B]: the same group draws for every model (the test
    set is shared), fresh seed draws for each; in chunks of replicates, so that memory stays
    bounded whatever the number of groups."""
    out = np.empty((len(rights), replicates))
    for start in range(0, replicates, chunk):
        m = min(chunk, replicates - start)
        draws = rng.integers(0, len(sizes), (m, len(sizes)))
        clips = sizes[draws].sum(1)  # [m]
        for k, right in enumerate(rights):
            seeds = rng.integers(0, right.shape[0], (m, right.shape[0]))
            per_seed = right[:, draws].sum(2)  # [S, m]: each seed's right answers per draw
            chosen = np.take_along_axis(per_seed.T, seeds, axis=1)  # [m, S]
            out[k, start:start + m] = (chosen / clips[:, None]).mean(1)
    return out


def accuracy_interval(outcomes, groups, seed: int = 0, replicates: int = REPLICATES,
                      level: float = LEVEL) -> dict:
    """Mean accuracy over seeds and its two-stage bootstrap interval. ``outcomes``: [S, N]
    (1 right, 0 wrong, one row per seed), ``groups``: the N clips' groups (speakers)."""
    right, sizes = _group_sums(outcomes, groups)
    acc = _replicates([right], sizes, np.random.default_rng(seed), replicates)[0]
    lo, hi = np.quantile(acc, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float((right.sum(1) / sizes.sum()).mean()), "low": float(lo),
            "high": float(hi), "seeds": int(right.shape[0]), "groups": int(len(sizes)),
            "level": level}


def difference_interval(outcomes_a, outcomes_b, groups, seed: int = 0,
                        replicates: int = REPLICATES, level: float = LEVEL) -> dict:
    """Accuracy of A minus B on the same test groups: the mean, its bootstrap interval
    (shared group draws, separate seed draws) and whether the interval excludes 0."""
    right_a, sizes = _group_sums(outcomes_a, groups)
    right_b, _ = _group_sums(outcomes_b, groups)
    acc = _replicates([right_a, right_b], sizes, np.random.default_rng(seed), replicates)
    lo, hi = np.quantile(acc[0] - acc[1], [(1 - level) / 2, (1 + level) / 2])
    mean = float((right_a.sum(1) / sizes.sum()).mean() - (right_b.sum(1) / sizes.sum()).mean())
    return {"mean": mean, "low": float(lo), "high": float(hi), "called": bool(lo > 0 or hi < 0),
            "level": level}


def outcome_rows(metrics: list[dict]) -> np.ndarray | None:
    """Runs' per-example test outcomes [S, N] (1 right, 0 wrong), from the ``test_outcomes``
    string of 0s and 1s that each run's metrics record; None where a run lacks them (made
    before they were recorded, diverged, or still training)."""
    rows = [m.get("test_outcomes") for m in metrics]
    if not rows or not all(rows):
        return None
    return np.array([[c == "1" for c in row] for row in rows], dtype=float)


def interval_lines(runs: dict[tuple, list[dict]], groups, labels: dict,
                   value_name: str) -> list[str]:
    """Markdown of each cell's interval and the called differences at each swept value.
    ``runs``: (value, model) -> the metrics of its seeds (with ``test_outcomes``);
    ``groups``: the test examples' groups (None: each example its own)."""
    unit = "test speakers" if groups is not None else "test examples"
    lines = [f"Intervals ({100 * LEVEL:.0f}%): a two-stage bootstrap over the seeds and the "
             f"{unit} ({REPLICATES} replicates; `experiments/intervals.py`). A difference "
             "is called only where its paired interval (the same test draws for both "
             "models) excludes 0.", ""]
    outcomes = {}
    for key, metrics in runs.items():
        rows = outcome_rows([m for m in metrics if "diverged" not in m])
        if rows is not None:
            outcomes[key] = rows
    if not outcomes:
        return ["No per-example test outcomes were recorded for these runs (made before "
                "they were): no intervals."]
    n = next(iter(outcomes.values())).shape[1]
    groups = list(range(n)) if groups is None else groups
    values = list(dict.fromkeys(v for v, _ in outcomes))
    for value in values:
        cells = {m: accuracy_interval(o, groups) for (v, m), o in outcomes.items()
                 if v == value}
        ranked = sorted(cells, key=lambda m: cells[m]["mean"], reverse=True)
        lines.append(f"* {value_name} = {value}: " + ", ".join(
            f"{labels.get(m, m)} {100 * cells[m]['mean']:.1f} [{100 * cells[m]['low']:.1f}, "
            f"{100 * cells[m]['high']:.1f}]" for m in ranked))
        called = []
        for a, b in zip(ranked, ranked[1:], strict=False):
            d = difference_interval(outcomes[value, a], outcomes[value, b], groups)
            mark = ">" if d["called"] else "~"
            called.append(f"{labels.get(a, a)} {mark} {labels.get(b, b)} "
                          f"({100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, "
                          f"{100 * d['high']:+.1f}])")
        if called:
            lines.append("  neighbours: " + "; ".join(called))
    return lines


def late_best(metrics: dict, share: float = 0.1) -> bool:
    """Did a run's best epoch fall in the last ``share`` of its schedule (still improving:
    not converged)?"""
    epochs = len(metrics.get("epochs", []))
    best = metrics.get("best_epoch")
    return bool(epochs and best is not None and best > epochs * (1 - share))
