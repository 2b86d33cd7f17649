import numpy as np
import pandas as pd
import pytest

from skytells_lab.analysis import EmbeddingSpace, SpaceComparison, compare_spaces


@pytest.fixture
def space(blobs):
    vectors, labels = blobs
    return EmbeddingSpace(vectors, pd.DataFrame({"label": labels}), model="model-a")


def test_identical_spaces_agree_perfectly(space):
    result = compare_spaces(space, space, k=10)
    assert isinstance(result, SpaceComparison)
    assert result.summary["jaccard"] == pytest.approx(1.0)
    assert result.summary["spearman"] == pytest.approx(1.0)
    assert result.summary["cka"] == pytest.approx(1.0, abs=1e-6)
    assert result.summary["procrustes"] == pytest.approx(0.0, abs=1e-6)
    assert (result.frame["overlap"] == 10).all() and "label" in result.frame.columns


def test_a_rotated_space_agrees_perfectly(space, rng):
    rotation = np.linalg.qr(rng.standard_normal((16, 16)))[0].astype(np.float32)
    rotated = EmbeddingSpace(space.vectors @ rotation, model="model-b")
    result = compare_spaces(space, rotated, k=10)
    assert result.summary["jaccard"] == pytest.approx(1.0)
    assert result.summary["spearman"] == pytest.approx(1.0, abs=1e-4)
    assert result.summary["cka"] == pytest.approx(1.0, abs=1e-4)
    assert result.summary["procrustes"] == pytest.approx(0.0, abs=1e-4)
    assert repr(result).startswith("SpaceComparison(model-a vs model-b: n=240, jaccard@10=1.000")


def test_a_random_space_agrees_little(space, rng):
    result = compare_spaces(space, rng.standard_normal((240, 32)).astype(np.float32), k=10)
    assert result.summary["jaccard"] < 0.1
    assert abs(result.summary["spearman"]) < 0.1
    assert result.summary["cka"] < 0.5
    assert result.summary["procrustes"] > 0.5
    moved = result.most_moved(5)
    assert len(moved) == 5 and moved["jaccard"].is_monotonic_increasing
    assert "<table>" in result._repr_html_() and "model-a vs b" in result._repr_html_()


def test_jaccard_on_sampled_items_and_size_check(space, rng):
    result = compare_spaces(space, space, k=5, items=20, sample=50)
    assert len(result.frame) == 20 and result.summary["sample"] == 50
    with pytest.raises(ValueError, match="same items"):
        compare_spaces(space, space.vectors[:10])
