"""Token-budget batching: forward passes stay within the budget, and a text's vector does not depend on what it
was batched with, in what order, or whether concurrent requests shared its pass (torch backend here; the ONNX
backend's copy of these checks is in test_onnx_backend.py)."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from skytells_lab.local.runners.token_batching import EmbeddingBatcher, plan_batches

LONG = ("The government said the new rules would come into force next year, despite objections from business "
        "groups who warned that they would raise costs for small firms, slow hiring across the country and "
        "push some companies to move their offices abroad, where taxes are lower and rules are fewer. ") * 3
SHORT = ["hi", "Stocks fell.", "The red fox.", "Rain again today in the north."]


def mixed_texts(n: int = 24) -> list[str]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(f"{SHORT[i % len(SHORT)]} ({i})")
        elif kind == 1:
            out.append(f"Item {i}: " + " ".join(rng.choice(LONG.split()) for _ in range(rng.randint(10, 40))))
        else:
            out.append(f"{i} " + LONG[: rng.randint(200, len(LONG))])
    return out


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def test_plan_batches_respect_the_token_budget_and_cover_every_text():
    rng = random.Random(0)
    lengths = [rng.choice([3, 5, 12, 40, 128, 256]) for _ in range(500)]
    batches = plan_batches(lengths, max_batch_tokens=1024, max_batch_size=32)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= 1024 and len(batch) <= 32
    # longest first, and each pass is as full as the budget allows: a pass of short texts holds many
    assert [lengths[b[0]] for b in batches] == sorted((lengths[b[0]] for b in batches), reverse=True)
    assert max(len(b) for b in batches) == 32 and next(len(b) for b in batches if lengths[b[0]] == 256) == 4
    # one text longer than the budget still gets a pass, alone
    assert plan_batches([5000, 3], max_batch_tokens=100) == [[0], [1]]
    with pytest.raises(ValueError, match="max_batch_tokens"):
        plan_batches([1], max_batch_tokens=0)


@pytest.fixture(scope="module")
def small_budget():
    """The torch runner with a budget small enough that the mixed texts need several passes."""
    from skytells_lab.local.runners import SentenceTransformerRunner

    runner = SentenceTransformerRunner(device="cpu", backend="torch", max_batch_tokens=512, batch_size=8)
    runner.load()
    return runner


def test_forward_passes_respect_the_budget(small_budget):
    passes = []
    small_budget.batcher.on_batch = lambda size, padded, real: passes.append((size, padded, real))
    try:
        vectors, tokens = small_budget.embed_with_usage(mixed_texts())
    finally:
        small_budget.batcher.on_batch = None
    assert len(passes) > 2 and all(padded <= 512 and size <= 8 for size, padded, _ in passes)
    assert sum(real for *_, real in passes) == tokens == small_budget.count_tokens(mixed_texts())
    assert vectors.shape == (24, 384)


def test_vectors_match_sentence_transformers_encode(small_budget, sentence_transformer):
    texts = mixed_texts()
    reference = sentence_transformer.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert min_cosine(small_budget.embed(texts), reference) >= 0.9999


def check_invariance(runner, texts: list[str]) -> None:
    alone = np.concatenate([runner.embed([t]) for t in texts])
    rng = random.Random(7)
    for _ in range(3):
        order = list(range(len(texts)))
        rng.shuffle(order)
        shuffled = runner.embed([texts[i] for i in order])
        assert min_cosine(shuffled, alone[order]) >= 0.99999
    picked = rng.sample(range(len(texts)), 5) + [0]
    assert min_cosine(runner.embed([texts[i] for i in picked] + [LONG]), np.vstack([alone[picked],
                                                                                    runner.embed([LONG])])) >= 0.99999


def test_a_vector_does_not_depend_on_its_batch_or_order(small_budget, embedder):
    check_invariance(small_budget, mixed_texts())
    check_invariance(embedder, mixed_texts())  # the default budget: everything in one or two passes


def test_concurrent_requests_combined_in_one_pass_get_their_own_vectors(small_budget):
    """Requests that arrive while a pass runs are served together: same vectors as alone."""
    runner = small_budget
    requests = [mixed_texts()[i::4] for i in range(4)]
    alone = [runner.embed(texts) for texts in requests]
    gate, entered = threading.Event(), threading.Event()
    sizes: list[int] = []

    def gated_forward(ids, mask, types):
        entered.set()
        gate.wait(60)
        return runner._forward(ids, mask, types)

    batcher = EmbeddingBatcher(runner._tokenize, gated_forward, max_batch_tokens=1 << 20, max_batch_size=512,
                               on_batch=lambda size, padded, real: sizes.append(size))
    results: dict[int, np.ndarray] = {}
    first = threading.Thread(target=lambda: results.__setitem__(-1, batcher.embed(["holds the model"])[0]))
    first.start()
    assert entered.wait(60)
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, batcher.embed(requests[k])[0]))
               for k in range(4)]
    for thread in threads:
        thread.start()
    total = sum(len(r) for r in requests)
    while batcher.waiting()["tokenized"] < total:
        threading.Event().wait(0.01)
    gate.set()
    for thread in [first, *threads]:
        thread.join(60)
    batcher.close()
    assert sizes[1:] == [total]  # one pass for all four requests
    for k in range(4):
        assert min_cosine(results[k], alone[k]) >= 0.99999


def test_an_error_reaches_only_the_request_that_caused_it(small_budget):
    runner = small_budget

    def tokenize(texts):
        if "bad" in texts:
            raise ValueError("texts[0]: cannot tokenize 'bad'")
        return runner._tokenize(texts)

    batcher = EmbeddingBatcher(tokenize, runner._forward)
    with pytest.raises(ValueError, match="cannot tokenize"):
        batcher.embed(["bad"])
    vectors, tokens = batcher.embed(["good"])
    assert vectors.shape == (1, 384) and tokens == 3
    batcher.close()


def test_small_passes_by_default_on_a_cpu_and_large_on_a_gpu():
    from skytells_lab.local.runners.embeddings import SentenceTransformerRunner
    from skytells_lab.local.runners.token_batching import batch_limits

    assert batch_limits("cpu") == (4096, 16)
    assert batch_limits("cuda:0") == (16384, 512)
    assert batch_limits("cpu", 1024, 8) == (1024, 8)
    runner = SentenceTransformerRunner(device="cpu", backend="torch")
    assert (runner.max_batch_tokens, runner.batch_size) == (4096, 16)
    assert SentenceTransformerRunner(device="cpu", batch_size=64).batch_size == 64
