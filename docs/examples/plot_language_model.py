"""
A word-level language model
===========================

Paper 000 Sec. 4.3's task on a tiny corpus written here in the Penn Treebank layout
(``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt``; WikiText-2's ``wiki.*.tokens`` work
the same way): a GRU predicts the next word, scored by perplexity, then continues a prompt.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from unfoldrnn import plots
from unfoldrnn.config import TrainConfig
from unfoldrnn.predict import next_words, vocabulary
from unfoldrnn.train import fit, load_run

rng = np.random.default_rng(0)
subjects, verbs, objects = ["the cat", "a dog", "the bird"], ["sees", "likes"], \
    ["the fish", "a ball", "the tree"]


def sentences(n):
    return "\n".join(f"{subjects[rng.integers(3)]} {verbs[rng.integers(2)]} "
                     f"{objects[rng.integers(3)]}" for _ in range(n))


corpus = Path(tempfile.mkdtemp()) / "ptb"
corpus.mkdir()
for split, n in (("train", 600), ("valid", 60), ("test", 60)):
    (corpus / f"ptb.{split}.txt").write_text(sentences(n))

config = TrainConfig(task="language_model", data=str(corpus), model="gru", hidden_size=32,
                     embedding_size=16, num_layers=1, bptt=10, epochs=6)
run = corpus.parent / "run"
metrics = fit(config, run, progress=False, log=lambda *_: None)
print(f"test perplexity {metrics['test']['perplexity']:.2f} (a uniform guess: "
      f"{len(vocabulary(config, run))})")

# %%
config, task, _ = load_run(run)
print("the cat ->", " ".join(next_words(task, vocabulary(config, run), ["the", "cat"], 6)))
plots.learning_curves(metrics["epochs"], None, "GRU language model")
plt.show()
