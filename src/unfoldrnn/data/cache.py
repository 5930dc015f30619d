"""A disk cache for derived arrays (speech features, token ids), written atomically.

Entries live in ``$UNFOLDRNN_CACHE`` (default ``~/.cache/unfoldrnn``), one ``.npz`` per key;
the key hashes whatever determines the content (file names, sizes, modification times,
settings), so a changed source or setting is a new entry. A corrupt entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    return Path(os.environ.get("UNFOLDRNN_CACHE", Path.home() / ".cache" / "unfoldrnn"))


def file_signature(paths: list[Path]) -> list:
    """(name, size, mtime) of each file: changes when a file is replaced or edited."""
    signature = []
    for path in paths:
        stat = path.stat()
        signature.append((str(path), stat.st_size, stat.st_mtime_ns))
    return signature


def cache_key(kind: str, *parts) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"{kind}-{digest[:24]}"


def cached_arrays(key: str, compute: Callable[[], dict[str, np.ndarray]],
                  log=None) -> dict[str, np.ndarray]:
    """The arrays stored under ``key``, or ``compute()``'s, stored atomically first."""
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"cache entry {path} is corrupt ({err}); recomputing", stacklevel=2)
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if log is not None:
        log(f"cached {path}")
    return arrays
