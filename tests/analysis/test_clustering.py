import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skytells_lab.analysis import Clusterer, EmbeddingSpace, choose_k


@pytest.mark.parametrize("method, params", [
    ("kmeans", {"n_clusters": 4}),
    ("agglomerative", {"n_clusters": 4}),
    ("hdbscan", {"min_cluster_size": 20}),
])
def test_each_method_recovers_well_separated_blobs(blobs, method, params):
    vectors, truth = blobs
    clusterer = Clusterer(method, **params).fit(vectors)
    assert adjusted_rand_score(truth, clusterer.labels_) > 0.95
    assert clusterer.n_clusters_ == 4
    assert clusterer.cluster_centers_.shape == (4, vectors.shape[1])


def test_choose_k_finds_the_true_k(blobs):
    vectors, _ = blobs
    best, scores = choose_k(vectors, range(2, 9))
    assert best == 4
    assert scores.idxmax() == 4 and list(scores.index) == list(range(2, 9))


def test_choose_k_samples_large_inputs(blobs):
    vectors, _ = blobs
    best, _ = choose_k(vectors, range(2, 7), sample_size=100)
    assert best == 4


def test_auto_k_and_predict(blobs):
    vectors, _ = blobs
    clusterer = Clusterer("kmeans", "auto", k_range=range(2, 8)).fit(vectors)
    assert clusterer.n_clusters_ == 4 and clusterer.silhouettes_.idxmax() == 4
    np.testing.assert_array_equal(clusterer.predict(vectors), clusterer.labels_)
    agglomerative = Clusterer("agglomerative", 4).fit(vectors)
    assert adjusted_rand_score(agglomerative.labels_, agglomerative.predict(vectors)) == 1.0


def test_scikit_learn_conventions(blobs):
    vectors, truth = blobs
    clusterer = Clusterer("kmeans", 4, random_state=3)
    assert clusterer.get_params()["random_state"] == 3
    assert not hasattr(clusterer, "labels_")
    assert clone(clusterer).get_params() == clusterer.get_params()
    pipeline = make_pipeline(FunctionTransformer(lambda x: x * 2), clusterer)
    labels = pipeline.fit_predict(vectors)
    assert adjusted_rand_score(truth, labels) > 0.95


def test_unknown_method_is_rejected(blobs):
    with pytest.raises(ValueError, match="method must be one of"):
        Clusterer("dbscan").fit(blobs[0])


def test_space_cluster_stores_a_column_and_scores(blobs):
    vectors, truth = blobs
    space = EmbeddingSpace(vectors, model="m").cluster("kmeans", 4)
    assert space.data["cluster"].nunique() == 4
    assert repr(space) == "EmbeddingSpace(240 × 16, model=m, clusters=4)"
    assert space.cluster_scores(truth)["ari"] > 0.95
    space.cluster("hdbscan", column="hdb", min_cluster_size=20)
    assert "hdb" in space.data.columns and space.cluster_column == "hdb"
