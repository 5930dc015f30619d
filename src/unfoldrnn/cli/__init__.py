"""Command-line interface. ``unfoldrnn COMMAND --help`` explains each command.

Errors in what the user gave (a missing or corrupt file, an unknown model or config key, a
rate outside (0, 1], a run folder that holds another run) print one line and exit with 2,
before anything is written.
"""

import argparse
import sys
from importlib import metadata

from ..config import ConfigError
from ..data import DataError
from ..train import Interrupted, RunError
from . import bounds, demo, run, sweeps
from .common import config_from_args

__all__ = ["main", "make_parser", "config_from_args", "USER_ERRORS"]

USER_ERRORS = (ConfigError, DataError, RunError, ValueError, FileNotFoundError)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unfoldrnn",
        description="Deep-unfolding RNNs (reweighted-RNN, l1-l1-RNN, Sista-RNN), their RNN "
                    "baselines, the papers' tasks, and generalization bounds.",
        epilog="Each command has its own --help. Errors exit with status 2.")
    parser.add_argument("--version", action="version",
                        version=f"unfoldrnn {metadata.version('unfoldrnn')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for add in (run.add_train, run.add_evaluate, run.add_plot, bounds.add_bound,
                run.add_predict, bounds.add_certify, sweeps.add_reproduce, sweeps.add_tune,
                demo.add_demo, demo.add_models):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except Interrupted as err:
        print(f"unfoldrnn: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("unfoldrnn: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"unfoldrnn: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file system that refuses (read-only, full, not a folder)
        where = f"{err.filename}: " if err.filename else ""
        print(f"unfoldrnn: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
