"""Copy a finished run into the package as a shipped model (``unfoldrnn.pretrained``).

    python tools/ship_model.py RUN_DIR NAME [--checkpoint best|last] [--report FILE.json]
                                            [--half]

Keeps config.json, metrics.json and one checkpoint with the weights only (no optimizer state),
saved as checkpoints/best.pt (``--half``: its floating-point tensors stored as float16, half
the size; they load into the float32 model); the report (a bound or certificate JSON) is
copied beside them under its own name. The shipped weights are evaluated on the run's test
split once more and the result recorded as metrics.json's "shipped_test" (what the
package's test reproduces). The folder lands in src/unfoldrnn/pretrained/NAME.
"""

import argparse
import json
import shutil
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("name")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--report", type=Path, help="a JSON report to ship beside the weights")
    p.add_argument("--half", action="store_true", help="store the weights as float16")
    args = p.parse_args()
    out = REPO / "src" / "unfoldrnn" / "pretrained" / args.name
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    state = torch.load(args.run_dir / "checkpoints" / f"{args.checkpoint}.pt",
                       map_location="cpu", weights_only=False)
    slim = {k: state[k] for k in ("version", "epoch", "task", "extra")}
    slim["history"] = []
    if args.half:
        slim["task"] = {k: v.half() if v.is_floating_point() else v
                        for k, v in slim["task"].items()}
    torch.save(slim, out / "checkpoints" / "best.pt")
    metrics = json.loads((args.run_dir / "metrics.json").read_text())
    metrics["shipped_checkpoint"] = args.checkpoint
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    shutil.copy(args.run_dir / "config.json", out / "config.json")
    if args.report:
        shutil.copy(args.report, out / args.report.name)
    from unfoldrnn.train import build_data, load_run

    config, task, _ = load_run(out, "best")
    metrics["shipped_test"] = task.evaluate(build_data(config, progress=False)[2])
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"{args.name}: test {task.describe(metrics['shipped_test'])}")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
