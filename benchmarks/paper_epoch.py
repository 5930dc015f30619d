"""Wall time of one training epoch at paper 001's scale (8,000 Moving MNIST sequences,
rate 0.2, h = 1024, d = 3, batch 32): eager against CUDA graphs, on the GPU.

    python benchmarks/paper_epoch.py --models reweighted l1l1 --out benchmarks/paper_epoch_gpu

Each run is a real ``fit`` of one epoch (validation included, bound tracking off); the
epoch's seconds come from its metrics row. Data generation is outside the timing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from unfoldrnn.config import TrainConfig
from unfoldrnn.train import fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["reweighted"])
    parser.add_argument("--out", default="benchmarks/paper_epoch")
    args = parser.parse_args(argv)
    rows = []
    for model in args.models:
        for graphs in (False, True):
            config = TrainConfig(model=model, epochs=1, track_bound=False, cuda_graphs=graphs,
                                 device="cuda")
            with tempfile.TemporaryDirectory() as tmp:
                metrics = fit(config, Path(tmp) / "run", progress=False, log=lambda *_: None)
            row = {"model": model, "cuda_graphs": graphs,
                   "epoch_seconds": metrics["epochs"][0]["seconds"],
                   "val_psnr": metrics["epochs"][0]["val_psnr"]}
            rows.append(row)
            print(row, flush=True)
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows},
        indent=1))


if __name__ == "__main__":
    main()
