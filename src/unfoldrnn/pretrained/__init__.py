"""Trained models shipped inside the package (each a run folder well under 1 MB: config,
metrics, bound report and one weights-only checkpoint), made by ``tools/ship_model.py``.

This package sits above ``train`` (it loads runs); the run folders live beside this file.
``pretrained(name)`` returns the trained task (model, head, feature normalisation and class
names) in eval mode; ``unfoldrnn predict NAME INPUT...`` uses it from the command line.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..train import RunError, load_run

PRETRAINED = {
    "demo-reweighted": "the demo's reweighted-RNN: compressive video reconstruction of "
                       "16x16 Moving MNIST at CS rate 0.2 (h = 256, d = 3)",
    "speech-certified": "the certified speech classifier: reweighted-RNN, d = 1, Google-12, "
                        "trained with the bound's norms as regulariser "
                        "(configs/certified_speech.toml, seed 0)",
    "speech-gru": "its GRU counterpart: GRU, d = 1, h = 100, Google-12, 20 epochs "
                  "(results/certificates, seed 0)",
}


def folder_of(name: str) -> Path:
    """The run folder of a shipped model."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of: "
                         f"{', '.join(PRETRAINED)}")
    return Path(str(resources.files(__name__) / name))


def pretrained(name: str):
    """The shipped model ``name`` (one of ``PRETRAINED``) as its trained task, in eval
    mode; ``.config`` is its run's config and ``.metrics`` its recorded metrics."""
    config, task, metrics = load_run(folder_of(name), "best")
    task.config, task.metrics = config, metrics
    return task.eval()


def run_folders(name: str) -> tuple[Path, Path]:
    """(the folder to read, the folder to write into) of RUN: a run folder (both), or
    where none is there a shipped model's name (read from the package, written into ./NAME/,
    which is then no run folder of its own)."""
    path = Path(name)
    if (path / "config.json").exists() or (path.exists() and name not in PRETRAINED):
        return path, path
    if name not in PRETRAINED:
        raise RunError(f"{name} is neither a run folder nor a shipped model (shipped: "
                       f"{', '.join(PRETRAINED)})")
    return folder_of(name), Path(name)
