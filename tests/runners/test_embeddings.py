import numpy as np
import pytest

TEXTS = ["The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell sharply today."]


def test_shape_norm_and_dtype(embedder):
    v = embedder.embed(TEXTS)
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]  # the paraphrase is nearer than the unrelated sentence


def test_deterministic(embedder):
    np.testing.assert_array_equal(embedder.embed(TEXTS), embedder.embed(TEXTS))


def test_dimensions_truncate_and_renormalize(embedder):
    full = embedder.embed(TEXTS)
    short = embedder.embed(TEXTS, dimensions=64)
    assert short.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)
    expected = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, atol=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        embedder.embed(TEXTS, dimensions=385)


def test_empty_and_bad_input(embedder):
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed("a single string")


def test_count_tokens(embedder):
    # [CLS] hello world [SEP] -> 4 tokens
    assert embedder.count_tokens(["hello world"]) == 4
    assert embedder.count_tokens(["hello world", "hello"]) == 4 + 3
