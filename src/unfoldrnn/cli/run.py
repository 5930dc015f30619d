"""train, evaluate, plot, predict: a run folder from a config, and what it gives."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

from ..config import TASKS, ConfigError, TrainConfig, task_defaults
from ..models import UNFOLDING_MODELS
from ..pretrained import PRETRAINED, run_folders
from .common import add_train_flags, config_from_args


def cmd_train(args) -> int:
    from ..distributed import Ranks
    from ..train import Diverged, fit, record_divergence

    config = config_from_args(args)
    try:
        metrics = fit(config, args.out, resume=args.resume, progress=not args.quiet)
    except Diverged as err:
        if Ranks().main:
            record_divergence(config, Path(args.out), str(err), err.epoch)
        print(f"unfoldrnn: {err}\nrecorded as diverged in {args.out}/metrics.json",
              file=sys.stderr)
        return 1
    if "test" in metrics and Ranks().main:
        print(f"wrote {args.out}/metrics.json")
    return 0


def cmd_evaluate(args) -> int:
    from ..tasks import confusion_matrix
    from ..train import build_data, load_run

    run_dir, out_dir = run_folders(args.run_dir)
    config, task, _ = load_run(run_dir, args.which)
    if args.data is not None:  # new labelled data instead of the run's test split
        from ..predict import labelled

        if config.task != "classification":
            raise ConfigError("--data scores a classifier on new labelled data; this run is "
                              f"a {config.task} run")
        test = labelled(config, task, args.data)
    else:
        test = build_data(config, progress=not args.quiet)[2]
    scores = task.evaluate(test)
    result = {"checkpoint": args.which, "test": scores,
              "data": str(args.data) if args.data else "the run's test split"}
    size = f"{test.numel():,} tokens" if config.task == "language_model" else \
        f"{len(test[1]) if isinstance(test, tuple) else len(test):,} sequences"
    print(f"{config.model}: test loss {scores['loss']:.4f}, {task.describe(scores)} ({size})")
    if config.task == "classification":
        counts = confusion_matrix(task.predict(test), test[1], task.num_classes)
        result["confusion"] = counts.tolist()
        result["classes"] = task.class_names
        print(confusion_text(counts, result["classes"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "evaluation.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


def confusion_text(counts, classes) -> str:
    """The confusion matrix as aligned text, every class name whole."""
    width = max(6, *(len(c) for c in classes))
    cells = [max(6, len(c) + 1) for c in classes]  # each column as wide as its name
    lines = ["confusion matrix (rows: true class, columns: predicted)",
             " " * width + "".join(f"{c:>{w}s}" for c, w in zip(classes, cells, strict=True))]
    lines += [f"{name:>{width}s}" + "".join(f"{int(v):{w}d}" for v, w in
                                            zip(row, cells, strict=True))
              for name, row in zip(classes, counts, strict=True)]
    return "\n".join(lines)


def cmd_plot(args) -> int:
    """Learning curves; reconstructions or the confusion matrix; and for unfolding models
    their activations and their bounds (the run's own numbers). A language-model run gets
    its learning curves and activations (the bounds do not cover it)."""
    import torch

    from .. import plots
    from ..tasks import confusion_matrix
    from ..tasks.reconstruction import frame_shape
    from ..train import build_data, load_run

    run_dir, out_dir = run_folders(args.run_dir)
    config, task, metrics = load_run(run_dir, "best")
    out = out_dir / "plots"
    written = []
    if metrics.get("epochs"):
        written.append(plots.learning_curves(metrics["epochs"], out / "learning_curves.png",
                                             title=config.model,
                                             loss_range=task.loss_range()))
    unfolding = config.model in UNFOLDING_MODELS
    if unfolding:
        written.append(plots.activations(task.model, out / "activations.png"))
    if config.task == "language_model":
        print("wrote " + ", ".join(str(p) for p in written) + " (language_model: no "
              "reconstructions, confusion matrix or bounds)")
        return 0
    train, _, test = build_data(config, progress=False)
    if config.task == "reconstruction":
        with torch.no_grad():
            written.append(plots.reconstructions(test[0], {config.model: task(test[:1])[0]},
                                                 out / "reconstructions.png",
                                                 frame_shape(config)))
    else:
        counts = confusion_matrix(task.predict(test), test[1], task.num_classes)
        written.append(plots.confusion(counts, task.class_names, out / "confusion.png",
                                       f"{config.model}: test accuracy "
                                       f"{100 * counts.trace() / counts.sum():.2f}%"))
    if unfolding and config.model != "sista":  # the papers give Sista-RNN no T-step bound
        from ..bounds import certify

        with torch.no_grad():
            inputs = task.model_inputs(train)
            if config.task == "classification":
                report = certify(task.model, inputs, head=task.head, labels=train[1])
                written.append(plots.bound_vs_gamma(report, out / "bound_vs_gamma.png"))
            else:
                report = certify(task.model, inputs, eta=task.loss_range())
        written.append(plots.bound_vs_T(out / "bound_vs_T.png", report))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0



def cmd_predict(args) -> int:
    """A trained model's answer on new inputs (``unfoldrnn.predict``)."""
    from .. import predict

    if args.top < 1:  # every argument checked before any work
        raise ConfigError(f"--top must be at least 1, got {args.top}")
    config, task, run_dir = predict.open_model(args.run)
    if config.task == "classification":
        rows = predict.classify(config, task, args.inputs, args.top)
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        width = max(len("input"), *(len(r["input"]) for r in rows))
        names = max(len("class"), *(len(c) for c in task.class_names))
        print(f"{'input':<{width}}  {'class':<{names}}  probability  top {len(rows[0]['top'])}")
        for r in rows:
            top = ", ".join(f"{c} {p:.2f}" for c, p in r["top"])
            print(f"{r['input']:<{width}}  {r['class']:<{names}}  {r['probability']:11.3f}  "
                  f"{top}")
        return 0
    if config.task == "reconstruction":
        import numpy as np
        import torch

        from .. import plots
        from ..metrics import psnr
        from ..tasks.reconstruction import frame_shape

        out = Path(args.out)
        # every input checked and reconstructed before anything is written
        done = [(item, *predict.reconstruct(task, item, args.measurements))
                for item in args.inputs]
        out.mkdir(parents=True, exist_ok=True)
        report = []
        for item, signals, estimates in done:
            name = Path(item).stem
            np.save(out / f"{name}.reconstructed.npy", estimates)
            flat = torch.from_numpy(estimates.reshape(*estimates.shape[:2], -1))
            entry = {"input": item, "output": str(out / f"{name}.reconstructed.npy")}
            if not args.measurements:
                entry["psnr"] = float(psnr(flat, torch.from_numpy(signals)))
                shape = estimates.shape[2:] if estimates.ndim == 4 else frame_shape(config)
                plots.reconstructions(torch.from_numpy(signals[0]), {config.model: flat[0]},
                                      out / f"{name}.png", shape)
                entry["strip"] = str(out / f"{name}.png")
            report.append(entry)
        if args.json:
            print(json.dumps(report, indent=1))
        for entry in report if not args.json else []:
            quality = f" (PSNR {entry['psnr']:.2f} dB)" if "psnr" in entry else ""
            print(f"{entry['input']} -> {entry['output']}{quality}")
        return 0
    words = predict.vocabulary(config, run_dir)
    prompt = " ".join(args.inputs).split()
    following = predict.next_words(task, words, prompt, args.words, args.sample,
                                   args.temperature, args.seed)
    if args.json:
        print(json.dumps({"prompt": prompt, "next": following}))
    else:
        print(" ".join(prompt), "->", " ".join(following))
    return 0



def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model (reconstruction, classification or "
                       "language_model)",
                       description="Train into a run folder (config.json, metrics.csv/json, "
                       "checkpoints/). Settings come from --config (TOML or JSON), then the "
                       "flags, then --set KEY=VALUE; defaults are the papers' (paper 001 for "
                       "reconstruction, paper 000 for classification and language_model), "
                       "except how a classifier's unfolding model is initialised (scaled to "
                       "the data; --set preset=paper gives paper 000's). A rerun of the same "
                       "command continues the run.",
                       epilog="config keys and defaults (None: the task's default): "
                       + ", ".join(f"{f.name}={f.default!r}" for f in fields(TrainConfig))
                       + ". Task defaults: " + "; ".join(
                           f"{t}: " + ", ".join(f"{k}={v!r}" for k, v in
                                                task_defaults(t, "reweighted").items())
                           for t in TASKS) + " (classification: lr 3e-3 for lstm and gru).")
    p.add_argument("--config", help="a TOML or JSON file of TrainConfig keys")
    add_train_flags(p, with_defaults=True)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other config key, e.g. --set clip=0.5 (repeatable)")
    p.add_argument("--out", required=True, help="run folder (new, or this run's: a rerun of "
                   "the same command continues it)")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt "
                   "(what a rerun of the same command does anyway; with a higher --epochs: "
                   "extend the run)")
    p.add_argument("--tensorboard", action="store_true",
                   help="log per-epoch scalars and figures to OUT/tensorboard (needs "
                   "pip install 'unfoldrnn[tensorboard]')")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)



def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="test loss and metric (PSNR, accuracy) of a run",
                       description="Evaluate a run's checkpoint on its test split, or a "
                       "classifier on new labelled data (--data); prints the metric (and a "
                       "classifier's confusion matrix) and writes RUN_DIR/evaluation.json.")
    p.add_argument("run_dir", metavar="RUN", help="run folder, or a shipped model's name")
    p.add_argument("--data", help="classification: new labelled data, a folder of "
                   "class_name/CLIP.wav (the run's class names) or a .npz with x and y "
                   "(or x_test and y_test; lengths optional)")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)



def add_plot(sub) -> None:
    p = sub.add_parser("plot", help="learning curves, reconstructions or confusion matrix, "
                       "activations, bounds",
                       description="Write PNG figures into RUN_DIR/plots/.")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_plot)



def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="a trained model's answer on new inputs",
                       description="Classification: WAV files, folders of them, or .npy/.npz "
                       "feature arrays -> predicted class, probability and top classes. "
                       "Reconstruction: .npy sequences [N, T, H, W] or [N, T, n0] -> their "
                       "reconstructions (.npy and a PNG strip in --out). Language model: a "
                       "prompt -> the next words. The run's own normalisation, class names and "
                       "vocabulary are used.",
                       epilog="RUN is a run folder or a shipped model: "
                       + "; ".join(f"{k}: {v}" for k, v in PRETRAINED.items()))
    p.add_argument("run", metavar="RUN", help="run folder, or a shipped model's name")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="files or folders (classification, reconstruction), or the prompt's "
                   "words (language model)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--top", type=int, default=3,
                   help="classification: classes listed (default 3)")
    p.add_argument("--out", default="predictions",
                   help="reconstruction: output folder (default predictions/)")
    p.add_argument("--measurements", action="store_true",
                   help="reconstruction: the inputs are measurements x = A s [N, T, n]")
    p.add_argument("--words", type=int, default=10,
                   help="language model: words to add (default 10)")
    p.add_argument("--sample", action="store_true",
                   help="language model: draw each word (default: the most likely)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="language model with --sample: p(w)^(1/T) (default 1)")
    p.add_argument("--seed", type=int, default=0, help="language model: the draws' seed")
    p.set_defaults(func=cmd_predict)

