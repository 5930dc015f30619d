"""MNIST idx files: read (gzipped or plain), verify, download.

The MNIST *test* set (10,000 digits) ships inside the package (``assets/``; Y. LeCun and
C. Cortes, CC BY-SA 3.0), so Moving MNIST runs with no data on disk. Full experiments read
the 60,000 training digits from a local copy in the official layout, or download them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np
import torch

# MD5 of the *uncompressed* idx files, so that any re-compression of the .gz still verifies.
FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "http://yann.lecun.com/exdb/mnist/")


class DataError(RuntimeError):
    """A data file is missing, corrupt or cannot be fetched."""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path}: {err}") from None


def parse_idx(data: bytes, source: str = "idx data") -> np.ndarray:
    """Parse an idx file (magic 0x0000 08 NDIM, big-endian dims, uint8 payload)."""
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{source} is not an unsigned-byte idx file (bad magic number)")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise DataError(f"{source} is truncated or corrupt: header says {dims}, "
                        f"payload has {len(data) - offset} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find(root: Path, name: str) -> Path:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.exists():
            return candidate
    raise DataError(f"MNIST file {name}(.gz) not found in {root}")


def read_idx(path: str | os.PathLike, verify: bool = True) -> np.ndarray:
    """Read one idx file, gzipped or not; check its MD5 when its name is a known MNIST file."""
    path = Path(path)
    data = _read_bytes(path)
    name = path.name.removesuffix(".gz")
    if verify and name in FILES and hashlib.md5(data).hexdigest() != FILES[name]:
        raise DataError(f"{path} failed its checksum: the file is corrupt or not MNIST")
    return parse_idx(data, str(path))


def download_mnist(root: str | os.PathLike, train: bool = True, mirrors=MIRRORS,
             timeout: float = 30.0) -> None:
    """Fetch the gzipped idx files of one split into ``root`` (atomically, verified)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    for name in FILES:
        if not name.startswith(prefix) or (root / f"{name}.gz").exists():
            continue
        errors = []
        for mirror in mirrors:
            url = f"{mirror}{name}.gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    payload = response.read()
            except (urllib.error.URLError, OSError) as err:
                errors.append(f"{url}: {err}")
                continue
            tmp = root / f".{name}.gz.part"
            tmp.write_bytes(payload)
            try:
                read_idx(tmp.rename(tmp.with_name(f"{name}.gz")))
            except DataError:
                (root / f"{name}.gz").unlink()
                errors.append(f"{url}: downloaded file failed its checksum")
                continue
            break
        else:
            raise DataError(f"could not download MNIST {name} (are you offline?):\n  "
                            + "\n  ".join(errors))


def load_mnist(root: str | os.PathLike | None = None, train: bool = False,
               download: bool = False, mirrors=MIRRORS) -> tuple[torch.Tensor,
                                                                         torch.Tensor]:
    """(images uint8 [N, 28, 28], labels int64 [N]). ``root=None`` reads the embedded test
    set; otherwise the official files in ``root``, fetched first from the official address
    (or ``mirrors``) when ``download`` is true and they are missing."""
    prefix = "train" if train else "t10k"
    if root is None:
        if train:
            raise DataError("only the MNIST test set is embedded; give root= for train digits")
        base = resources.files("unfoldrnn.data") / "assets"
        with resources.as_file(base) as folder:
            return _load_pair(Path(folder), prefix)
    root = Path(root)
    if download:
        download_mnist(root, train=train, mirrors=mirrors)
    return _load_pair(root, prefix)


def _load_pair(root: Path, prefix: str):
    images = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise DataError(f"MNIST {prefix} images {images.shape} and labels {labels.shape} differ")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
