"""Scaling of the training-step time with T, d and h, read from a train_step.py JSON.

    python benchmarks/scaling.py benchmarks/results_cpu.json

For each model: time(T=99)/time(T=20) (linear: 4.95), time(d=6)/time(d=3) (linear: 2),
time(h=1024)/time(h=256) (quadratic: 16), at the other settings' middle values.
"""

import json
import sys


def main(path: str) -> None:
    rows = json.load(open(path))["rows"]
    time = {(r["model"], r["h"], r["d"], r["T"]): r["train_ms"] for r in rows}
    models = list(dict.fromkeys(r["model"] for r in rows))
    print("| model | T 20->99 (ideal 4.95) | d 3->6 (ideal 2) | d 1->3 (ideal 3) "
          "| h 256->1024 (ideal 16) |\n|---|---|---|---|---|")
    for m in models:
        def ratio(a, b):
            return f"{time[b] / time[a]:.2f}" if a in time and b in time else "-"
        print(f"| {m} | {ratio((m, 1024, 3, 20), (m, 1024, 3, 99))} "
              f"| {ratio((m, 1024, 3, 20), (m, 1024, 6, 20))} "
              f"| {ratio((m, 1024, 1, 20), (m, 1024, 3, 20))} "
              f"| {ratio((m, 256, 3, 20), (m, 1024, 3, 20))} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results_cpu.json")
