"""``unfoldrnn predict``: a trained model's answer on new inputs, with the run's own
feature normalisation, class names and vocabulary (no training data needed).

* classification: WAV files or folders of them (the run's speech features), or ``.npy`` /
  ``.npz`` feature arrays -> the predicted class, its probability and the top 3;
* reconstruction: a ``.npy`` of sequences -> their reconstructions;
* language model: a prompt -> the next words, greedy or sampled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from .data import DataError
from .data.own import audio_features, classification_source, note, read_npy


class PredictError(ValueError):
    """An input that does not fit the model (its size, its kind)."""


def open_model(name_or_dir: str | Path):
    """(config, task in eval mode, run folder) of a run folder or, where no such folder
    exists, a shipped model's name."""
    from .pretrained import run_folders
    from .train import load_run

    path = run_folders(str(name_or_dir))[0]
    config, task, _ = load_run(path, "best")
    return config, task.eval(), path


# ------------------------------------------------------------------ classification

def _wav_files(inputs: list[str]) -> list[Path]:
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(f for f in item.iterdir() if f.suffix.lower() == ".wav")
            if not found:
                raise PredictError(f"folder {item} holds no .wav files")
            files += found
        elif item.exists():
            files.append(item)
        else:
            raise PredictError(f"input not found: {item}")
    return files


def _feature_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(features [N, T, n], lengths or None) of a .npy or .npz ('x', or the only x_*)."""
    if path.suffix == ".npy":
        return read_npy(path, "input"), None
    if not path.exists():
        raise PredictError(f"input not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            keys = [k for k in ("x", "x_test") if k in stored.files] or \
                [k for k in stored.files if k.startswith("x")]
            if not keys:
                raise PredictError(f"{path} holds no array x (it has: "
                                   f"{', '.join(stored.files)})")
            x = stored[keys[0]]
            suffix = keys[0][1:]
            lengths = stored[f"lengths{suffix}"] if f"lengths{suffix}" in stored.files \
                else None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise PredictError(f"{path} is not a readable .npz file: {err}") from None
    return x, lengths


def labelled(config, task, source: str | Path) -> tuple:
    """(features, labels[, lengths]) of new labelled data for a classifier: a folder of
    class_name/CLIP.wav (folder names among the model's classes; with their lengths where
    the run read clips at them, ``clip_lengths``) or a .npz with ``x`` and ``y`` (or
    ``x_test``, ``y_test``; ``lengths`` / ``lengths_test`` optional)."""
    from .data.own import audio_folder_clips

    source, n = Path(source), task.mean.shape[0]
    if source.is_dir():
        files, labels, names = audio_folder_clips(source)
        unknown = sorted(set(names) - set(task.class_names))
        if unknown:
            raise PredictError(f"{source} has class folders the model does not know: "
                               f"{', '.join(unknown)} (its classes: "
                               f"{', '.join(task.class_names)})")
        index = [task.class_names.index(name) for name in names]
        try:
            features, lengths = audio_features(files, n, lengths=True)
        except DataError as err:
            raise PredictError(str(err)) from None
        split = (torch.from_numpy(features), torch.tensor([index[k] for k in labels]))
        return (*split, torch.from_numpy(lengths)) if config.clip_lengths else split
    x, lengths = _feature_arrays(source)
    with np.load(source, allow_pickle=False) as stored:
        key = "y_test" if "x_test" in stored.files else "y"
        if key not in stored.files:
            raise PredictError(f"{source} holds no labels {key} (it has: "
                               f"{', '.join(stored.files)})")
        y = stored[key]
    if x.ndim != 3 or x.shape[-1] != n:
        raise PredictError(f"{source.name} must hold features [N, T, {n}], got shape "
                           f"{list(x.shape)}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or \
            y.min() < 0 or y.max() >= len(task.class_names):
        raise PredictError(f"{source.name}: {key} must be [{len(x)}] class indices in "
                           f"0..{len(task.class_names) - 1}")
    split = (torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)))
    return split if lengths is None else (*split, torch.from_numpy(lengths.astype(np.int64)))


def classify(config, task, inputs: list[str], top: int = 3) -> list[dict]:
    """One row per input sequence: name, class, probability, the ``top`` classes (at most
    all of them)."""
    if top < 1:
        raise PredictError(f"top must be at least 1, got {top}")
    n = task.mean.shape[0]
    arrays = [Path(i) for i in inputs if Path(i).suffix in (".npy", ".npz")]
    if arrays and len(arrays) != len(inputs):
        raise PredictError("give either audio (.wav files, folders) or feature arrays "
                           "(.npy/.npz), not both")
    names, batches = [], []
    if arrays:
        for path in arrays:
            x, lengths = _feature_arrays(path)
            x = x[None] if x.ndim == 2 else x  # one sequence [T, n]
            if x.ndim != 3 or x.shape[-1] != n:
                raise PredictError(f"{path.name} must be features [N, T, {n}] (or "
                                   f"[T, {n}]), got shape {list(x.shape)}")
            if not np.isfinite(x).all():
                raise PredictError(f"{path.name} contains NaN or infinite values")
            padded = int((x[:, -1] == 0).all(axis=-1).sum()) if lengths is None else 0
            if padded:  # each sequence is read at its last step: the padding's
                note(f"{path.name}: {padded} of {len(x)} sequences end in all-zero frames, "
                     "read as data (a .npy has no lengths); for padded sequences give an "
                     ".npz with x and lengths")
            names += [f"{path.name}[{i}]" for i in range(len(x))]
            batches.append((torch.from_numpy(x.astype(np.float32)),
                            None if lengths is None else torch.from_numpy(lengths)))
    else:
        if config.data is not None and classification_source(config.data) == "arrays":
            raise PredictError("this model was trained on feature arrays, not audio: give "
                               ".npy/.npz features")
        files = _wav_files(inputs)
        try:
            features, lengths = audio_features(files, n, lengths=True)
        except DataError as err:
            raise PredictError(str(err)) from None
        names = [str(f) for f in files]
        batches.append((torch.from_numpy(features),
                        torch.from_numpy(lengths) if config.clip_lengths else None))
    rows = []
    with torch.no_grad():
        probs = torch.cat([task(x, lengths).softmax(1) for x, lengths in batches])
    k = min(top, probs.shape[1])
    for name, p in zip(names, probs, strict=True):
        best = p.topk(k)
        ranked = [(task.class_names[int(c)], float(q)) for q, c in zip(*best, strict=True)]
        rows.append({"input": name, "class": ranked[0][0], "probability": ranked[0][1],
                     "top": ranked})
    return rows


# ------------------------------------------------------------------ reconstruction

def reconstruct(task, path: str | Path, measured: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(inputs as [N, T, n0] or measurements, reconstructions in the input's frame shape)
    of a .npy of sequences [N, T, H, W] / [N, T, n0] (``measured``: measurements
    [N, T, n], x = A s already taken by the user's sensor)."""
    path = Path(path)
    x = read_npy(path, "input")
    n0, n = task.signal_size, task.A.shape[0]
    if x.dtype == np.uint8:
        x = x / 255.0
    if not np.isfinite(x).all():
        raise PredictError(f"{path.name} contains NaN or infinite values")
    if not measured and (x.min() < 0 or x.max() > 1):  # as training refuses them
        raise PredictError(f"{path.name} has values in [{x.min():.3g}, {x.max():.3g}]; frames "
                           "must lie in [0, 1] (scale them, or give --measurements for x = A s)")
    want = n if measured else n0
    flat = x.reshape(*x.shape[:2], -1) if x.ndim == 4 else x
    if flat.ndim != 3 or flat.shape[-1] != want:
        what = f"measurements [N, T, {n}]" if measured else \
            f"sequences [N, T, {n0}] or [N, T, H, W] with H W = {n0}"
        raise PredictError(f"{path.name} must be {what}, got shape {list(x.shape)}")
    flat = torch.from_numpy(flat.astype(np.float32))
    with torch.no_grad():
        if measured:
            codes = task.model(flat)[0]
            out = codes @ task.model.D.T if task.decoder is None else task.decoder(codes)
        else:
            out = task(flat)
    shape = x.shape if (x.ndim == 4 and not measured) else (*flat.shape[:2], n0)
    return flat.numpy(), out.clamp(0, 1).reshape(shape).numpy()


# ------------------------------------------------------------------ language model

def vocabulary(config, run_dir: Path) -> list[str]:
    """The run's words by id: RUN_DIR/vocabulary.txt, else its corpus."""
    saved = run_dir / "vocabulary.txt"
    if saved.exists():
        return saved.read_text().splitlines()
    from .data import load_corpus

    return load_corpus(config.data).vocab.words


def next_words(task, words: list[str], prompt: list[str], count: int = 10,
               sample: bool = False, temperature: float = 1.0, seed: int = 0) -> list[str]:
    """The ``count`` words after ``prompt``: the most likely one each step, or drawn from
    p(w)^(1/temperature) with ``sample``. The model reads the last ``bptt`` words."""
    if count < 1:
        raise PredictError(f"--words must be a positive integer, got {count}")
    if not temperature > 0:
        raise PredictError(f"--temperature must be positive, got {temperature}")
    ids = {w: i for i, w in enumerate(words)}
    unk = ids.get("<unk>")
    unknown = [w for w in prompt if w not in ids]
    if unknown and unk is None:
        raise PredictError(f"the prompt's word(s) {', '.join(unknown)} are not in the model's "
                           "vocabulary")
    history = [ids.get(w, unk) for w in prompt]
    if not history:
        raise PredictError("the prompt is empty")
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for _ in range(count):
            window = torch.tensor([history[-task.bptt:]])
            logp = task.log_probs(task(window)[0])[0, -1]
            if sample:
                nxt = int(torch.multinomial((logp / temperature).softmax(0), 1, generator=gen))
            else:
                nxt = int(logp.argmax())
            history.append(nxt)
            out.append(words[nxt])
    return out
