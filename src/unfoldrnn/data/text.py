"""Word-level corpora for language modelling: WikiText-2 (Merity et al. 2016), Penn Treebank.

The convention of PyTorch's word_language_model example: every line's words followed by
``<eos>`` (empty lines too), the vocabulary built from the training split in order of first
appearance; a validation or test word the training split never saw is an error (both corpora
already map rare words to ``<unk>``). Token ids are cached on disk like speech features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .cache import cache_key, cached_arrays, file_signature
from .mnist import DataError

EOS = "<eos>"
TOKEN_VERSION = 1
LAYOUTS = {
    "wikitext-2": ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"),
    "ptb": ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"),
}


class Vocabulary:
    """id -> word (``.words``) and word -> id (``.ids``)."""

    def __init__(self, words: list[str]):
        self.words = list(words)
        self.ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, word: str) -> int:
        return self.ids[word]

    def decode(self, ids) -> list[str]:
        return [self.words[int(i)] for i in ids]


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"corpus file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"corpus file {path} is empty")
    if b"\x00" in raw:
        raise DataError(f"corpus file {path} is binary, not text")
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"corpus file {path} is not UTF-8 text: {err}") from None


def tokenize(paths: tuple[Path, Path, Path]) -> dict[str, np.ndarray]:
    """Token ids of the three splits and the vocabulary (from the training split)."""
    vocab: dict[str, int] = {}
    splits = {}
    for name, path in zip(("train", "valid", "test"), paths, strict=True):
        ids = []
        for number, line in enumerate(_lines(path), 1):
            for word in line.split() + [EOS]:
                if word not in vocab:
                    if name != "train":
                        raise DataError(f"{path}, line {number}: the word {word!r} is not in "
                                        "the training split's vocabulary")
                    vocab[word] = len(vocab)
                ids.append(vocab[word])
        splits[name] = np.asarray(ids, dtype=np.int64)
    return {**splits, "vocab": np.array(list(vocab))}


class Corpus:
    """A word-level corpus in a folder: ``.train``, ``.valid``, ``.test`` (1-D int64 token
    ids) and ``.vocab``. ``layout`` names the three files (see ``LAYOUTS``)."""

    layout: str

    def __init__(self, root: str | Path):
        root = Path(root)
        names = LAYOUTS[self.layout]
        paths = tuple(root / name for name in names)
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{root} lacks the {self.layout} file(s) {', '.join(missing)}")
        key = cache_key("tokens", TOKEN_VERSION, file_signature(list(paths)))
        arrays = cached_arrays(key, lambda: tokenize(paths))
        self.root = root
        self.vocab = Vocabulary([str(w) for w in arrays["vocab"]])
        self.train, self.valid, self.test = (torch.from_numpy(arrays[s])
                                             for s in ("train", "valid", "test"))


class WikiText2(Corpus):
    """WikiText-2 (v1, tokenised): wiki.{train,valid,test}.tokens."""

    layout = "wikitext-2"


class PennTreebank(Corpus):
    """Penn Treebank, Mikolov's version: ptb.{train,valid,test}.txt."""

    layout = "ptb"


def load_corpus(root: str | Path) -> Corpus:
    """The corpus whose files the folder holds (WikiText-2 or Penn Treebank)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"corpus folder not found: {root}")
    for cls in (WikiText2, PennTreebank):
        if any((root / name).exists() for name in LAYOUTS[cls.layout]):
            return cls(root)
    raise DataError(f"{root} holds neither WikiText-2 (wiki.*.tokens) nor Penn Treebank "
                    "(ptb.*.txt)")
