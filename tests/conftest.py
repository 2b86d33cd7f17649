"""Session-wide fixtures: one embedded local server on loopback, clients pointed at it.

Every test runs offline against real HTTP; no API key of the developer's leaks into a test.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
for _name in ("SKYTELLS_API_KEY", "SKYTELLS_BASE_URL"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session", autouse=True)
def skytells_home(tmp_path_factory):
    """A private data dir for the session, so tests never touch the user's predictions."""
    home = tmp_path_factory.mktemp("skytells-lab-home")
    os.environ["SKYTELLS_LAB_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def local_server(skytells_home):
    from skytells_lab.local import start_server

    server = start_server(data_dir=skytells_home / "server", device="cpu")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(local_server):
    from skytells_lab import Skytells

    with Skytells(base_url=local_server.url) as sync_client:
        yield sync_client


@pytest.fixture
async def async_client(local_server):
    from skytells_lab import AsyncSkytells

    async with AsyncSkytells(base_url=local_server.url) as client:
        yield client


@pytest.fixture(scope="session")
def sentence_transformer():
    """The bundled all-MiniLM-L6-v2 loaded by sentence-transformers itself: the reference the runner's
    vectors are checked against (the runner loads the same weights through transformers alone)."""
    from sentence_transformers import SentenceTransformer

    from skytells_lab.local.runners.embeddings import default_model_path

    return SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
