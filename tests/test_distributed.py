"""Data-parallel training under torchrun with 2 CPU processes (gloo), against one process."""

import subprocess
import sys

import pytest
import torch

from unfoldrnn.train import load_checkpoint

# batch 15 of 40 training sequences: shards of 8 and 7, and 5 and 5 in the last batch
TINY = ["train", "--num-sequences", "60", "--split", "40,10,10", "--hidden-size", "16",
        "--num-layers", "2", "--epochs", "2", "--batch-size", "15", "--set", "frame_size=8",
        "--set", "compile_prox=false", "--quiet"]
DIE_AFTER_EPOCH_1 = """
import os, signal, sys
import unfoldrnn.train as train
write = train._write_metrics
def write_then_die(run_dir, history, extra):
    write(run_dir, history, extra)
    if len(history) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
train._write_metrics = write_then_die
from unfoldrnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def torchrun(*args, script=None, check=True):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2"]
    command += [str(script)] if script else ["-m", "unfoldrnn"]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run):
    return load_checkpoint(run / "checkpoints" / "last.pt")["task"]


@pytest.mark.parametrize("model", ["reweighted", "gru"])
def test_two_ranks_take_the_steps_of_one_process(tmp_path, model):
    from unfoldrnn.cli import main

    assert main([*TINY, "--model", model, "--out", str(tmp_path / "one")]) == 0
    torchrun(*TINY, "--model", model, "--out", str(tmp_path / "two"))
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-5, atol=1e-5, msg=k)
    history = [load_checkpoint(p / "checkpoints" / "last.pt")["history"]
               for p in (tmp_path / "one", tmp_path / "two")]
    assert history[1][0]["train_loss"] == pytest.approx(history[0][0]["train_loss"], rel=1e-5)
    assert not (tmp_path / "two" / "tensorboard").exists()


def test_resume_under_torchrun_equals_an_uninterrupted_torchrun(tmp_path):
    torchrun(*TINY, "--out", str(tmp_path / "full"))
    script = tmp_path / "die.py"
    script.write_text(DIE_AFTER_EPOCH_1)
    died = torchrun(*TINY, "--out", str(tmp_path / "cut"), script=script, check=False)
    assert died.returncode != 0
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["epoch"] == 0
    torchrun(*TINY, "--out", str(tmp_path / "cut"), "--resume")
    full, cut = weights(tmp_path / "full"), weights(tmp_path / "cut")
    assert all(torch.equal(full[k], cut[k]) for k in full)


def test_a_refused_folder_stops_every_rank_with_the_reason(tmp_path):
    """One rank checks the folder (two racing ranks once removed each other's probe folder);
    its refusal reaches the other rank, which stops too instead of waiting on a barrier."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    done = torchrun(*TINY, "--out", str(taken), check=False)
    assert done.returncode != 0
    assert done.stderr.count("is not empty and holds no run") == 2  # both ranks say why
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]
