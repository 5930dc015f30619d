"""Data sets: MNIST, Moving MNIST."""

from .mnist import DataError, download_mnist, load_mnist, parse_idx, read_idx
from .moving_mnist import PAPER_SPLIT, downscale, load_official, moving_mnist, split

__all__ = ["DataError", "download_mnist", "load_mnist", "parse_idx", "read_idx", "PAPER_SPLIT",
           "downscale", "load_official", "moving_mnist", "split"]
