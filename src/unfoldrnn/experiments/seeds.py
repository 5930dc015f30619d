"""Seeds of the special tables (``reproduce ... --seeds N``): which seeds, the run folder of
each, and mean +- standard deviation over them."""

from __future__ import annotations

import math
import statistics


def seed_list(seeds: int | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """Seeds 0..N-1 for ``--seeds N``; the table's own ``default`` without it."""
    if seeds is None:
        return tuple(default)
    if seeds < 1:
        raise ValueError(f"--seeds must be a positive integer, got {seeds}")
    return tuple(range(seeds))


def seeds_flag(seeds: int | None) -> str:
    """`` --seeds N`` for a table's command line when ``--seeds`` was given, else ""."""
    return f" --seeds {seeds}" if seeds is not None else ""


def seeded(name: str, seed: int) -> str:
    """The run folder of ``name`` at ``seed``: the name itself for seed 0 (the folders of
    one-seed tables stay reusable), ``<name>-seed<k>`` otherwise."""
    return f"{name}-seed{seed}" if seed else name


def mean_std(values) -> tuple[float, float, int]:
    """(mean, sample standard deviation, N) of the finite values (NaN: a diverged run,
    inf: a vacuous bound are left out); std 0 for one value, NaN mean for none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, 0.0, 0
    return (statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0,
            len(finite))


def seed_summary(rows: list[dict], by: tuple[str, ...], keys: tuple[str, ...]) -> list[dict]:
    """One entry per group of ``rows`` that agree on ``by`` (in order of first appearance):
    the group's ``by`` values, ``seeds`` and ``(mean, std, N)`` of each of ``keys``."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in by), []).append(row)
    return [{**dict(zip(by, group, strict=True)), "seeds": [r.get("seed", 0) for r in members],
             **{k: mean_std(r.get(k) for r in members) for k in keys}}
            for group, members in groups.items()]


def summary_lines(summary: list[dict], by: tuple[str, ...], keys: dict[str, str],
                  digits: int = 3) -> list[str]:
    """A markdown table of ``seed_summary``: the ``by`` columns, N, then "mean +- std" of
    each key (``keys``: key -> column title), to ``digits`` significant digits, with its own
    N where runs were left out (not finite)."""
    lines = ["| " + " | ".join([*by, "N", *keys.values()]) + " |",
             "|---" * (len(by) + 1 + len(keys)) + "|"]
    for entry in summary:
        cells = [f"{entry[k]}" for k in by] + [str(len(entry["seeds"]))]
        cells += [f"{entry[k][0]:.{digits}g} +- {entry[k][1]:.{digits}g}"
                  + (f" (N = {entry[k][2]})" if entry[k][2] < len(entry["seeds"]) else "")
                  for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
