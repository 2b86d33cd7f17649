import numpy as np
import pandas as pd
import pytest

from skytells_lab.analysis import EmbeddingSpace, cluster_terms, name_clusters

TOY = [
    ("cats purr and cats nap", 0), ("a cat chases the mouse", 0), ("kittens and cats play", 0),
    ("stocks fell as markets slid", 1), ("markets rally on bank earnings", 1), ("bank stocks and bonds", 1),
]


def test_class_tfidf_top_terms_on_a_toy_corpus():
    texts, labels = zip(*TOY, strict=True)
    terms = cluster_terms(texts, labels, top_n=3)
    assert list(terms.columns) == ["cluster", "rank", "term", "score"]
    top = terms.groupby("cluster")["term"].agg(list).to_dict()
    assert top[0][0] == "cats" and top[1][:2] == ["bank", "markets"]
    assert not {"and", "the", "on"} & set(terms["term"])  # English stop words dropped
    assert (terms.groupby("cluster")["score"].diff().dropna() <= 0).all()


def test_class_tfidf_weights_follow_the_formula():
    texts, labels = ["a1 a1 b2", "b2 c3"], [0, 1]
    terms = cluster_terms(texts, labels, top_n=3, stop_words=None)
    score = terms.set_index(["cluster", "term"])["score"]
    # A = 2.5 words per class; f(a1)=2, f(b2)=2, f(c3)=1
    assert score[(0, "a1")] == pytest.approx(2 / 3 * np.log(1 + 2.5 / 2))
    assert score[(1, "c3")] == pytest.approx(1 / 2 * np.log(1 + 2.5 / 1))


def test_names_come_from_the_chat_model_once_per_terms(fake_client):
    cache = {}
    terms = {0: ["cats", "kittens"], 1: ["bank", "markets"]}
    assert name_clusters(terms, client=fake_client, cache=cache) == {0: "Cats News", 1: "Bank News"}
    assert name_clusters(terms, client=fake_client, cache=cache) == {0: "Cats News", 1: "Bank News"}
    assert len(fake_client.chat_calls) == 2
    call = fake_client.chat_calls[0]
    assert call["model"] == "fake-chat" and call["temperature"] == 0
    assert "cats, kittens" in call["messages"][-1]["content"]


def test_label_clusters_on_a_space(fake_client):
    texts, labels = zip(*TOY, strict=True)
    data = pd.DataFrame({"text": texts, "cluster": labels})
    space = EmbeddingSpace(np.eye(6, dtype=np.float32), data)
    table = space.label_clusters(top_n=4)
    assert list(table.columns) == ["cluster", "size", "terms", "name"]
    assert table["size"].tolist() == [3, 3] and table["terms"][0].startswith("cats")
    assert space.cluster_names_[0].startswith("cats")
    named = space.label_clusters(top_n=4, client=fake_client, model="tiny-chat")
    assert named["name"].tolist() == ["Cats News", "Bank News"]
    assert fake_client.chat_calls[-1]["model"] == "tiny-chat"


def test_label_clusters_needs_clusters_and_texts():
    with pytest.raises(ValueError, match="cluster"):
        EmbeddingSpace(np.eye(3, dtype=np.float32)).label_clusters()
