import os

import pytest

# Tests never touch the user's caches or the network.
os.environ.setdefault("GANCTL_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path_factory.getbasetemp() / "ganctl-cache"))
    monkeypatch.setenv("GANCTL_OFFLINE", "1")
