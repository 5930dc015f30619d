"""Data sets: MNIST and Moving MNIST (reconstruction), Google Speech Commands (classification),
WikiText-2 and Penn Treebank (language modelling)."""

from .audio import log_mel, read_wav
from .mnist import DataError, download_mnist, load_mnist, parse_idx, read_idx
from .moving_mnist import PAPER_SPLIT, downscale, load_official, moving_mnist, split
from .speech_commands import CLASS_SETS, FOLDS, SpeechCommands, find_clips, load_features
from .text import Corpus, PennTreebank, Vocabulary, WikiText2, load_corpus

__all__ = ["DataError", "download_mnist", "load_mnist", "parse_idx", "read_idx", "PAPER_SPLIT",
           "downscale", "load_official", "moving_mnist", "split", "log_mel", "read_wav",
           "CLASS_SETS", "FOLDS", "SpeechCommands", "find_clips", "load_features", "Corpus",
           "PennTreebank", "Vocabulary", "WikiText2", "load_corpus"]
