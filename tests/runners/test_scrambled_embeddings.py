"""The embeddings-scrambled runner: a known fault for parity runs, built from a config entry."""

from __future__ import annotations

import pytest

from skytells_lab.local.runners import ScrambledEmbeddingRunner, build_runner


def test_a_config_entry_builds_the_scrambled_copy_without_loading_it():
    runner = build_runner({"runner": "embeddings-scrambled", "slug": "minilm-cat-scrambled", "tokens": ["cat"],
                           "seed": 3}, "cpu")
    assert isinstance(runner, ScrambledEmbeddingRunner)
    assert (runner.slug, runner.tokens, runner.seed, runner.loaded) == ("minilm-cat-scrambled", ["cat"], 3, False)
    assert "cat" in runner.name and "not a model to use" in runner.description


@pytest.mark.parametrize("tokens", ["cat", [], [""], [3]])
def test_tokens_must_be_a_list_of_token_strings(tokens):
    with pytest.raises(ValueError, match="tokens must be a non-empty list"):
        build_runner({"runner": "embeddings-scrambled", "tokens": tokens}, "cpu")


def test_a_word_that_is_not_one_token_is_named_when_the_copy_loads():
    runner = ScrambledEmbeddingRunner(tokens=["cat", "skytellsification"], device="cpu")
    with pytest.raises(ValueError, match="'skytellsification' is not one token"):
        runner.load()


def test_the_copy_runs_on_torch_only():
    # its damage is made in the torch weights: an ONNX export of the same folder would hold the intact model
    with pytest.raises(ValueError, match='backend = "torch" only'):
        ScrambledEmbeddingRunner(tokens=["cat"], backend="auto", device="cpu")
    assert ScrambledEmbeddingRunner(device="cpu").backend == "torch"
