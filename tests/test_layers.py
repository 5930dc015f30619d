"""The package's layers: no import cycle, the import-linter contract kept (imports inside
functions included), and no source file over 500 lines."""

import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "unfoldrnn"
ROOT = SRC.parents[1]


def test_no_source_file_is_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long


def test_the_import_graph_has_no_cycle_and_sees_imports_inside_functions():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter ([dev])")
    graph = grimp.build_graph("unfoldrnn")
    # cli.run imports plots only inside cmd_plot: the graph must still hold the edge
    assert "unfoldrnn.plots" in graph.find_modules_directly_imported_by("unfoldrnn.cli.run")
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            assert not graph.chain_exists(imported=module, importer=imported), \
                f"import cycle through {module} and {imported}"


def test_the_layers_contract_is_kept():
    lint = shutil.which("lint-imports") or pytest.skip("import-linter is not installed ([dev])")
    done = subprocess.run([lint], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 kept, 0 broken" in done.stdout
