import gzip
import http.server
import shutil
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from unfoldrnn.data import (
    DataError,
    download_mnist,
    load_mnist,
    load_official,
    moving_mnist,
    parse_idx,
    read_idx,
    split,
)

from shared_data import DATA, WHERE

SHARED_MNIST = DATA / "mnist"


def test_embedded_test_set_is_mnist():
    images, labels = load_mnist()
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and set(labels.tolist()) == set(range(10))


def test_idx_parser_rejects_bad_files(tmp_path):
    with pytest.raises(DataError, match="magic"):
        parse_idx(b"\x00\x01\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="truncated"):
        parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    assert parse_idx(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x01ab").shape == (2, 1)
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02ab")  # valid idx, wrong content
    with pytest.raises(DataError, match="checksum"):
        read_idx(bad)
    with pytest.raises(DataError, match="not found"):
        load_mnist(tmp_path, train=True)


def test_plain_and_gzipped_files_read_the_same(tmp_path):
    name = "t10k-labels-idx1-ubyte"
    src = Path(__file__).resolve().parents[1] / "src/unfoldrnn/data/assets" / f"{name}.gz"
    (tmp_path / name).write_bytes(gzip.decompress(src.read_bytes()))
    assert np.array_equal(read_idx(tmp_path / name), read_idx(src))


@pytest.fixture
def mnist_server():
    if not SHARED_MNIST.exists():
        pytest.skip(f"no MNIST copy at {WHERE}")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(SHARED_MNIST))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_download_from_a_local_mirror(tmp_path, mnist_server):
    images, labels = load_mnist(tmp_path, train=False, download=True,
                                mirrors=(mnist_server,))
    assert images.shape == (10000, 28, 28)
    assert torch.equal(images, load_mnist()[0])
    assert not list(tmp_path.glob("*.part"))


def test_download_reports_offline(tmp_path):
    with pytest.raises(DataError, match="offline"):
        download_mnist(tmp_path, train=False, mirrors=("http://127.0.0.1:9/",), timeout=2)


def test_moving_mnist_is_deterministic_and_bounded():
    a = moving_mnist(6, seed=3)
    assert a.shape == (6, 20, 16, 16) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1 and a.max() > 0.5
    assert torch.equal(a, moving_mnist(6, seed=3))
    assert torch.equal(a[:2], moving_mnist(2, seed=3))  # prefix-stable
    assert not torch.equal(a, moving_mnist(6, seed=4))


def test_moving_mnist_generator_moves_bounces_and_takes_the_max():
    # one white 2x2 "digit" on a 10x10 canvas: its mass moves at constant speed and stays in
    digit = torch.ones(1, 2, 2)
    frames = moving_mnist(50, seed=0, frames=30, size=10, frame_size=10, digits=digit,
                          num_digits=1)
    mass = frames.sum(dim=(2, 3))
    assert torch.allclose(mass, torch.full_like(mass, 4.0))  # never leaves the canvas
    ys = torch.arange(10.0)
    centre = (frames.sum(dim=3) * ys).sum(dim=2) / 4  # row of the centre of mass
    steps = centre.diff(dim=1).abs()
    assert steps.max() <= 0.8 * 1.01 + 1  # speed = free range / 10 = 0.8 px, plus rounding
    assert ((centre.diff(dim=1)[:, 1:] * centre.diff(dim=1)[:, :-1]) < 0).any()  # bounces
    two = moving_mnist(20, seed=1, frames=5, size=10, frame_size=10, digits=digit)
    assert two.max() == 1.0  # overlaps combine by max, not sum


def test_official_file_loader(tmp_path):
    array = (np.random.default_rng(0).random((20, 3, 64, 64)) * 255).astype(np.uint8)
    path = tmp_path / "mnist_test_seq.npy"
    np.save(path, array)
    frames = load_official(path)
    assert frames.shape == (3, 20, 16, 16)
    assert frames.min() >= 0 and frames.max() <= 1
    full = load_official(path, frame_size=64)
    assert torch.allclose(full[1, 4], torch.from_numpy(array[4, 1]).float() / 255)
    np.save(tmp_path / "bad.npy", np.zeros((3, 4)))
    with pytest.raises(DataError, match="uint8"):
        load_official(tmp_path / "bad.npy")
    with pytest.raises(DataError, match="not found"):
        load_official(tmp_path / "missing.npy")


def test_paper_split():
    data = torch.arange(10000)
    train, val, test = split(data)
    assert (len(train), len(val), len(test)) == (8000, 1000, 1000)
    assert torch.equal(torch.cat([train, val, test]), data)


def test_train_digits_from_a_local_copy(tmp_path):
    if not SHARED_MNIST.exists():
        pytest.skip(f"no MNIST copy at {WHERE}")
    for f in SHARED_MNIST.glob("train-*"):
        shutil.copy(f, tmp_path)
    images, labels = load_mnist(tmp_path, train=True)
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
