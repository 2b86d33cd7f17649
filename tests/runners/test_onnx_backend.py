"""The ONNX Runtime backend: exported once from the bundled weights (nothing downloaded), the same vectors as
torch, int8 with its cosine to float32 reported, batch-invariant, and `skytells-lab prepare` idempotent."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from test_embed_batching import check_invariance, min_cosine, mixed_texts

from skytells_lab.local.runners import SentenceTransformerRunner, onnx_backend


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """A private model cache holding one export for the whole module (the export takes seconds)."""
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKYTELLS_LAB_MODELS", str(folder))
        yield folder


@pytest.fixture(scope="module")
def onnx_runner(model_cache):
    runner = SentenceTransformerRunner(device="cpu", backend="onnx")
    runner.load()
    return runner


def test_the_export_gives_the_torch_vectors(onnx_runner, sentence_transformer):
    assert onnx_runner.backend_used == "onnx"
    files = sorted(p.name for p in onnx_runner.onnx_folder().iterdir())
    assert files == [onnx_backend.INT8_FILE, onnx_backend.FLOAT32_FILE, onnx_backend.META_FILE]
    texts = mixed_texts()
    reference = sentence_transformer.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    vectors = onnx_runner.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    assert min_cosine(vectors, reference) >= 0.9999
    assert onnx_runner.onnx_meta["onnx_cosine_min"] >= 0.9999


def test_onnx_vectors_do_not_depend_on_the_batch(onnx_runner):
    check_invariance(onnx_runner, mixed_texts())


def test_a_runner_on_a_current_export_leaves_the_torch_weights_on_disk(onnx_runner):
    runner = SentenceTransformerRunner(device="cpu", backend="onnx")
    runner.load()
    assert runner.backend_used == "onnx" and not runner.model.weights_loaded  # ONNX Runtime holds the copy
    texts = mixed_texts()
    assert min_cosine(runner.embed(texts), onnx_runner.embed(texts)) >= 0.99999
    # asked for, they load then (the scrambled copy edits them, prepare measures torch with them)
    assert runner.transformer.config.hidden_size == 384 and runner.model.weights_loaded


def test_int8_reports_its_cosine_to_float32(onnx_runner, embedder):
    runner = SentenceTransformerRunner(device="cpu", precision="int8")
    runner.load()
    meta = runner.catalog_entry()["metadata"]
    assert meta["backend"] == "onnx" and meta["precision"] == "int8"
    reported = meta["cosine_to_float32"]
    assert 0.9 < reported["min"] <= reported["mean"] <= 1.0
    texts = mixed_texts()
    cos = np.sum(runner.embed(texts) * embedder.embed(texts), axis=1)
    assert cos.mean() > 0.95
    # other vectors than float32: another fingerprint, so clients' caches keep them apart
    assert "int8" in runner.source() and runner.source() != embedder.source()


def test_prepare_exports_once_and_auto_then_follows_the_measurement(model_cache, capsys):
    from skytells_lab.cli import main

    assert main(["prepare", "--only", "all-minilm-l6-v2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    folder = SentenceTransformerRunner(device="cpu").onnx_folder()
    assert "cosine to torch" in out and "CPU default" in out
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    meta = onnx_backend.read_meta(folder)
    assert meta["faster"] in ("onnx", "torch") and meta["torch_s"] > 0 and meta["onnx_s"] > 0
    assert main(["prepare", "--only", "all-minilm-l6-v2", "--device", "cpu"]) == 0
    assert "already exported" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    auto = SentenceTransformerRunner(device="cpu")
    auto.load()
    assert auto.backend_used == meta["faster"]


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match="backend must be one of"):
        SentenceTransformerRunner(backend="tensorrt")
    with pytest.raises(ValueError, match="precision must be one of"):
        SentenceTransformerRunner(precision="int4")
    with pytest.raises(ValueError, match="int8.*ONNX backend"):
        SentenceTransformerRunner(backend="torch", precision="int8")
    with pytest.raises(ValueError, match="max_batch_tokens must be"):
        SentenceTransformerRunner(max_batch_tokens=0)
