"""A throwaway PostgreSQL cluster on a unix socket (Debian's postgresql package), for the
tests of studies on a real database server; skips (with the reason) where none can run."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@contextlib.contextmanager
def postgres_cluster():
    """Yields an Optuna storage URL of a fresh cluster; stops and removes it afterwards."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server here (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg2", reason="no PostgreSQL driver (pip install psycopg2-binary)")
    root = Path(tempfile.mkdtemp(prefix="unfoldrnn-pg-"))  # outside pytest's private tmp
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_postgres = []
    if os.geteuid() == 0:  # the server refuses to run as root
        as_postgres = ["runuser", "-u", "postgres", "--"]
        for path in (root, sock):
            shutil.chown(path, "postgres")
    try:
        subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U",
                        "postgres", "-A", "trust"], check=True, capture_output=True)
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l",
                        str(root / "log"), "-o", f"-k {sock} -c listen_addresses=''",
                        "start"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster here: {err}")
    try:
        yield f"postgresql+psycopg2://postgres@/postgres?host={sock}"
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                        "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
