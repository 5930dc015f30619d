"""Speed of the classification and language-model tasks on real data (2-core CPU).

    python benchmarks/task_speed.py \
        --speech ../shared/data/speech_commands/speech_commands_test_set_v0.02 \
        --text ../shared/data/wikitext-2 --out benchmarks/task_speed

* featurising the Speech Commands folder once (empty cache) and reading the cache again;
* one training epoch (train split, batch 100, h = 100, d = 3, T = 99) of reweighted-RNN and
  torch's GRU, measured as ``fit`` measures it (the epoch row's seconds, validation included);
* words per second of language-model training (h = 100, d = 3, windows of 35, batch 20)
  for reweighted-RNN and torch's LSTM, with the full softmax and with
  nn.AdaptiveLogSoftmaxWithLoss, over the first ``--words`` training words.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from unfoldrnn.config import TrainConfig
from unfoldrnn.train import build_data, build_task, fit


def speech(root: str) -> dict:
    from unfoldrnn.data import speech_commands

    out = {}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["UNFOLDRNN_CACHE"] = cache
        for label in ("featurise_s", "cached_s"):
            started = time.perf_counter()
            speech_commands.load_features(root, progress=False)
            out[label] = time.perf_counter() - started
        for model in ("reweighted", "gru"):
            config = TrainConfig(task="classification", data=root, model=model, epochs=1,
                                 track_bound=False)
            with tempfile.TemporaryDirectory() as tmp:
                fit(config, Path(tmp) / "run", progress=False, log=lambda *_: None)  # warm-up
            with tempfile.TemporaryDirectory() as tmp:
                metrics = fit(config, Path(tmp) / "run", progress=False, log=lambda *_: None)
            out[f"epoch_s_{model}"] = metrics["epochs"][0]["seconds"]
    return out


def words_per_second(root: str, words: int) -> dict:
    out = {}
    for model in ("reweighted", "lstm"):
        for adaptive in (False, True):
            config = TrainConfig(task="language_model", data=root, model=model,
                                 adaptive_softmax=adaptive, max_train_tokens=words)
            train = build_data(config, progress=False)[0]
            task = build_task(config, train)
            opt = torch.optim.Adam(task.parameters(), lr=config.lr)
            seen, started = 0, None
            for i, batch in enumerate(task.batches(train, config.batch_size)):
                if i == 3:  # after warm-up (and the prox kernels' compilation)
                    seen, started = 0, time.perf_counter()
                loss, _, n = task.training_loss(batch)
                opt.zero_grad()
                loss.backward()
                opt.step()
                seen += n
            out[f"{model}{'+adaptive' if adaptive else ''}"] = seen / (
                time.perf_counter() - started)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--words", type=int, default=30_000)
    parser.add_argument("--out", default="benchmarks/task_speed")
    args = parser.parse_args(argv)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "speech": speech(args.speech),
              "lm_words_per_s": words_per_second(args.text, args.words)}
    print(json.dumps(result, indent=1))
    Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
