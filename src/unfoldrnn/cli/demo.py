"""demo (the main job: two models trained and compared in minutes) and models."""

from __future__ import annotations

from pathlib import Path

from ..config import TrainConfig
from ..models import MODEL_NAMES
from ..train import RunError

# the demo's setting: compressive Moving MNIST at rate 0.2, h = 256, d = 3
DEMO = {"num_sequences": 3000, "split": (2400, 300, 300), "hidden_size": 256, "num_layers": 3,
        "lr": 1e-3, "lr_patience": 3, "rate": 0.2, "lambda_search_trials": 6}


def cmd_demo(args) -> int:
    """Train reweighted-RNN and a stacked RNN on embedded Moving MNIST, compare, plot.

    A rerun continues: finished models are reused, an interrupted one resumes."""
    import torch

    from .. import plots
    from ..train import build_data, fit, load_run

    out = Path(args.out)
    base = {**DEMO, "epochs": args.epochs, "seed": args.seed}
    results, estimates = {}, {}
    test = None
    for model in ("reweighted", "rnn"):
        run_dir = out / model
        print(f"training {model} ({args.epochs} epochs on 2,400 embedded Moving MNIST "
              f"sequences) -> {run_dir}")
        config = TrainConfig.from_dict({**base, "model": model})
        try:
            fit(config, run_dir, resume=(run_dir / "config.json").exists(),
                progress=not args.quiet, log=lambda *_: None,
                interrupt_hint="rerun the same demo command to continue")
        except RunError as err:
            if "holds" not in str(err):
                raise
            raise RunError(f"{out} holds a demo of other settings ({err}); give the demo "
                           "another folder with --out, or its earlier --epochs/--seed") from None
        config, task, metrics = load_run(run_dir)
        test = build_data(config, progress=False)[2][:1]
        with torch.no_grad():
            estimates[model] = task(test)[0]
        plots.learning_curves(metrics["epochs"], run_dir / "plots" / "learning_curves.png",
                              model)
        plots.reconstructions(test[0], {model: estimates[model]},
                              run_dir / "plots" / "reconstructions.png", config.frame_size,
                              title=f"{model}: test PSNR {metrics['test']['psnr']:.2f} dB")
        if model == "reweighted":
            plots.activations(task.model, run_dir / "plots" / "activations.png")
        results[model] = metrics
        print(f"  {model}: test PSNR {metrics['test']['psnr']:.2f} dB, "
              f"{metrics['parameters']:,} parameters, {metrics['train_seconds']:.0f} s")
    labels = {"reweighted": "reweighted-RNN", "rnn": "stacked RNN"}
    compare = plots.reconstructions(test[0], {labels[m]: e for m, e in estimates.items()},
                                    out / "comparison.png", config.frame_size,
                                    title="a test sequence: ground truth, reweighted-RNN, "
                                          "stacked RNN (PSNR per frame, dB)")
    (out / "report.md").write_text(_demo_report(results, labels, out, compare))
    print(f"report: {out / 'report.md'}; figures: {compare} and {out}/*/plots/*.png")
    return 0


def _demo_report(results: dict, labels: dict, out: Path, compare: Path) -> str:
    psnr = {m: r["test"]["psnr"] for m, r in results.items()}
    winner, other = sorted(psnr, key=psnr.get, reverse=True)
    lines = ["# unfoldrnn demo: compressive Moving MNIST, CS rate 0.2, h = 256, d = 3", "",
             f"**{labels[winner]} wins by {psnr[winner] - psnr[other]:.2f} dB** of test PSNR "
             f"({psnr[winner]:.2f} dB against {psnr[other]:.2f} dB for {labels[other]}).", "",
             "PSNR is the peak signal-to-noise ratio of a reconstructed frame, "
             "10 log10(1 / MSE) with pixels in [0, 1], averaged over the test frames (paper "
             "001 Sec. 4); 3 dB more is half the squared error.", "",
             "| model | test PSNR [dB] | parameters | training [s] |", "|---|---|---|---|"]
    lines += [f"| {labels[m]} | {r['test']['psnr']:.2f} | {r['parameters']:,} | "
              f"{r['train_seconds']:.0f} |" for m, r in results.items()]
    lines += ["", f"![comparison]({compare.relative_to(out)})", "",
              "Figures: " + ", ".join(
                  f"[{m}/plots/{name}]({m}/plots/{name}.png)" for m in results
                  for name in ("learning_curves", "reconstructions")) +
              ", [reweighted/plots/activations](reweighted/plots/activations.png) (the learned "
              "two-plateau activations, paper 001 Fig. 1)."]
    return "\n".join(lines) + "\n"



def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the main job: two models trained and compared in minutes",
                       description=cmd_demo.__doc__)
    p.add_argument("--out", default="demo_runs", help="output folder (default demo_runs)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)



def add_models(sub) -> None:
    sub.add_parser("models", help="list the registered model names").set_defaults(
        func=lambda args: print("\n".join(MODEL_NAMES)) or 0)
