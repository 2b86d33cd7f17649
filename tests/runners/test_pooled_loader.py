"""Sentence-transformers folders of the common shape load through transformers alone: the same vectors as
SentenceTransformer.encode, without importing sentence-transformers, scikit-learn or pandas; any other shape
still loads through sentence-transformers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skytells_lab.local.runners import SentenceTransformerRunner, onnx_backend
from skytells_lab.local.runners.embeddings import default_model_path
from skytells_lab.local.runners.pooled import PooledTransformer, read_layout

LONG = "The committee met again on Thursday to discuss the budget, the schools and the roads. " * 40
TEXTS = ["hi", "Stocks fell sharply in early trading.", "THE RED FOX and the Sea Owl", LONG,
         "Ünïcödé text, emoji 🦊 and numbers 3.14159"]


def encode_reference(folder: str | Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def copy_of_minilm(folder: Path, *, pooling: dict | None = None, settings: dict | None = None,
                   modules: list | None = None) -> Path:
    """The bundled MiniLM folder, weights linked, with its pooling, Transformer settings or modules edited."""
    source = Path(default_model_path())
    shutil.copytree(source, folder, symlinks=True, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(source / "model.safetensors")
    if pooling is not None:
        config = json.loads((folder / "1_Pooling" / "config.json").read_text())
        config.update(pooling)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    if settings is not None:
        (folder / "sentence_bert_config.json").write_text(json.dumps(settings))
    if modules is not None:
        (folder / "modules.json").write_text(json.dumps(modules))
    return folder


def test_the_bundled_model_loads_without_sentence_transformers_and_matches_encode():
    runner = SentenceTransformerRunner(device="cpu", backend="torch")
    runner.load()
    assert isinstance(runner.model, PooledTransformer)
    assert runner.model.max_seq_length == 256 and runner.model.pooling == "mean"
    vectors = runner.embed(TEXTS)
    assert min_cosine(vectors, encode_reference(default_model_path(), TEXTS)) >= 0.99999
    # tokens counted as the model reads them: the long text cut at 256
    assert runner.count_tokens([LONG]) == 256


def test_the_server_process_loads_no_sentence_transformers_scikit_learn_or_pandas():
    code = ("import sys\n"
            "from skytells_lab.local.runners import shared_embedder\n"
            "r = shared_embedder('cpu'); r.embed(['a text'])\n"
            "print(sorted(m for m in ('sentence_transformers', 'sklearn', 'pandas') "
            "if m in sys.modules))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(("mode", "key"), [("cls", "pooling_mode_cls_token"), ("max", "pooling_mode_max_tokens")])
def test_cls_and_max_pooling_match_sentence_transformers(tmp_path, mode, key):
    folder = copy_of_minilm(tmp_path / mode, pooling={"pooling_mode_mean_tokens": False, key: True})
    layout = read_layout(folder)
    assert layout is not None and layout.pooling == mode
    runner = SentenceTransformerRunner(str(folder), device="cpu", backend="torch")
    assert min_cosine(runner.embed(TEXTS), encode_reference(folder, TEXTS)) >= 0.99999
    # the ONNX export takes mean pooling only, and says so
    assert "pools by" in onnx_backend.supports(runner.model)


def test_settings_it_does_not_know_go_to_sentence_transformers(tmp_path):
    assert read_layout(tmp_path / "no-such-folder") is None
    assert read_layout("sentence-transformers/all-MiniLM-L6-v2") is None  # a hub id
    odd = copy_of_minilm(tmp_path / "odd", settings={"max_seq_length": 128, "do_lower_case": False,
                                                    "model_args": {"trust_remote_code": False}})
    assert read_layout(odd) is None
    weighted = copy_of_minilm(tmp_path / "weighted", pooling={"pooling_mode_weightedmean_tokens": True})
    assert read_layout(weighted) is None
    short = copy_of_minilm(tmp_path / "short", settings={"max_seq_length": 16, "do_lower_case": True})
    layout = read_layout(short)
    assert layout.max_seq_length == 16 and layout.do_lower_case
    runner = SentenceTransformerRunner(str(short), device="cpu", backend="torch")
    assert min_cosine(runner.embed(TEXTS), encode_reference(short, TEXTS)) >= 0.99999
    assert runner.count_tokens([LONG]) == 16


def test_a_model_with_another_module_loads_through_sentence_transformers(tmp_path):
    import torch
    from sentence_transformers import SentenceTransformer, models

    base = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
    torch.manual_seed(0)
    dense = models.Dense(384, 64, activation_function=torch.nn.Tanh())
    SentenceTransformer(modules=[base[0], base[1], dense], device="cpu").save(str(tmp_path / "dense"))
    assert read_layout(tmp_path / "dense") is None
    runner = SentenceTransformerRunner(str(tmp_path / "dense"), device="cpu", backend="torch")
    vectors = runner.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 64) and not isinstance(runner.model, PooledTransformer)
    assert min_cosine(vectors, encode_reference(tmp_path / "dense", TEXTS)) >= 0.99999
    assert "Dense" in onnx_backend.supports(runner.model)
