"""Fixtures for the runner tests: one loaded runner per model for the whole session, on the CPU."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest


@pytest.fixture(scope="session")
def embedder():
    from skytells_lab.local.runners import shared_embedder

    runner = shared_embedder("cpu")
    runner.load()
    return runner


@pytest.fixture(scope="session")
def chat():
    from skytells_lab.local.runners import TransformersChatRunner

    runner = TransformersChatRunner(device="cpu")
    runner.load()
    return runner


@pytest.fixture(scope="session")
def digits():
    from skytells_lab.local.runners import DigitsDiffusionRunner

    runner = DigitsDiffusionRunner(device="cpu")
    runner.load()
    return runner
