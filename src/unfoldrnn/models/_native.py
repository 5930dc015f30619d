"""The C++ time loops of the l1-l1 family (``_recurrence.cpp``), built once per machine.

``recurrence()`` returns the compiled module (``recurrence_forward``,
``recurrence_backward``) or None where it cannot be built (no C++ compiler or ninja, a
build error): then the caller runs its Python loops, after one warning. The build takes
about a minute the first time and is cached by torch in ~/.cache/torch_extensions, under a
name keyed by the torch and Python versions, the flags and the source (``build_name``):
environments that differ build side by side, and a library in use is never rebuilt.
``UNFOLDRNN_NATIVE=0`` in the environment turns the C++ loops off (no build, no warning).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path

SOURCE = Path(__file__).with_name("_recurrence.cpp")
NAME = "unfoldrnn_recurrence"
FLAGS = ("-O3", "-fno-trapping-math")  # no trapping: the prox loops' compares vectorise
_STATE: dict[str, object] = {}
log = logging.getLogger("unfoldrnn")


def recurrence():
    """The built extension, or None (with one warning per process) where it cannot be."""
    if "module" not in _STATE:
        _STATE["module"] = None if os.environ.get("UNFOLDRNN_NATIVE") == "0" else _build()
    return _STATE["module"]


def build_name() -> str:
    """The extension's name: NAME and a digest of what the binary depends on."""
    import torch

    key = "\n".join([torch.__version__, sys.version, " ".join(FLAGS), SOURCE.read_text()])
    return f"{NAME}_{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _build():
    from ..prox import compiler_missing

    missing = compiler_missing()
    if missing is not None:
        return _unavailable(missing)
    started = time.perf_counter()
    try:
        import torch
        from torch.utils.cpp_extension import _get_build_directory, load

        name = build_name()
        built = Path(_get_build_directory(name, verbose=False)) / f"{name}.so"
        if not built.exists():  # about a minute, silent otherwise: a user sees a frozen run
            print(f"unfoldrnn: building the C++ recurrence for torch {torch.__version__}, "
                  f"Python {sys.version.split()[0]} (once; about a minute)...",
                  file=sys.stderr, flush=True)
        module = load(name, [str(SOURCE)], extra_cflags=list(FLAGS), verbose=False)
    except Exception as err:  # any build failure: the Python loops, never a failed run
        return _unavailable(f"{type(err).__name__}: {str(err).splitlines()[0][:160]}")
    seconds = time.perf_counter() - started
    if seconds > 1:
        log.info("built the C++ recurrence in %.1f s (once per machine)", seconds)
    return module


def _unavailable(reason: str):
    warnings.warn(f"compile_prox='auto': the C++ recurrence cannot be built ({reason}); "
                  "the unfolding RNNs run their Python loops", RuntimeWarning, stacklevel=4)
    return None
