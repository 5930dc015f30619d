"""Training-step and inference speed of every registered model against torch's own RNNs.

One training step = forward + backward of sum_t ||codes_t||^2 / numel on x [B, T, n], with
gradients reset like an optimizer's zero_grad. Within one configuration every model runs
in turn, repeat after repeat (round robin), so the ratios against torch.nn.RNN / GRU / LSTM
of the same size see the same machine load. Memory is the size of the tensors autograd
keeps for backward (the part that grows with B T d h), counted with saved_tensors_hooks.

    python benchmarks/train_step.py                       # the full grid, JSON + Markdown
    python benchmarks/train_step.py --hidden 1024 --layers 3 --steps 20 --models reweighted
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from unfoldrnn.models import MODEL_NAMES, UNFOLDING_MODELS, build
from unfoldrnn.models.graphs import use_cuda_graphs

TORCH_BASELINES = {"torch.RNN": torch.nn.RNN, "torch.GRU": torch.nn.GRU,
                   "torch.LSTM": torch.nn.LSTM}
COMPILED = ("reweighted", "l1l1")  # models with a compile_prox option (default "auto")


def make_models(names, n, n0, h, d, device):
    """torch's RNN/GRU/LSTM, every named model with its defaults (compile_prox="auto": the
    C++ loops on the CPU), and variants: ``+compile`` (compile_prox=True: Python loops,
    torch.compile'd prox), ``+eager`` (compile_prox=False) and, on CUDA, ``+graph``
    (forward and backward as CUDA graphs)."""
    models = {}
    for label, cls in TORCH_BASELINES.items():
        models[label] = cls(n, h, d, batch_first=True)
    for name in names:
        kw = {"signal_size": n0} if name in UNFOLDING_MODELS else {}
        models[name] = build(name, n, h, d, **kw)
        if name in COMPILED:
            models[name + "+compile"] = build(name, n, h, d, compile_prox=True, **kw)
            models[name + "+eager"] = build(name, n, h, d, compile_prox=False, **kw)
    models = {k: m.to(device) for k, m in models.items()}
    if device.type == "cuda":
        for name in names:
            if name in UNFOLDING_MODELS:
                kw = {"signal_size": n0}
                models[name + "+graph"] = use_cuda_graphs(build(name, n, h, d, **kw).to(device))
    return models


def train_step(model, x):
    for p in model.parameters():
        p.grad = None
    out = model(x)[0]
    out.square().mean().backward()


def saved_bytes_of(forward) -> int:
    """Bytes of the tensors autograd keeps between ``forward()`` and its backward."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    out.sum().backward()
    return total


def saved_bytes(model, x) -> int:
    return saved_bytes_of(lambda: model(x)[0])


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def bench_config(names, B, T, n, n0, h, d, repeats, device):
    torch.manual_seed(0)
    models = make_models(names, n, n0, h, d, device)
    x = torch.randn(B, T, n, device=device)
    for k, m in list(models.items()):  # warm-up (and compile)
        try:
            train_step(m, x)
        except Exception as err:  # e.g. torch.compile without a working backend
            print(f"  skipping {k}: {type(err).__name__}: {str(err)[:200]}")
            del models[k]
    train = {k: [] for k in models}
    infer = {k: [] for k in models}
    for _ in range(repeats):
        for k, m in models.items():
            train[k].append(timed(lambda m=m: train_step(m, x), device))
            with torch.no_grad():
                infer[k].append(timed(lambda m=m: m(x), device))
    rows = []
    base = {k: statistics.median(train[k]) for k in TORCH_BASELINES}
    for k, m in models.items():
        t_train = statistics.median(train[k])
        rows.append({
            "model": k, "B": B, "T": T, "n": n, "h": h, "d": d,
            "train_ms": 1e3 * t_train,
            "infer_seq_per_s": B / statistics.median(infer[k]),
            "saved_MiB": saved_bytes(m, x) / 2 ** 20,
            "speed_vs_RNN": base["torch.RNN"] / t_train,
            "speed_vs_GRU": base["torch.GRU"] / t_train,
            "speed_vs_LSTM": base["torch.LSTM"] / t_train,
            "params": sum(p.numel() for p in m.parameters()),
        })
    return rows


def markdown(rows) -> str:
    head = ("| B | h | d | T | model | train step ms | vs RNN | vs GRU | vs LSTM | "
            "inference seq/s | saved MiB |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['B']} | {r['h']} | {r['d']} | {r['T']} | {r['model']} | "
             f"{r['train_ms']:.1f} | "
             f"{r['speed_vs_RNN']:.2f} | {r['speed_vs_GRU']:.2f} | {r['speed_vs_LSTM']:.2f} | "
             f"{r['infer_seq_per_s']:.0f} | {r['saved_MiB']:.1f} |" for r in rows]
    return head + "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # convrnn keeps h = n (paper 002 Appendix D): it has no configuration of this grid's sizes
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES,
                        default=[m for m in MODEL_NAMES if m != "convrnn"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--layers", nargs="+", type=int, default=[1, 3, 6])
    parser.add_argument("--steps", nargs="+", type=int, default=[20, 99])
    parser.add_argument("--batch", nargs="+", type=int, default=[32])
    parser.add_argument("--input-size", type=int, default=51, help="n (default 51 = 0.2 * 256)")
    parser.add_argument("--signal-size", type=int, default=256, help="n0 of unfolding models")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="benchmarks/results", help="path prefix for .json/.md")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    machine = {"device": str(device), "torch": torch.__version__, "threads":
               torch.get_num_threads(), "platform": platform.platform(),
               "processor": platform.processor() or platform.machine()}
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    grid = [(B, h, d, T) for B in args.batch for h in args.hidden for d in args.layers
            for T in args.steps]
    for B, h, d, T in grid:
        config = bench_config(args.models, B, T, args.input_size, args.signal_size, h, d,
                              args.repeats, device)
        rows += config
        for r in config:
            print(f"B={B} h={h} d={d} T={T} {r['model']:20s} {r['train_ms']:9.1f} ms "
                  f"x{r['speed_vs_RNN']:.2f} RNN x{r['speed_vs_GRU']:.2f} GRU", flush=True)
        # written after every configuration, so an interrupted run keeps its rows
        out.with_suffix(".json").write_text(
            json.dumps({"machine": machine, "rows": rows}, indent=1))
        out.with_suffix(".md").write_text(markdown(rows))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
