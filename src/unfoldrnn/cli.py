"""Command-line interface: ``unfoldrnn <command> --help`` explains each command."""

from __future__ import annotations

import argparse
import sys
import time

import torch

from .models import MODEL_NAMES, algorithm1, build


def _synthetic_sparse_sequence(n0: int, h: int, T: int, k: int, gen: torch.Generator):
    """Sparse codes with a slowly changing support: h_t = h_{t-1} + small jitter."""
    codes = torch.zeros(T, h)
    support = torch.randperm(h, generator=gen)[:k]
    values = torch.randn(k, generator=gen)
    for t in range(T):
        codes[t, support] = values + 0.05 * torch.randn(k, generator=gen)
    return codes


def cmd_demo(args) -> int:
    """Algorithm 1 on a synthetic compressive sparse-coding problem, then every model."""
    gen = torch.Generator().manual_seed(args.seed)
    n0, h, n, T, k = 64, 128, 32, 10, 6
    D = torch.randn(n0, h, generator=gen)
    D /= D.norm(dim=0, keepdim=True)
    A = torch.randn(n, n0, generator=gen) / n ** 0.5
    codes = _synthetic_sparse_sequence(n0, h, T, k, gen)
    x = (codes @ D.T @ A.T).unsqueeze(0)
    c = 1.01 * torch.linalg.matrix_norm(A @ D, 2).item() ** 2
    print(f"Algorithm 1 (paper 001) on a synthetic problem: n={n}, n0={n0}, h={h}, T={T}, "
          f"{k}-sparse codes with a fixed support")
    for iters in (1, 10, 100, 1000):
        est = algorithm1(x, A, D, torch.eye(h), torch.eye(h), torch.ones(h), c, 0.01, 0.05,
                         num_iters=iters)[0]
        err = ((est - codes) @ D.T).norm() / (codes @ D.T).norm()
        print(f"  {iters:5d} iterations: relative signal error {err:.4f}")
    print("\nEvery registered model on x [8, 20, 32] -> codes [8, 20, 100], d = 3:")
    xb = torch.randn(8, 20, 32, generator=gen)
    for name in MODEL_NAMES:
        model = build(name, 32, 100, 3)
        start = time.perf_counter()
        out, _ = model(xb)
        out.square().mean().backward()
        ms = 1e3 * (time.perf_counter() - start)
        params = sum(p.numel() for p in model.parameters())
        print(f"  {name:12s} {params:>8,d} parameters   forward+backward {ms:7.1f} ms")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unfoldrnn",
        description="Deep-unfolding RNNs (reweighted-RNN, l1-l1-RNN, Sista-RNN), their RNN "
                    "baselines, tasks and generalization bounds.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = sub.add_parser("demo", help="a short tour: Algorithm 1 and every model",
                          description=cmd_demo.__doc__)
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("models", help="list the registered model names").set_defaults(
        func=lambda args: print("\n".join(MODEL_NAMES)) or 0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
