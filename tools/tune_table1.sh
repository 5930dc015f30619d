#!/bin/bash
# Paper 000 Table 1's searches (issue 27): every model at depth D on the Google-12 validation
# split, 8 trials each of the final runs' own schedule (30 epochs, the decay step searched),
# each study with its own sampler seed and the patient median pruner (unfoldrnn.tune).
# A rerun continues the studies where they stopped. Then the table, each cell with its own
# depth's search and schedule:
#   unfoldrnn reproduce paper000-table1 --scale cpu --out results/tuned --data DATA \
#       --tuned results/tune-table1 --seeds 3 --values 1 3 --workers 2
set -euo pipefail
D=${1:?usage: tools/tune_table1.sh DEPTH [DATA] [OUT]}
DATA=${2:-../shared/data/speech_commands/speech_commands_test_set_v0.02}
OUT=${3:-results/tune-table1}
for m in reweighted l1l1 gru fastgrnn lstm spectralrnn rnn sista; do
    unfoldrnn tune --task classification --data "$DATA" --model "$m" --num-layers "$D" \
        --epochs 30 --trials 8 --out "$OUT/num_layers=$D/$m" --workers 2 --quiet
done
