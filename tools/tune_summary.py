"""A markdown table of the searches in a folder (``unfoldrnn tune --out DIR/<model>``): per
model the trials (pruned), the default's score (trial 0), the best score and its settings.

    python tools/tune_summary.py results/tune
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OWN = ("model_options.c", "model_options.alpha", "lambda1", "lambda2")


def _value(v) -> str:
    return f"{100 * v:.1f}" if isinstance(v, float) and 0 <= v <= 1 else f"{v:.4g}"


def table(folder: Path) -> str:
    lines = ["| model | trials (pruned) | trial 0: the defaults | best | its lr | its clip | "
             "its own scalars | importances (top 2) | wall [min] |",
             "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("*/summary.json")):
        s = json.loads(path.read_text())
        trials = s["trials"]
        pruned = sum(t["state"] == "PRUNED" for t in trials)
        default = trials[0]["value"] if trials[0]["state"] == "COMPLETE" else None
        best = s["best_params"]
        own = ", ".join(f"{k.split('.')[-1]} {best[k]:.3g}" for k in OWN if k in best) or "-"
        top = sorted(s["importances"].items(), key=lambda kv: -kv[1])[:2]
        lines.append(
            f"| {path.parent.name} | {len(trials)} ({pruned}) | "
            f"{_value(default) if default is not None else 'pruned'} | "
            f"{_value(s['best_value'])} (trial {s['best_trial']}) | {best['lr']:.3g} | "
            f"{best['clip']:.3g} | {own} | "
            f"{', '.join(f'{k.split(chr(46))[-1]} {v:.2f}' for k, v in top) or '-'} | "
            f"{s['wall_seconds'] / 60:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python tools/tune_summary.py DIR  (DIR/<model>/summary.json)")
    print(table(Path(sys.argv[1])))
