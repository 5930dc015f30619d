"""The documentation site builds with zero warnings, and every gallery example runs in it."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
MISSING = [m for m in ("sphinx", "furo", "sphinx_gallery") if importlib.util.find_spec(m) is None]


@pytest.mark.skipif(bool(MISSING), reason=f"the docs extra is not installed ({', '.join(MISSING)}"
                    "; pip install -e '.[docs]')")
def test_the_docs_build_without_warnings_and_run_every_example(tmp_path):
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "auto_examples"))
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
                           "-q", str(source), str(tmp_path / "html")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    examples = sorted(p.stem for p in (DOCS / "examples").glob("plot_*.py"))
    assert len(examples) == 6
    for name in examples:  # each example ran and its page exists
        assert (tmp_path / "html" / "auto_examples" / f"{name}.html").exists()
    api = (tmp_path / "html" / "api.html").read_text()
    for public in ("ReweightedRNN", "unfolding_rademacher", "pac_bayes_kl_bound",
                   "load_classification_arrays", "register_model", "pretrained"):
        assert public in api
    assert "_TorchRNN" not in api and "_Stacked" not in api  # no private bases shown
    # the formulas of the models and bounds as math (MathJax), not escaped text
    assert api.count('class="math') >= 30
    for formula in (r"\mathrm{kl}^{-1}(q, c)", r"\Phi_{a,b,s}(u)", r"\Lambda_0^{2T}",
                    r"\min_h \tfrac12 \|x_t - A D h\|_2^2", r"\mathrm{Bin}(n, p)"):
        assert formula in api, formula
    pages = {p.name for p in (tmp_path / "html").rglob("*.html")}
    assert {"cli.html", "data_formats.html", "defaults.html", "architecture.html"} <= pages
    browser = shutil.which("chromium")
    if browser:  # every page loads in a real browser; every gallery figure is full size
        spec = importlib.util.spec_from_file_location("check_pages", DOCS / "check_pages.py")
        check_pages = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(check_pages)
        assert check_pages.check(tmp_path / "html", browser) == []
