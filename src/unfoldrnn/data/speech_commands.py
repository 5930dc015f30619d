"""Google Speech Commands (Warden 2018) as log Mel feature sequences [99, 32] (paper 000 Sec. 4).

Two folder layouts are understood:

* **official** (v0.01 / v0.02 archives): one folder per word, ``_background_noise_``,
  ``validation_list.txt`` and ``testing_list.txt``; the lists give the official splits.
  ``google30`` is the 30 words of v0.01. ``google12`` is yes/no/up/down/left/right/on/off/
  stop/go, "unknown" (every other word) and "silence" (1 s cuts of ``_background_noise_``),
  as in the TensorFlow speech-commands tutorial; unknown and silence are kept, per split,
  at the mean size of the ten word classes (chosen deterministically by file-name hash),
  the composition of the canonical Google-12 test set.
* **canonical Google-12 test set** (``speech_commands_test_set_v0.02``: 12 folders
  ``yes .. go _silence_ _unknown_``, no lists): split here into train / valid / test by
  speaker (the hash before ``_nohash_``; silence clips by file name), about 80 / 10 / 10,
  so that no speaker is in two splits. ``fold`` k = 1..9 rotates which tenth of the
  speakers is tested (``FOLDS``: ten folds test disjoint tenths; fold 0 is the split every
  table uses), for cross-validation over speakers.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..progress import bars_off
from .audio import SAMPLE_RATE, log_mel, read_wav, unpadded_frames
from .cache import cache_key, cached_arrays, file_signature
from .mnist import DataError

WORDS10 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
WORDS30 = WORDS10 + ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                     "nine", "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila",
                     "tree", "wow")
CLASS_SETS = {
    "google12": ("silence", "unknown") + WORDS10,
    "google30": WORDS30,
}
SPLITS = ("train", "valid", "test")
_SPEAKER = re.compile(r"([0-9a-f]{8})_nohash_")
FEATURE_VERSION = 3  # bump when the featurisation changes: old cache entries are ignored
FOLDS = 10  # speaker folds of the canonical test set (``_split_by_hash``)


def speaker_of(path: str | Path) -> str:
    """The speaker hash in ``022cd682_nohash_0.wav`` (or ``word_022cd682_nohash_0.wav.wav``);
    clips without one (silence cuts) are their own 'speaker'."""
    name = Path(path).name
    found = _SPEAKER.search(name)
    return found.group(1) if found else name


def _percent(name: str) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % 100


def _split_by_hash(name: str, fold: int = 0) -> str:
    """Deterministic split of a name: ~10% valid, ~10% test, the rest train. With the name's
    hash percent p, fold k tests p in [10 + 10 k, 20 + 10 k) mod 100 and validates on the
    tenth before it, so that folds 0..9 test disjoint tenths of the names."""
    p = (_percent(name) - 10 * fold) % 100
    return "valid" if p < 10 else "test" if p < 20 else "train"


def speaker_split(path: str | Path, fold: int = 0) -> str:
    """The split of a clip's speaker (``_split_by_hash`` of its speaker hash) in ``fold``."""
    return _split_by_hash(speaker_of(path), fold)


def _check_args(classes: str, split: str) -> None:
    if classes not in CLASS_SETS:
        raise DataError(f"unknown class set {classes!r}; choose one of {', '.join(CLASS_SETS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def _wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".wav" and p.is_file())


def _canonical_clips(root: Path, classes: str, fold: int) -> list[tuple[str, int, str]]:
    """(file, label, split) of the canonical Google-12 test set, split by speaker."""
    if classes != "google12":
        raise DataError(f"{root} holds the canonical Google-12 test set (12 folders, no "
                        f"lists); class set {classes!r} needs the official layout")
    names = CLASS_SETS["google12"]
    clips = []
    for label, name in enumerate(names):
        folder = root / (f"_{name}_" if name in ("silence", "unknown") else name)
        if not folder.is_dir():
            raise DataError(f"{root} lacks the folder {folder.name} of the Google-12 test set")
        clips += [(str(p), label, speaker_split(p, fold)) for p in _wavs(folder)]
    return clips


def _list(root: Path, name: str) -> set[str]:
    return {line.strip() for line in (root / name).read_text().splitlines() if line.strip()}


def _official_clips(root: Path, classes: str) -> list[tuple[str, int, str]]:
    """(file, label, split) from the official lists; silence clips are ``noise.wav#k``."""
    valid, test = _list(root, "validation_list.txt"), _list(root, "testing_list.txt")
    names = CLASS_SETS[classes]
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))

    def split_of(rel: str) -> str:
        return "valid" if rel in valid else "test" if rel in test else "train"

    clips, unknown = [], []
    for word in words:
        for p in _wavs(root / word):
            entry = (str(p), split_of(f"{word}/{p.name}"))
            if word in names:
                clips.append((entry[0], names.index(word), entry[1]))
            elif classes == "google12":
                unknown.append(entry)
    if classes == "google12":
        per_split = {s: max(1, round(sum(c[2] == s for c in clips) / len(WORDS10))) for s in SPLITS}
        silence = []
        noise = root / "_background_noise_"
        for p in _wavs(noise) if noise.is_dir() else []:
            cuts = len(read_wav(p)) // SAMPLE_RATE
            silence += [(f"{p}#{k}", _split_by_hash(f"{p.name}#{k}")) for k in range(cuts)]
        for label, pool in ((names.index("unknown"), unknown), (names.index("silence"), silence)):
            for s in SPLITS:
                chosen = sorted((f for f in pool if f[1] == s), key=lambda f: _percent(f[0]))
                clips += [(f, label, s) for f, _ in chosen[: per_split[s]]]
    return clips


def find_clips(root: str | Path, classes: str = "google12", fold: int = 0
               ) -> list[tuple[str, int, str]]:
    """Every clip of ``root`` as (file, label, split), in a fixed order; the canonical test
    set's split in speaker fold ``fold`` (0..9)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"speech data folder not found: {root}")
    _check_args(classes, "train")
    if not (isinstance(fold, int) and 0 <= fold < FOLDS):
        raise DataError(f"speaker fold must be an integer from 0 to {FOLDS - 1}, got {fold!r}")
    if (root / "testing_list.txt").exists() and (root / "validation_list.txt").exists():
        if fold:
            raise DataError(f"{root} has the official layout, whose lists fix the splits; "
                            "speaker folds apply to the canonical Google-12 test set")
        clips = _official_clips(root, classes)
    elif (root / "_silence_").is_dir() or (root / "_unknown_").is_dir():
        clips = _canonical_clips(root, classes, fold)
    else:
        raise DataError(f"{root} is not a Speech Commands folder: expected the official "
                        "layout (word folders, validation_list.txt, testing_list.txt) or the "
                        "Google-12 test set (yes .. go, _silence_, _unknown_)")
    if not clips:
        raise DataError(f"{root} holds no wav files of the class set {classes!r}")
    return clips


def _read_clip(entry: str) -> np.ndarray:
    path, _, cut = entry.partition("#")
    samples = read_wav(path)
    if cut:
        k = int(cut)
        return samples[k * SAMPLE_RATE:(k + 1) * SAMPLE_RATE]
    return samples


def featurize(files: list[str], num_filters: int = 32, progress: bool = True,
              chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """log_mel of every clip, [N, 99, num_filters] float32, with a progress bar, and the
    frames each clip fills before its zero padding (``unpadded_frames``), [N] int64."""
    from tqdm.auto import tqdm

    out = np.empty((len(files), 99, num_filters), dtype=np.float32)
    lengths = np.empty(len(files), dtype=np.int64)
    with tqdm(total=len(files), desc="log-Mel features", unit="clip",
              disable=bars_off(progress)) as bar:
        for start in range(0, len(files), chunk):
            clips = [_read_clip(f) for f in files[start:start + chunk]]
            out[start:start + len(clips)] = log_mel(np.stack(
                [np.pad(c[:SAMPLE_RATE], (0, max(0, SAMPLE_RATE - len(c)))) for c in clips]),
                num_filters=num_filters)
            lengths[start:start + len(clips)] = [unpadded_frames(c) for c in clips]
            bar.update(len(clips))
    return out, lengths


def load_features(root: str | Path, classes: str = "google12", num_filters: int = 32,
                  progress: bool = True, fold: int = 0) -> dict[str, np.ndarray]:
    """Features, labels and splits (in speaker ``fold``) of every clip of ``root``, the
    features cached on disk (``data.cache``) and keyed by the files (names, sizes, times)
    and the featurisation settings."""
    clips = find_clips(root, classes, fold)
    files = [c[0] for c in clips]
    sources = sorted({Path(f.partition("#")[0]) for f in files})
    key = cache_key("speech", FEATURE_VERSION, num_filters, files, file_signature(sources))

    def compute() -> dict:
        features, lengths = featurize(files, num_filters, progress)
        return {"features": features, "lengths": lengths, "files": np.array(files),
                "labels": np.array([c[1] for c in clips], dtype=np.int64)}

    arrays = cached_arrays(key, compute)
    if arrays["features"].shape != (len(files), 99, num_filters) or \
            list(arrays["files"]) != files:
        raise DataError(f"feature cache for {root} does not match its files; delete it")
    return {**arrays, "splits": np.array([c[2] for c in clips])}


class SpeechCommands(Dataset):
    """One split of Speech Commands: ``dataset[i] = (features [99, num_filters], label)``.

    ``.files`` are the clips in order (silence cuts as ``noise.wav#k``), ``.labels`` an int64
    tensor, ``.features`` a float32 tensor [N, 99, num_filters] of raw log Mel energies
    (the task normalises them with the training split's statistics), ``.lengths`` the frames
    each clip fills before its zero padding to 1 s (int64 [N]), ``.classes`` the names.
    ``fold``: the canonical test set's speaker fold (``find_clips``).
    """

    def __init__(self, root: str | Path, split: str = "train", classes: str = "google12",
                 num_filters: int = 32, progress: bool = True, fold: int = 0):
        _check_args(classes, split)
        arrays = load_features(root, classes, num_filters, progress, fold)
        keep = arrays["splits"] == split
        self.root, self.split, self.classes = Path(root), split, CLASS_SETS[classes]
        self.files = [str(f) for f in arrays["files"][keep]]
        self.labels = torch.from_numpy(arrays["labels"][keep])
        self.features = torch.from_numpy(arrays["features"][keep])
        self.lengths = torch.from_numpy(arrays["lengths"][keep])
        if len(self.files) == 0:
            raise DataError(f"{root} has no clips in the {split} split of {classes}")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.features[index], int(self.labels[index])
