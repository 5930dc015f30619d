"""The README's and the guide's Python blocks run as written, their commands exist, and
the README stays short."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the README and the guide's Markdown pages (docs/guide/), whose examples run as written
PAGES = {p.name: p.read_text() for p in [ROOT / "README.md",
                                         *sorted((ROOT / "docs" / "guide").glob("*.md"))]}
README = PAGES["README.md"]
BLOCKS = [(name, block) for name, text in PAGES.items()
          for block in re.findall(r"```python\n(.*?)```", text, flags=re.S)]


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name, block = BLOCKS[index]
    exec(compile(block, f"{name} python block {index + 1}", "exec"), {})


def test_readme_commands_are_real_subcommands():
    from unfoldrnn.cli import make_parser

    commands = set(make_parser()._subparsers._group_actions[0].choices)
    used = {c for text in PAGES.values()
            for c in re.findall(r"^unfoldrnn (\w+)", text, flags=re.M)}
    assert used and used <= commands


def test_the_readme_is_short():
    assert len(README.splitlines()) <= 150


def test_example_configs_are_valid():
    from unfoldrnn.config import TrainConfig, read_config_file

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))
    assert len(configs) >= 4
    for path in configs:
        TrainConfig.from_dict(read_config_file(path))
