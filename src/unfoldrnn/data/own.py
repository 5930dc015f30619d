"""Your own data, no code: arrays (``.npz`` / ``.npy``) and folders of audio clips.

* **classification arrays** (``.npz``): ``x_train [N, T, n]``, ``y_train [N]``, optionally
  ``x_valid``/``y_valid``, ``x_test``/``y_test``, ``lengths_train`` (and of the other
  splits) for sequences shorter than T (padded at the end), and ``class_names``. A missing
  split is cut from the training arrays by a seeded permutation (10% each: the 80/10/10
  split when both are missing), and said so.
* **classification audio** (a folder ``class_name/*.wav``): the speech features of
  ``audio.log_mel`` (1 s per clip), split 80/10/10 within each class by a seeded permutation
  (speaker-agnostic: no speaker is known); clips at another rate than 16 kHz are resampled.
* **reconstruction arrays** (``.npy``): sequences ``[N, T, H, W]`` (frames, n0 = H W) or
  ``[N, T, n0]`` (signals), values in [0, 1] (PSNR's peak is 1).

Every wrong array is refused with one ``DataError`` line naming the array and the problem.
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..progress import bars_off
from .audio import SAMPLE_RATE, fit_length, log_mel, read_wav, unpadded_frames
from .cache import cache_key, cached_arrays, file_signature
from .mnist import DataError

SPLITS = ("train", "valid", "test")
HELD_OUT = 0.1  # the fraction of the training arrays cut for each missing split


@dataclass
class LabelledSequences:
    """The three splits of a classification data set and its class names. A split is
    ``(features [N, T, n] float32, labels [N] int64)``, or with a third tensor, the
    ``lengths [N]`` of sequences padded at the end."""

    splits: tuple
    class_names: list[str]

    @property
    def input_size(self) -> int:
        return int(self.splits[0][0].shape[-1])


def classification_source(data: str | Path) -> str:
    """"arrays" (a .npz file), "speech" (a Speech Commands folder) or "audio" (a folder of
    class_name/*.wav)."""
    path = Path(data)
    if path.suffix == ".npz":
        return "arrays"
    if path.is_file():
        raise DataError(f"classification takes a .npz of arrays (x_train, y_train, ...), a "
                        f"folder of class_name/CLIP.wav or a Speech Commands folder; {path} is "
                        f"a {path.suffix or 'plain'} file")
    if path.is_dir() and not ((path / "testing_list.txt").exists()
                              or (path / "_silence_").is_dir() or (path / "_unknown_").is_dir()):
        return "audio"
    return "speech"


def own_source(task: str, data: str | None) -> bool:
    """Is ``data`` the user's own arrays, sequences or audio folder (this module), rather
    than one of the papers' datasets, for ``task``?"""
    if data is None:
        return False
    if task == "reconstruction":
        return str(data).endswith(".npy") and not Path(data).name.startswith("mnist_test_seq")
    if task == "classification":
        return classification_source(data) != "speech"
    return False


def note(message: str) -> None:
    print(f"unfoldrnn: {message}", file=sys.stderr)


# ------------------------------------------------------------------ classification arrays

def _npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if not zipfile.is_zipfile(path):  # (np.load would read it as a pickle, and say so)
        raise DataError(f"{path} is not a NumPy .npz archive (np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise DataError(f"{path} holds object arrays; store plain numeric arrays (and "
                            "class_names as strings)") from None
        raise DataError(f"{path} is not a readable .npz file: {err}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path} is not a readable .npz file: {err}") from None


def _features(name: str, x: np.ndarray) -> np.ndarray:
    if x.ndim != 3:
        raise DataError(f"{name} must be [N, T, n] (sequences, steps, features), got shape "
                        f"{list(x.shape)}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if min(x.shape) == 0:
        raise DataError(f"{name} is empty (shape {list(x.shape)})")
    if not np.isfinite(x).all():
        raise DataError(f"{name} contains NaN or infinite values")
    return x.astype(np.float32)


def _labels(name: str, y: np.ndarray, count: int) -> np.ndarray:
    if y.ndim != 1 or len(y) != count:
        raise DataError(f"{name} must be [N] with N = {count} (one label per sequence), got "
                        f"shape {list(y.shape)}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise DataError(f"{name} must hold integer class indices; it has non-integer "
                            "values")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if (y < 0).any():
        raise DataError(f"{name} has negative labels; labels are class indices 0..K-1")
    return y.astype(np.int64)


def _lengths(name: str, lengths: np.ndarray, count: int, T: int) -> np.ndarray:
    if lengths.ndim != 1 or len(lengths) != count or not np.issubdtype(lengths.dtype,
                                                                      np.integer):
        raise DataError(f"{name} must be [N] integers with N = {count}, got shape "
                        f"{list(lengths.shape)} of {lengths.dtype}")
    if (lengths < 1).any() or (lengths > T).any():
        raise DataError(f"{name} must lie in 1..{T} (the steps of each sequence)")
    return lengths.astype(np.int64)


def _cut(arrays: dict, name: str, count: int, generator: np.random.Generator,
         path: Path) -> None:
    """Move ``count`` random training sequences into split ``name``."""
    order = generator.permutation(len(arrays["y_train"]))
    take, keep = np.sort(order[:count]), np.sort(order[count:])
    for key in [k for k in arrays if k.endswith("_train")]:
        arrays[key.replace("_train", f"_{name}")] = arrays[key][take]
        arrays[key] = arrays[key][keep]
    note(f"{path.name} has no {name} split: cut {count} sequences from the training arrays "
         "(seeded)")


def load_classification_arrays(path: str | Path, seed: int = 0) -> LabelledSequences:
    """The splits of a classification .npz (module docstring), checked array by array."""
    path = Path(path)
    arrays = _npz(path)
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise DataError(f"{path} lacks the array {key} (it has: {', '.join(arrays) or 'none'})")
    for split in ("valid", "test"):
        if (f"x_{split}" in arrays) != (f"y_{split}" in arrays):
            raise DataError(f"{path} has only one of x_{split} and y_{split}")
    names = arrays.pop("class_names", None)
    base = {}
    for split in SPLITS:
        if f"x_{split}" not in arrays:
            continue
        x = _features(f"x_{split}", arrays[f"x_{split}"])
        base[f"x_{split}"] = x
        base[f"y_{split}"] = _labels(f"y_{split}", arrays[f"y_{split}"], len(x))
        if f"lengths_{split}" in arrays:
            base[f"lengths_{split}"] = _lengths(f"lengths_{split}", arrays[f"lengths_{split}"],
                                                len(x), x.shape[1])
    T, n = base["x_train"].shape[1:]
    for split in ("valid", "test"):
        if f"x_{split}" in base and base[f"x_{split}"].shape[1:] != (T, n):
            raise DataError(f"x_{split} is [N, {base[f'x_{split}'].shape[1]}, "
                            f"{base[f'x_{split}'].shape[2]}] where x_train is [N, {T}, {n}]: "
                            "every split needs the same steps T and features n (pad shorter "
                            "sequences and give lengths_<split>)")
        if ("lengths_train" in base) != (f"lengths_{split}" in base) and f"x_{split}" in base:
            raise DataError(f"give lengths for every split or for none (lengths_train and "
                            f"lengths_{split})")
    labels = np.concatenate([base[f"y_{s}"] for s in SPLITS if f"y_{s}" in base])
    if names is not None:
        names = [str(v) for v in np.atleast_1d(names)]
        if labels.max() >= len(names):
            raise DataError(f"a label is {labels.max()}, but class_names has {len(names)} "
                            "entries (labels are indices 0..K-1)")
    else:
        names = [str(k) for k in range(int(labels.max()) + 1)]
    if len(names) < 2:
        raise DataError(f"{path} has a single class; classification needs at least two")
    counts = np.bincount(base["y_train"], minlength=len(names))
    if (counts < 2).any():
        k = int(np.argmin(counts))
        raise DataError(f"y_train has {counts[k]} example(s) of class {names[k]!r}; every class "
                        "needs at least 2 training examples")
    generator = np.random.default_rng(seed)
    held = max(1, round(HELD_OUT * len(base["y_train"])))
    for split in ("valid", "test"):
        if f"x_{split}" not in base:
            _cut(base, split, held, generator, path)
    splits = []
    for split in SPLITS:
        item = (torch.from_numpy(base[f"x_{split}"]), torch.from_numpy(base[f"y_{split}"]))
        if f"lengths_{split}" in base:
            item += (torch.from_numpy(base[f"lengths_{split}"]),)
        splits.append(item)
    return LabelledSequences(tuple(splits), names)


# ------------------------------------------------------------------ audio folders

def clip_rate(path: str | Path) -> int:
    """The sample rate of a wav file, or a DataError naming it."""
    from scipy.io import wavfile

    try:
        return wavfile.read(path, mmap=True)[0]
    except FileNotFoundError:
        raise DataError(f"wav file not found: {path}") from None
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable wav file: {err}") from None


def read_clip(path: str | Path, rate: int | None = None) -> np.ndarray:
    """A mono wav at 16 kHz (another rate resampled with SciPy's polyphase filter);
    ``rate``: the file's own rate where the caller has read it already."""
    rate = clip_rate(path) if rate is None else rate
    samples = read_wav(path, sample_rate=rate)
    if rate == SAMPLE_RATE:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(SAMPLE_RATE, rate)
    return resample_poly(samples, SAMPLE_RATE // g, rate // g)


LOW_RATE = 8000  # Hz: below it a clip has no energy in the Mel filters' upper half


def audio_features(files: list[str | Path], num_filters: int = 32, lengths: bool = False):
    """log_mel of each clip (resampled to 16 kHz, padded or cut to 1 s): [N, 99, n], and
    with ``lengths`` the frames each fills before its zero padding (``unpadded_frames``,
    [N]: the reading of ``clip_lengths``). What
    the features lose is said on stderr: clips cut to their first second, clips sampled
    below 8 kHz (the filters above rate / 2 see nothing), digitally silent clips (every
    energy at log(eps), unlike recorded silence)."""
    rates = [clip_rate(f) for f in files]
    clips = [read_clip(f, rate) for f, rate in zip(files, rates, strict=True)]
    long = [(f, f"{len(c) / SAMPLE_RATE:.3g} s") for f, c in zip(files, clips, strict=True)
            if len(c) > SAMPLE_RATE * 1.05]
    low = [(f, f"{rate} Hz") for f, rate in zip(files, rates, strict=True) if rate < LOW_RATE]
    silent = [(f, "all 0") for f, c in zip(files, clips, strict=True) if not np.any(c)]
    for found, what in ((long, "longer than 1 s: cut to their first second"),
                        (low, f"sampled below {LOW_RATE} Hz: their features above rate / 2 "
                              "are empty"),
                        (silent, "digitally silent: every feature is log(eps), which no "
                                 "recorded silence gives")):
        if found:
            note(f"{len(found)} clip(s) {what} (e.g. {Path(found[0][0]).name}: "
                 f"{found[0][1]})")
    features = log_mel(np.stack([fit_length(c) for c in clips]), num_filters=num_filters)
    if not lengths:
        return features
    return features, np.array([unpadded_frames(c) for c in clips], dtype=np.int64)


def audio_folder_clips(root: str | Path) -> tuple[list[str], np.ndarray, list[str]]:
    """(files, labels, class names) of a folder of class_name/*.wav, in a fixed order."""
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir()
                     and any(f.suffix.lower() == ".wav" for f in p.iterdir()))
    if len(classes) < 2:
        raise DataError(f"{root} needs at least two class folders of .wav files "
                        f"(class_name/*.wav); found {len(classes)}")
    files, labels = [], []
    for k, name in enumerate(classes):
        clips = sorted(f for f in (root / name).iterdir() if f.suffix.lower() == ".wav")
        if len(clips) < 3:
            raise DataError(f"class folder {root / name} has {len(clips)} clip(s); each class "
                            "needs at least 3 (one per split)")
        files += [str(f) for f in clips]
        labels += [k] * len(clips)
    return files, np.array(labels, dtype=np.int64), classes


def load_audio_folder(root: str | Path, num_filters: int = 32, seed: int = 0,
                      progress: bool = True) -> LabelledSequences:
    """Features of a folder of class_name/*.wav (cached on disk) and a seeded 80/10/10
    split within each class."""
    from tqdm.auto import tqdm

    files, labels, classes = audio_folder_clips(root)

    def compute():
        chunks = [audio_features(files[i:i + 256], num_filters)
                  for i in tqdm(range(0, len(files), 256), desc="log-Mel features",
                                disable=bars_off(progress))]
        return {"features": np.concatenate(chunks)}

    key = cache_key("audio", 1, num_filters, file_signature([Path(f) for f in files]))
    features = cached_arrays(key, compute)["features"]
    generator = np.random.default_rng(seed)
    split = np.empty(len(files), dtype=np.int64)
    for k in range(len(classes)):
        idx = generator.permutation(np.flatnonzero(labels == k))
        held = max(1, round(HELD_OUT * len(idx)))
        split[idx[:held]], split[idx[held:2 * held]], split[idx[2 * held:]] = 1, 2, 0
    splits = tuple((torch.from_numpy(features[split == s]), torch.from_numpy(labels[split == s]))
                   for s in range(3))
    counts = [int((split == s).sum()) for s in range(3)]
    note(f"{root}: {len(classes)} classes; split within each class into {counts[0]} training, "
         f"{counts[1]} validation and {counts[2]} test clips (seeded; no speakers known)"
         + (": a test split this small measures little" if counts[2] < 10 * len(classes)
            else ""))
    return LabelledSequences(splits, classes)


# ------------------------------------------------------------------ reconstruction arrays

def default_split(n: int) -> tuple[int, int, int]:
    """80 / 10 / 10 of n sequences (each part at least one)."""
    tenth = max(1, round(HELD_OUT * n))
    if n - 2 * tenth < 1:
        raise DataError(f"{n} sequences cannot be split into train, valid and test")
    return n - 2 * tenth, tenth, tenth


def read_npy(path: str | Path, what: str = "data file") -> np.ndarray:
    """The array of a .npy file (no pickles), or a DataError naming the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npy file: {err}") from None


def load_sequences(path: str | Path) -> torch.Tensor:
    """Sequences of a .npy: [N, T, H, W] frames or [N, T, n0] signals in [0, 1] -> float32
    [N, T, n0]."""
    path = Path(path)
    x = read_npy(path)
    if x.ndim not in (3, 4):
        raise DataError(f"{path.name} must be [N, T, H, W] (frames) or [N, T, n0] (signals), "
                        f"got shape {list(x.shape)}")
    if min(x.shape) == 0:
        raise DataError(f"{path.name} is empty (shape {list(x.shape)})")
    if np.issubdtype(x.dtype, np.integer) and x.dtype == np.uint8:
        x = x / 255.0
    if not np.isfinite(x).all():
        raise DataError(f"{path.name} contains NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise DataError(f"{path.name} has values in [{x.min():.3g}, {x.max():.3g}]; scale them "
                        "to [0, 1] (the PSNR's peak is 1)")
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return x.flatten(start_dim=2)


def load_matrix(path: str | Path, n0: int) -> torch.Tensor:
    """A user's sensing matrix A [n, n0] from a .npy."""
    path = Path(path)
    A = read_npy(path, "measurement matrix")
    if A.ndim != 2 or A.shape[1] != n0 or not 0 < A.shape[0] <= n0:
        raise DataError(f"measurement {path.name} must be [n, {n0}] with n <= {n0}, got shape "
                        f"{list(A.shape)}")
    if not np.isfinite(A).all():
        raise DataError(f"measurement {path.name} contains NaN or infinite values")
    return torch.from_numpy(A.astype(np.float32))
