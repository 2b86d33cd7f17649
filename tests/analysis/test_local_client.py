"""EmbeddingSpace with a real client against the embedded local server (tests/conftest.py's `client`):
all-minilm-l6-v2 embeddings and smollm2-135m-instruct cluster names, over HTTP."""

import pytest

from skytells_lab.analysis import EmbeddingSpace, name_clusters

TEXTS = [
    "the cat sat on the mat", "a kitten purrs softly on the sofa", "my cat chases a toy mouse",
    "stocks fell sharply on wall street", "the central bank raised interest rates", "markets rally on earnings",
    "the football team won the cup final", "striker scores twice in the derby", "coach praises the goalkeeper",
]


@pytest.fixture(scope="module")
def space(client):
    return EmbeddingSpace.from_texts(TEXTS, client=client, batch_size=4)


def test_from_texts_embeds_with_the_local_model_and_searches_by_text(space):
    assert space.shape == (9, 384) and space.model == "all-minilm-l6-v2"
    assert space.normalized is space.vectors  # the server returns unit vectors: no copy is made
    hits = space.search(["kittens and cats", "interest rates"], k=3)
    assert set(hits[hits["query"] == "kittens and cats"]["text"]) == set(TEXTS[:3])
    assert hits[hits["query"] == "interest rates"]["text"].iloc[0] == TEXTS[4]


def test_clusters_get_terms_and_chat_names_asked_once(space, client):
    space.cluster("kmeans", 3)
    assert space.cluster_scores([0, 0, 0, 1, 1, 1, 2, 2, 2])["ari"] == pytest.approx(1.0)
    table = space.label_clusters(top_n=4, client=client)
    assert len(table) == 3 and all(isinstance(n, str) and 0 < len(n) <= 60 for n in table["name"])
    counting = _CountingChat(client)
    cache = {}
    terms = {0: ["cat", "kitten"], 1: ["bank", "rates"]}
    first = name_clusters(terms, client=counting, cache=cache)
    assert name_clusters(terms, client=counting, cache=cache) == first and len(counting.calls) == 2
    assert counting.calls[0]["model"] == client.default_chat_model


class _CountingChat:
    """The client's chat.completions.create, counting the calls."""

    def __init__(self, client):
        self.client, self.calls = client, []
        self.chat = self.completions = self
        self.default_chat_model = client.default_chat_model

    def create(self, **kw):
        self.calls.append(kw)
        return self.client.chat.completions.create(**kw)
