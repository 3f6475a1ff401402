import os

# Tiny models on a 2-core machine: one thread per process is faster and steadier than two fighting
# (subprocesses started by tests inherit this through the environment).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# Tests never touch the user's caches or the network.
os.environ.setdefault("GANCTL_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path_factory.getbasetemp() / "ganctl-cache"))
    monkeypatch.setenv("GANCTL_OFFLINE", "1")
