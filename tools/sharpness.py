"""Why the unfolding RNNs diverge above lr ~ 1e-3: the loss after one Adam-sized step on each
parameter tensor (issue 27).

Adam's first step moves every coordinate by lr, along minus the sign of its gradient, whatever
the gradient's size (clipping does not bound it). On one training batch of a run's config,
for each parameter tensor alone: its gradient norm and the batch loss after the step
theta - eta sign(grad) for each eta. ``--epochs`` instead trains a few epochs with Adam (one
seed, no schedule) and prints each epoch's mean and largest batch loss and the validation
accuracy. ``--p-scale`` multiplies the unfolding model's initial P (the identity) by a
factor; ``--matrix-lr-scale`` gives P and Z_l their own rate, lr times the factor;
``--max-singular`` clips the singular values of P and each Z_l to at most a value after
every step (projected gradient: the linear part of the recurrence cannot expand).

    python tools/sharpness.py CONFIG --data DATA [--p-scale 0.5] [--etas 1e-4 1e-3 3e-3]
    python tools/sharpness.py CONFIG --data DATA --epochs 4 --lr 3e-3 [--matrix-lr-scale 0.1]
"""

import argparse

import torch
from torch import nn

from unfoldrnn.config import TrainConfig, read_config_file
from unfoldrnn.train import build_data, build_task

RECURRENT = ("P", "Z")  # the unfolding models' state-mixing matrices


def sign_steps(task, batch, etas) -> tuple[list, float]:
    """Rows (name, shape, gradient norm, batch losses after -eta sign(grad)) per parameter
    tensor, and the batch loss before."""
    loss = task.training_loss(batch)[0]
    task.zero_grad()
    loss.backward()
    rows = []
    for name, p in task.named_parameters():
        step = p.grad.sign()
        after = []
        with torch.no_grad():
            for eta in etas:
                p.sub_(eta * step)
                after.append(task.training_loss(batch)[0].item())
                p.add_(eta * step)
        rows.append((name, tuple(p.shape), float(p.grad.norm()), after))
    return rows, loss.item()


def clip_singular_values(matrices, most: float) -> None:
    """W <- U min(S, most) V^T for each matrix (a stack: each of its matrices)."""
    with torch.no_grad():
        for W in matrices:
            U, S, Vh = torch.linalg.svd(W)
            W.copy_(U @ torch.diag_embed(S.clamp(max=most)) @ Vh)


def short_training(task, train, val, config, epochs: int, matrix_lr_scale: float,
                   max_singular: float | None) -> None:
    recurrent = [p for n, p in task.named_parameters() if n.split(".")[-1] in RECURRENT]
    others = [p for n, p in task.named_parameters() if n.split(".")[-1] not in RECURRENT]
    opt = torch.optim.Adam([{"params": others},
                            {"params": recurrent, "lr": config.lr * matrix_lr_scale}],
                           lr=config.lr)
    params = list(task.parameters())
    gen = torch.Generator().manual_seed(config.seed)
    print("| epoch | mean batch loss | largest batch loss | validation accuracy [%] |")
    print("|---|---|---|---|")
    for epoch in range(epochs):
        task.train()
        losses = []
        for batch in task.batches(train, config.batch_size, gen):
            loss = task.training_loss(batch)[0]
            if not torch.isfinite(loss):
                print(f"| {epoch + 1} | diverged: the loss of batch {len(losses) + 1} is "
                      f"{loss.item()} | | |")
                return
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.clip)
            opt.step()
            if max_singular is not None:
                clip_singular_values(recurrent, max_singular)
            losses.append(loss.item())
        accuracy = task.evaluate(val)["accuracy"]
        print(f"| {epoch + 1} | {sum(losses) / len(losses):.3g} | {max(losses):.3g} "
              f"| {100 * accuracy:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a run's config.json or a TOML config")
    parser.add_argument("--data", help="the data folder (default: the config's)")
    parser.add_argument("--p-scale", type=float, default=1.0)
    parser.add_argument("--etas", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3, 3e-3])
    parser.add_argument("--batch", type=int, default=500, help="examples in the batch")
    parser.add_argument("--epochs", type=int, default=0, help="train instead (see above)")
    parser.add_argument("--lr", type=float, help="the rate of --epochs (default: config's)")
    parser.add_argument("--matrix-lr-scale", type=float, default=1.0)
    parser.add_argument("--max-singular", type=float)
    args = parser.parse_args()
    values = read_config_file(args.config)
    values.update({k: v for k, v in (("data", args.data), ("lr", args.lr)) if v is not None})
    config = TrainConfig.from_dict(values)
    torch.manual_seed(config.seed)
    train, val, _ = build_data(config, progress=False)
    task = build_task(config, train, seed=config.seed)
    if args.p_scale != 1.0:
        with torch.no_grad():
            task.model.P.mul_(args.p_scale)
    if args.epochs:
        short_training(task, train, val, config, args.epochs, args.matrix_lr_scale,
                       args.max_singular)
        return
    gen = torch.Generator().manual_seed(config.seed)
    batch = next(iter(task.batches(train, args.batch, gen)))
    rows, loss = sign_steps(task, batch, args.etas)
    print(f"batch loss {loss:.3f} ({args.batch} training examples)\n")
    print("| parameter | shape | gradient norm | "
          + " | ".join(f"loss after eta = {eta:g}" for eta in args.etas) + " |")
    print("|---|---|---|" + "---|" * len(args.etas))
    for name, shape, norm, after in rows:
        print(f"| {name} | {'x'.join(map(str, shape)) or 'scalar'} | {norm:.3g} | "
              + " | ".join(f"{v:.3g}" for v in after) + " |")


if __name__ == "__main__":
    main()
