#!/usr/bin/env bash
# The one GPU check of issue 13, run on a lent device machine from the repository root:
# CUDA parity tests, the train-step benchmark (B = 32 and 256, h = 1024, d = 3, T = 20) and
# one paper-scale epoch eager vs CUDA graphs. Logs and results go to $OUT (default /tmp/gpu).
set -uo pipefail
OUT=${OUT:-/tmp/gpu}
mkdir -p "$OUT"
# UNFOLDRNN_NATIVE=0: no minute of device time spent building the CPU-only C++ loops
export PYTHONPATH=src PYTHONUNBUFFERED=1 UNFOLDRNN_NATIVE=0
nvidia-smi -L | tee "$OUT/device.txt"
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/device.txt"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py \
    "tests/test_models.py::test_cuda_matches_cpu" 2>&1 | tail -25 | tee "$OUT/tests.txt"
timeout 240 python3 benchmarks/train_step.py --device cuda --models reweighted l1l1 sista \
    --hidden 1024 --layers 3 --steps 20 --batch 32 256 --repeats 7 \
    --out "$OUT/gpu_step" 2>&1 | grep -v Warning | tee "$OUT/bench.txt"
timeout 200 python3 benchmarks/paper_epoch.py --models reweighted --out "$OUT/paper_epoch" \
    2>&1 | tail -5 | tee "$OUT/epoch.txt"
