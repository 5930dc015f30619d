"""Every mistake a user can make on the command line: exit 2, one line, nothing changed."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unfoldrnn.cli import main
from unfoldrnn.config import TrainConfig

TINY = ["--num-sequences", "40", "--split", "24,8,8", "--hidden-size", "8", "--num-layers",
        "1", "--epochs", "1", "--set", "frame_size=8", "--quiet",
        "--set", "track_bound=false"]


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    return run


def wrong_inputs(tmp):
    directory = tmp / "a_folder"
    directory.mkdir(exist_ok=True)
    a_file = tmp / "a_file.txt"
    a_file.write_text("x")
    not_object = tmp / "list.json"
    not_object.write_text("[1, 2]")
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("model = ")
    return [
        (["--lr", "inf"], "lr"), (["--lr", "-1"], "lr"), (["--set", "lr=abc"], "lr must be"),
        (["--set", "split=5"], "split must be"), (["--split", "1,2"], "split"),
        (["--split", "a,b,c"], "--split"), (["--set", "clip=nan"], "clip"),
        (["--set", "epochs=2.5"], "epochs must be int"), (["--set", "hidden_size=true"],
                                                          "hidden_size must be int"),
        (["--device", "gpu"], "device"), (["--model", "transformer"], "unknown model"),
        (["--task", "translation"], "unknown task"), (["--set", "lr_schedule=cosine"],
                                                      "lr_schedule"),
        (["--set", "compile_prox=maybe"], "compile_prox"),
        (["--classes", "google12"], "classes applies to task classification"),
        (["--config", str(directory)], "not a file"), (["--config", str(not_object)],
                                                       "table of config keys"),
        (["--config", str(bad_toml)], "cannot parse"), (["--config", str(tmp / "no.toml")],
                                                        "not found"),
        (["--data", str(tmp / "missing")], "neither"), (["--data", str(a_file)], "neither"),
        (["--set", "nonsense=1"], "unknown config key"), (["--set", "novalue"], "KEY=VALUE"),
        (["--rate", "0"], "rate"), (["--num-sequences", "-5"], "num_sequences"),
    ]


def test_wrong_inputs_exit_2_with_one_line_and_change_nothing(tmp_path, finished_run, capsys):
    before = snapshot(finished_run)
    for args, message in wrong_inputs(tmp_path):
        for out in (finished_run, tmp_path / "new"):
            code = main(["train", *TINY, *args, "--out", str(out)])
            err = capsys.readouterr().err
            assert code == 2, (args, err)
            # into another run's folder the folder is refused first, before the data loads
            said = message in err or (out == finished_run and "already holds" in err)
            assert len(err.strip().splitlines()) == 1 and said, (args, err)
            assert not (tmp_path / "new").exists(), args
    assert snapshot(finished_run) == before


def test_out_that_is_a_file_or_another_run(tmp_path, finished_run, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    assert main(["train", *TINY, "--out", str(a_file)]) == 2
    assert "is a file" in capsys.readouterr().err and a_file.read_text() == "keep me"
    before = snapshot(finished_run)
    assert main(["train", *TINY, "--lr", "0.5", "--out", str(finished_run)]) == 2
    assert "another run" in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_no_cuda_is_one_line_before_anything_is_written(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for args in (["--device", "cuda"], ["--set", "cuda_graphs=true"]):
        assert main(["train", *TINY, *args, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert "CUDA" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "run").exists()


def test_other_commands_refuse_wrong_folders(tmp_path, capsys):
    for command in (["evaluate"], ["plot"], ["bound"]):
        assert main([*command, str(tmp_path / "nothing")]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "table9"])
    assert exit_.value.code == 2


KEYS = [k for k in TrainConfig.__dataclass_fields__ if k not in ("task", "data")]
VALUES = st.one_of(st.text(max_size=6), st.integers(-3, 3), st.floats(allow_nan=True),
                   st.booleans(), st.lists(st.integers(-2, 2), max_size=4), st.none())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_key_with_any_value_is_valid_or_a_config_error(key, value):
    """No value of any key escapes as a TypeError, AttributeError or a silent wrong type."""
    from unfoldrnn.config import ConfigError

    try:
        config = TrainConfig.from_dict({key: value})
    except ConfigError as err:
        assert key in str(err) or "split" in str(err) or "applies to" in str(err)
        return
    assert json.loads(json.dumps(config.to_dict())) is not None
