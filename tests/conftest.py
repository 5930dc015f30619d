import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Each test session caches derived data (speech features) in its own folder."""
    monkeypatch.setenv("UNFOLDRNN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
