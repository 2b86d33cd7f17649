"""Cluster labels: top terms by class-based TF-IDF, and short names from a chat model (cached)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

# (model, terms) -> name; shared by every space in the process so re-labelling costs no new calls.
NAME_CACHE: dict[tuple[str | None, tuple[str, ...]], str] = {}


def cluster_terms(texts: Sequence[str], labels, *, top_n: int = 8, stop_words="english",
                  ngram_range=(1, 1), min_df: int = 1):
    """Top terms per cluster by class-based TF-IDF (BERTopic's c-TF-IDF).

    The texts of each cluster are pooled into one document; a term's weight in a cluster is its
    L1-normalized frequency there times log(1 + A / f_t), where A is the average number of words per
    cluster and f_t the term's frequency over all clusters. Returns a tidy frame
    (cluster, rank, term, score), rank 1 = most distinctive.
    """
    import pandas as pd
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer

    texts = ["" if t is None else str(t) for t in texts]
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    vectorizer = CountVectorizer(stop_words=stop_words, ngram_range=ngram_range, min_df=min_df)
    counts = vectorizer.fit_transform(texts)
    classes, inverse = np.unique(labels, return_inverse=True)
    membership = csr_matrix((np.ones(len(labels)), (inverse, np.arange(len(labels)))),
                            shape=(len(classes), len(labels)))
    per_class = np.asarray((membership @ counts).todense(), dtype=np.float64)
    words = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.where(words == 0, 1, words)
    frequency = per_class.sum(axis=0)
    idf = np.log(1 + words.mean() / np.where(frequency == 0, 1, frequency))
    weights = tf * idf
    vocabulary = vectorizer.get_feature_names_out()
    top_n = min(top_n, weights.shape[1])
    order = np.argsort(-weights, axis=1, kind="stable")[:, :top_n]
    rows = [(cls, rank + 1, vocabulary[j], float(weights[c, j]))
            for c, cls in enumerate(classes) for rank, j in enumerate(order[c]) if weights[c, j] > 0]
    return pd.DataFrame(rows, columns=["cluster", "rank", "term", "score"])


def _message_text(completion) -> str:
    choice = completion["choices"][0] if isinstance(completion, Mapping) else completion.choices[0]
    message = choice["message"] if isinstance(choice, Mapping) else choice.message
    return (message["content"] if isinstance(message, Mapping) else message.content) or ""


_PREAMBLE = re.compile(r"^(?:(?:a|the)\s+)?(?:short\s+)?(?:name|title|topic|label)"
                      r"(?:\s+for\s+(?:this|the)\s+topic)?\s*(?:is|:)\s*", re.IGNORECASE)


def _clean_name(text: str, terms: Sequence[str]) -> str:
    """The name out of a chat reply: a quoted name if there is one, else the first line without a
    preamble ("A short name for this topic is ..."), cut at a colon or comma when long; at most 5 words.
    Small local models are chatty, so this is lenient."""
    quoted = re.search(r"[\"“]([^\"”\n]{2,60})[\"”]", text)
    line = quoted.group(1) if quoted else next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = _PREAMBLE.sub("", line.strip().strip("*#` "))
    for mark in (":", ","):
        if len(line.split()) > 4 and mark in line:
            line = line.split(mark)[0]
    words = line.strip(" \"'`*.,;:-").split()[:5]
    return " ".join(words) if words else " / ".join(terms[:2])


def name_clusters(terms: Mapping[object, Sequence[str]], *, client, model: str | None = None,
                  cache: dict | None = None, max_tokens: int = 16) -> dict:
    """A short name per cluster from its top terms, asked of a chat model through the client.

    One chat completion per cluster whose (model, terms) is not yet in the cache (`NAME_CACHE` unless
    another dict is given). Returns {cluster: name}.
    """
    cache = NAME_CACHE if cache is None else cache
    model = model or getattr(client, "default_chat_model", None)
    names = {}
    for cluster, words in terms.items():
        key = (model, tuple(words))
        if key not in cache:
            completion = client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "system", "content": "You label topics with a short name."},
                    {"role": "user", "content": f"Keywords: {', '.join(words)}\nWhat is a short name (2 to 4 "
                                                "words) for this topic? Reply with the name only."},
                ],
                max_tokens=max_tokens,
                temperature=0,
            )
            cache[key] = _clean_name(_message_text(completion), list(words))
        names[cluster] = cache[key]
    return names
