"""Why Sista-RNN stays near chance on the speech task (issue 20), measured.

    python tools/sista_diagnosis.py DATA_DIR OUT_DIR [--epochs 5]

For Sista-RNN (reweighted-RNN, the vanilla RNN and GRU beside it) at paper 000's classification
setting
(A = I, random-uniform D, alpha = c = 1, lambda1 = 0.003, lambda2 = 0.02, d = 3, h = 100):

1. memory: ||W_1||_2 and the gradient of h_T with respect to the frame k steps before the
   end, at initialisation (how many of the 99 frames the last state can depend on);
2. non-linearity: the share of codes the soft threshold sets to zero;
3. three trainings of Sista-RNN (Adam 3e-3, clip 0.25, ``--epochs``): the paper's read-out
   y = Y h_T; the read-out of the mean code over the 99 frames (what a longer memory would
   give); that read-out with lambda1 = 0.1 (a threshold that acts).

Writes OUT_DIR/diagnosis.json and diagnosis.md.
"""

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from unfoldrnn.config import TrainConfig
from unfoldrnn.train import build_data, build_task


def memory(task) -> dict:
    model = task.model
    W1 = model.effective_weights()["W"][0].detach() if hasattr(model, "effective_weights") \
        else next(w for n, w in model.named_parameters() if "weight_hh" in n).detach()
    x = torch.randn(16, 99, model.input_size, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    model(x)[0][:, -1].sum().backward()
    grad = x.grad.norm(dim=(0, 2))
    return {"W1_spectral_norm": float(torch.linalg.matrix_norm(W1, 2)),
            "grad_h_T_wrt_frame_T_minus_k": {k: float(grad[-1 - k]) for k in (0, 1, 2, 5, 10, 30)}}


def train(config, data, readout: str, epochs: int, log) -> dict:
    train_split, val, test = data
    task = build_task(config, train_split)
    if readout == "mean":
        task.forward = lambda features, lengths=None: task.head(
            task.model(task.normalize(features))[0].mean(1))
    with torch.no_grad():
        codes = task.model(task.normalize(train_split[0][:200]))[0]
    zeros = float((codes == 0).float().mean())
    opt = torch.optim.Adam(task.parameters(), lr=config.lr)
    history = []
    for epoch in range(epochs):
        task.train()
        for batch in task.batches(train_split, 100, torch.Generator().manual_seed(epoch)):
            loss = task.training_loss(batch)[0]
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(task.parameters(), config.clip)
            opt.step()
        history.append(task.evaluate(val)["accuracy"])
        log(f"  {readout} lambda1={config.lambda1}: epoch {epoch + 1} val {history[-1]:.3f}")
    return {"readout": readout, "lambda1": config.lambda1, "zero_codes_at_init": zeros,
            "val_accuracy": history, "test_accuracy": task.evaluate(test)["accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("out", type=Path)
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    base = {"task": "classification", "data": args.data, "num_layers": 3, "lr": 3e-3}
    report = {"memory": {}, "runs": []}
    data = build_data(TrainConfig.from_dict({**base, "model": "sista"}), progress=False)
    for model in ("sista", "reweighted", "rnn", "gru"):
        report["memory"][model] = memory(build_task(TrainConfig.from_dict(
            {**base, "model": model}), data[0]))
        print(model, report["memory"][model])
    for readout, lambda1 in (("last", 0.0), ("mean", 0.0), ("mean", 0.1)):
        config = TrainConfig.from_dict({**base, "model": "sista", "lambda1": lambda1})
        report["runs"].append(train(config, data, readout, args.epochs, print))
    report["wall_seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "diagnosis.json").write_text(json.dumps(report, indent=1))
    lines = ["# Sista-RNN on Google-12 (d = 3): memory and read-out", "",
             "| model | norm 2 of W_1 (RNN, GRU: W_hh of layer 1) | gradient of h_T wrt frame "
             "T-k, k = 0, 1, 2, 5, 10, 30 |",
             "|---|---|---|"]
    for model, m in report["memory"].items():
        grads = ", ".join(f"{g:.2g}" for g in m["grad_h_T_wrt_frame_T_minus_k"].values())
        lines.append(f"| {model} | {m['W1_spectral_norm']:.3f} | {grads} |")
    lines += ["", "| Sista-RNN read-out | lambda1 | codes zeroed at init | val accuracy per epoch "
              "| test accuracy |", "|---|---|---|---|---|"]
    for r in report["runs"]:
        lines.append(f"| {'h_T (paper)' if r['readout'] == 'last' else 'mean code'} | "
                     f"{r['lambda1'] or 0.003} | {100 * r['zero_codes_at_init']:.1f}% | "
                     + ", ".join(f"{100 * a:.1f}" for a in r["val_accuracy"])
                     + f" | {100 * r['test_accuracy']:.1f}% |")
    lines += ["", f"Made by `python tools/sista_diagnosis.py {args.data} {args.out} --epochs "
              f"{args.epochs}` in {report['wall_seconds'] / 60:.1f} min (one core, seed 0)."]
    (args.out / "diagnosis.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
