"""Sphinx configuration: furo theme, autodoc API reference, sphinx-gallery examples.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (``pip install -e '.[docs]'``);
warnings are errors and every cross-reference must resolve (``nitpicky``).
"""

import re
from importlib import metadata

project = "unfoldrnn"
author = "the unfoldrnn developers"
copyright = "2026, the unfoldrnn developers (MIT licence)"
release = metadata.version("unfoldrnn")
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax",
              "sphinx.ext.napoleon", "sphinx.ext.viewcode", "sphinx_gallery.gen_gallery",
              "sphinxarg.ext",  # cli.rst: the command-line reference, from the parser
              "myst_parser"]  # the guide's Markdown pages
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
html_theme = "furo"
html_title = f"unfoldrnn {release}"
exclude_patterns = ["_build", "examples"]
nitpicky = True
# types of other projects: no intersphinx inventories can be fetched offline, so references
# to them stay plain text instead of links
nitpick_ignore_regex = [(r"py:.*", r"(torch|np|numpy|nn|optuna|matplotlib|pathlib|os|"
                                   r"collections)\b.*"),
                        (r"py:class", r"unfoldrnn\..*\.(_\w+|\w+Cell)"),  # private bases
                        (r"py:.*", r"(Tensor|Path|Generator|Module|Parameter|Iterator|"
                                   r"Callable|ndarray|Dataset|Task|TrainConfig|Corpus|"
                                   r"BoundReport|LabelledSequences|Vocabulary)"),
                        (r"py:.*", r"(optional|callable|array_like|default.*)")]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "run_stale_examples": True,
    "matplotlib_animations": False,
}


def _escape(text: str) -> str:
    """reStructuredText's markup characters in a plain-text docstring line, escaped outside
    ``literals`` and :math:`...` spans: the docstrings write norms as ||x||_2 and products
    as A * B, which reST would read as substitutions, emphasis and link targets."""
    bullet = re.match(r"\s*[*-] ", text)  # a list item's marker stays one
    head, text = (bullet.group(0), text[bullet.end():]) if bullet else ("", text)
    parts = re.split(r"(``.*?``|:math:`[^`]*`)", text)
    for i in range(0, len(parts), 2):  # even parts lie outside literals and math
        part = re.sub(r"([\\|*`])", r"\\\1", parts[i])
        parts[i] = re.sub(r"(\w)_(?=\W|$)", r"\1\\_", part)  # word_ is a link target
    return head + "".join(parts)


def _plain_docstrings(app, what, name, obj, options, lines):
    """Docstrings are plain text with equations: escape reST markup, except in literal and
    ``.. math::`` blocks (the indented lines after a line ending in '::') and math spans."""
    out, literal = [], None  # literal: the indent of the line that opened a literal block
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if literal is not None and (not line.strip() or indent > literal):
            out.append(line)
            continue
        literal = indent if line.rstrip().endswith("::") else None
        out.append(_escape(line))
    lines[:] = out


def _public_bases(app, name, obj, options, bases):
    """"Bases:" names a private base by its first public ancestor (torch.nn.Module for the
    stacked baselines), never the private class itself."""
    for i, base in enumerate(bases):
        if base.__name__.startswith("_"):
            bases[i] = next(b for b in base.__mro__ if not b.__name__.startswith("_"))


def setup(app):
    app.connect("autodoc-process-docstring", _plain_docstrings)
    app.connect("autodoc-process-bases", _public_bases)
