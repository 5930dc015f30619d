"""Training-step speed of the unfolding RNNs against torch.nn.RNN and torch.nn.GRU at the
sizes people train (issue 29), all in one process, round robin, median of ``--repeats``
(``--rounds``: that many times over, the median ratio and its range).

    python benchmarks/unfolding_speed.py --out benchmarks/unfolding_speed

Three settings, each timed as forward + backward + zero_grad:

* ``speech``: the speech classifier through the task (ClassificationTask: feature
  normalisation, the model, the linear head, cross-entropy), h = 100, d = 3, T = 99,
  B = 100, 32 log-Mel features, 12 classes; torch.nn.RNN / GRU of the same size and head;
* ``speech+``: the same with what users turn on: variable lengths (each clip read at its
  last valid frame, lengths uniform in T // 2..T) and, for the unfolding models, the bound
  regulariser (paper 000 Sec. 4.4, lambda = lambda_u = 10, the certified recipe's);
* ``h256``, ``h1024``: the reconstruction core, B = 32, T = 20, n = 51 measurements of
  n0 = h, d = 3, the loss sum_t ||codes_t||^2 / numel.

"vs torch.RNN" is torch.RNN's time over the model's (above 1: faster). Memory: the bytes
autograd (or the fused function) keeps between forward and backward, counted with
saved_tensors_hooks.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from train_step import saved_bytes_of  # (benchmarks/ is on the path of its scripts)

from unfoldrnn.bounds import bound_regularizer
from unfoldrnn.models import build
from unfoldrnn.tasks.classification import ClassificationTask

UNFOLDING = ("reweighted", "l1l1", "sista")
# the l1-l1 family's time loop forced to the one before issue 29 ("unrolled"), for comparison
FORCED = ("reweighted:unrolled", "l1l1:unrolled")
SETTINGS = {"speech": dict(B=100, T=99, n=32, h=100, d=3),
            "speech+": dict(B=100, T=99, n=32, h=100, d=3),
            "h256": dict(B=32, T=20, n=51, h=256, d=3),
            "h1024": dict(B=32, T=20, n=51, h=1024, d=3)}


class TorchCore(nn.Module):
    """torch.nn.RNN / GRU returning (outputs, last) like the library's models."""

    def __init__(self, kind: str, n: int, h: int, d: int):
        super().__init__()
        self.rnn = getattr(nn, kind)(n, h, d, batch_first=True)

    def forward(self, x):
        out, _ = self.rnn(x)
        return out, out[:, -1]


def speech_step(name: str, s: dict, extras: bool = False):
    """Closures: one training step of the speech classifier of ``name``, and its forward
    (``extras``: variable lengths and, for the unfolding models, the bound regulariser)."""
    torch.manual_seed(0)
    x = torch.randn(s["B"], s["T"], s["n"])
    y = torch.randint(0, 12, (s["B"],))
    lengths = torch.randint(s["T"] // 2, s["T"] + 1, (s["B"],)) if extras else None
    model = "rnn" if name == "torch.RNN" else "gru" if name == "torch.GRU" else name
    model, _, loop = model.partition(":")
    task = ClassificationTask(model, input_size=s["n"], num_classes=12, hidden_size=s["h"],
                              num_layers=s["d"], **({"recurrence": loop} if loop else {}))
    task.set_normalization(x)
    regularize = extras and model in UNFOLDING

    def forward():
        return task(x, lengths)

    def step():
        loss = nn.functional.cross_entropy(forward(), y)
        if regularize:
            loss = loss + bound_regularizer(task.model, 10.0, 10.0)
        loss.backward()
        task.zero_grad(set_to_none=True)
        return loss

    return step, forward


def core_step(name: str, s: dict):
    torch.manual_seed(0)
    x = torch.randn(s["B"], s["T"], s["n"])
    if name.startswith("torch."):
        model = TorchCore(name.split(".")[1], s["n"], s["h"], s["d"])
    else:
        name, _, loop = name.partition(":")
        model = build(name, s["n"], s["h"], s["d"], signal_size=s["h"],
                      **({"recurrence": loop} if loop else {}))

    def step():
        codes = model(x)[0]
        loss = codes.pow(2).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)
        return loss

    return step, (lambda: model(x)[0])


def bench(setting: str, repeats: int) -> list[dict]:
    s = SETTINGS[setting]
    names = ("torch.RNN", "torch.GRU", *UNFOLDING, *FORCED)
    if setting.startswith("speech"):
        steps = {name: speech_step(name, s, setting == "speech+") for name in names}
    else:
        steps = {name: core_step(name, s) for name in names}
    times = {name: [] for name in names}
    for step, _ in steps.values():  # warm-up (and the C++ loops' build)
        step()
    for _ in range(repeats):
        for name, (step, _) in steps.items():
            started = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - started)
    median = {name: statistics.median(t) for name, t in times.items()}
    return [{"setting": setting, **s, "model": name, "ms": 1e3 * median[name],
             "times_ms": [1e3 * t for t in times[name]],
             "vs_torch_rnn": median["torch.RNN"] / median[name],
             "vs_torch_gru": median["torch.GRU"] / median[name],
             "saved_mib": saved_bytes_of(steps[name][1]) / 2 ** 20} for name in names]


def over_rounds(rounds: list[list[dict]]) -> list[dict]:
    """Rows of several rounds of ``bench`` (one setting) as one: each model's median time and
    ratios over the rounds, with the ratios' range (what the machine's drift moves)."""
    rows = []
    for by_model in zip(*rounds, strict=True):
        row = dict(by_model[0])
        for key in ("ms", "vs_torch_rnn", "vs_torch_gru"):
            values = [r[key] for r in by_model]
            row[key] = statistics.median(values)
            row[key + "_rounds"] = values
        row["times_ms"] = [t for r in by_model for t in r["times_ms"]]
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    rounds = len(rows[0].get("vs_torch_rnn_rounds", [None])) if rows else 1
    spread = " (range over rounds)" if rounds > 1 else ""
    lines = [f"| setting | model | train step ms (median) | vs torch.RNN{spread} | "
             "vs torch.GRU | saved for backward MiB |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['vs_torch_rnn']:.2f}"
        if rounds > 1:
            ratio += (f" ({min(r['vs_torch_rnn_rounds']):.2f}-"
                      f"{max(r['vs_torch_rnn_rounds']):.2f})")
        lines.append(f"| {r['setting']} | {r['model']} | {r['ms']:.1f} | {ratio} | "
                     f"{r['vs_torch_gru']:.2f} | {r['saved_mib']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: "
                        "one process on one core, as the issue measures)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every setting this "
                        "many times (each a median of --repeats) and report the median ratio "
                        "with its range over the rounds (default 1)")
    parser.add_argument("--out", help="write OUT.json and OUT.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [row for setting in args.settings for row in
            over_rounds([bench(setting, args.repeats) for _ in range(args.rounds)])]
    text = markdown(rows)
    print(text)
    if args.out:
        meta = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                "threads": args.threads, "repeats": args.repeats, "rounds": args.rounds}
        Path(args.out + ".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        Path(args.out + ".md").write_text(text)


if __name__ == "__main__":
    main()
