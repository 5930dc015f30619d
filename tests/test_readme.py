"""The README's Python blocks run as written, and its commands exist."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {})


def test_readme_commands_are_real_subcommands():
    from unfoldrnn.cli import make_parser

    commands = set(make_parser()._subparsers._group_actions[0].choices)
    used = set(re.findall(r"^unfoldrnn (\w+)", README, flags=re.M))
    assert used and used <= commands


def test_example_configs_are_valid():
    from unfoldrnn.config import TrainConfig, read_config_file

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))
    assert len(configs) >= 4
    for path in configs:
        TrainConfig.from_dict(read_config_file(path))
