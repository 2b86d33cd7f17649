"""An ONNX Runtime copy of a mean-pooled sentence-transformers model, exported once from its own weights.

The model is the runner's :class:`~skytells_lab.local.runners.pooled.PooledTransformer`.

``prepare_onnx(model, folder)`` (run by ``skytells-lab prepare``) writes, nothing downloaded:

- ``model.onnx``: the transformer, mean pooling and L2 normalization in one float32 graph, exported by
  ``torch.onnx.export`` with eager attention so that ONNX Runtime's transformer optimizer fuses attention,
  the embedding layer norm and the GELUs (for BERT-like models);
- ``model-int8.onnx``: the same graph with int8 weights (dynamic quantization, per channel);
- ``prepare.json``: what the export measured on a fixed sample of texts: each copy's cosine to the torch
  vectors and the seconds torch and ONNX Runtime took for the same passes; the faster one is the CPU default.

A second call with the same weights finds the files and measures nothing (``created`` is False).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

FLOAT32_FILE, INT8_FILE, META_FILE = "model.onnx", "model-int8.onnx", "prepare.json"
FORMAT = 1  # bumped when the export changes, so older exports are made again
PRECISIONS = ("float32", "int8")
BACKENDS = ("auto", "torch", "onnx")

# the sample the export measures: short, middling and long texts, as a corpus of paragraphs has
_SAMPLE = [
    "hi", "Stocks fell.", "The red fox and the sea owl.",
    "Shares in the company rose sharply on Tuesday after it reported better than expected profits.",
    ("The government said the new rules would come into force next year, despite objections from business "
    "groups who warned they would raise costs for small firms and slow hiring across the country."),
    ("A new film festival opened in the city this week with a programme of more than two hundred films from "
    "forty countries, including a retrospective of the director's early work, a series of talks with "
    "actors and writers, and outdoor screenings in the park that organisers hope will draw families and "
    "students who have never attended a festival before. Tickets sold out within hours of going on sale."),
]


def sample_texts(n: int = 48) -> list[str]:
    """``n`` texts of mixed lengths, each distinct (the measurement's sample)."""
    return [f"{_SAMPLE[i % len(_SAMPLE)]} ({i})" if i >= len(_SAMPLE) else _SAMPLE[i] for i in range(n)]


def supports(model: Any) -> str | None:
    """Why ``model`` (the runner's loaded model) cannot be exported, or None when it can: the export takes
    mean-pooled Transformer + Pooling (+ Normalize) models, which load as a
    :class:`~skytells_lab.local.runners.pooled.PooledTransformer`."""
    from .pooled import PooledTransformer

    if not isinstance(model, PooledTransformer):
        names = [type(m).__name__ for m in model] if hasattr(model, "__iter__") else [type(model).__name__]
        return f"the ONNX export takes Transformer + Pooling (+ Normalize) models, this one is {names}"
    if model.pooling != "mean":
        return f"the ONNX export takes mean-pooled models, this one pools by {model.pooling!r}"
    return None


def session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session on ``path`` with all graph optimizations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxForward:
    """``forward(input_ids, attention_mask, token_type_ids)`` -> unit float32 vectors, through ONNX Runtime."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self._session = session(self.path, threads)
        self._inputs = {i.name for i in self._session.get_inputs()}
        # The CPU arena keeps the largest pass's activations (66 MB for MiniLM at 16 x 256 tokens) for the life
        # of the server; shrinking it after each pass gave them back at no measured cost in speed (2.23-2.34 s
        # against 2.22-2.34 s for 400 texts), where turning the arena off cost 30 %.
        self._run_options = ort.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs}, self._run_options)[0]


def _export(model: Any, path: Path) -> None:
    """The model as one ONNX graph: transformer, masked mean pooling, L2 normalization."""
    import torch
    from transformers import AutoModel

    folder = _weights_folder(model)
    hf = AutoModel.from_pretrained(folder, attn_implementation="eager", local_files_only=True).eval()
    takes_types = "token_type_ids" in model.tokenizer.model_input_names

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    # padding in the example keeps the attention mask in the traced graph (an all-ones mask is skipped)
    enc = model.tokenizer(["an example", "a longer example sentence here"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])
    args = tuple(enc[n] for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["sentence_embedding"] = {0: "batch"}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants that are constant for this model
        torch.onnx.export(Pooled(hf), args, str(path), input_names=names, output_names=["sentence_embedding"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)


def _optimize(model: Any, raw: Path, out: Path) -> bool:
    """ONNX Runtime's transformer fusions for BERT-like models; False (``raw`` kept as is) for others."""
    config = model.config
    if getattr(config, "model_type", None) not in ("bert", "roberta", "xlm-roberta"):
        shutil.copyfile(raw, out)
        return False
    from onnxruntime.transformers import optimizer

    optimized = optimizer.optimize_model(str(raw), model_type="bert", num_heads=int(config.num_attention_heads),
                                         hidden_size=int(config.hidden_size), opt_level=1)
    optimized.save_model_to_file(str(out))
    return True


def _quantize(raw: Path, out: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its "consider pre-processing" hint is for static quantization
    try:
        quantize_dynamic(str(raw), str(out), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        quiet.setLevel(level)


def _weights_folder(model: Any) -> str:
    return str(model.layout.folder)


def source_stamp(weights_folder: str | Path) -> dict:
    """What the export depends on: the weight files' names, sizes and times, and the export format."""
    folder = Path(weights_folder)
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    return {"format": FORMAT, "folder": str(folder),
            "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]}


def _torch_forward(model: Any):
    import torch

    def forward(ids, mask, types):
        features = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                    "token_type_ids": torch.from_numpy(types)}
        with torch.inference_mode():
            out = model(features)["sentence_embedding"]
            return torch.nn.functional.normalize(out, p=2.0, dim=1).numpy()

    return forward


def _padded(model: Any, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The sample as the passes the server would run (sorted by length, 16 texts each)."""
    import numpy as np

    texts = sorted(texts, key=len, reverse=True)
    out = []
    for start in range(0, len(texts), 16):
        enc = model.tokenizer(texts[start:start + 16], padding=True, truncation=True,
                              max_length=int(model.max_seq_length), return_tensors="np")
        ids = enc["input_ids"].astype(np.int64)
        types = enc.get("token_type_ids")
        out.append((ids, enc["attention_mask"].astype(np.int64),
                    np.zeros_like(ids) if types is None else types.astype(np.int64)))
    return out


def _timed(forward, passes, repeats: int) -> tuple[np.ndarray, list[float]]:
    import numpy as np

    times, vectors = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        vectors = np.concatenate([forward(*p) for p in passes])
        times.append(time.perf_counter() - started)
    return vectors, times


def measure(model: Any, folder: Path, texts: list[str] | None = None, repeats: int = 3) -> dict:
    """Cosine of each ONNX copy to the torch vectors, and seconds per run of the sample (median, runs
    interleaved so that a burst of other load falls on all of them alike)."""
    import numpy as np
    import torch

    passes = _padded(model, texts or sample_texts())
    paths = {"onnx": folder / FLOAT32_FILE, "int8": folder / INT8_FILE}
    forwards = {"torch": _torch_forward(model)}
    forwards.update({k: OnnxForward(p, torch.get_num_threads()) for k, p in paths.items() if p.exists()})
    for forward in forwards.values():  # warm each once
        forward(*passes[-1])
    times: dict[str, list[float]] = {k: [] for k in forwards}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, forward in forwards.items():
            vectors[name], run = _timed(forward, passes, 1)
            times[name] += run
    result: dict[str, Any] = {"texts": sum(len(p[0]) for p in passes), "repeats": repeats}
    for name in forwards:
        result[f"{name}_s"] = float(np.median(times[name]))
        if name != "torch":
            cos = np.sum(vectors[name] * vectors["torch"], axis=1)
            result[f"{name}_cosine_min"] = float(cos.min())
            result[f"{name}_cosine_mean"] = float(cos.mean())
    result["faster"] = "onnx" if "onnx_s" in result and result["onnx_s"] < result["torch_s"] else "torch"
    return result


def read_meta(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / META_FILE).read_text())
    except (OSError, ValueError):
        return None


def current_export(folder: Path, weights_folder: str | Path) -> dict | None:
    """prepare.json's content when ``folder`` holds both exports, made from the weights as they are now."""
    folder = Path(folder)
    meta = read_meta(folder)
    if (meta and meta.get("source") == source_stamp(weights_folder) and (folder / FLOAT32_FILE).exists()
            and (folder / INT8_FILE).exists()):
        return meta
    return None


def prepare_onnx(model: Any, folder: Path, *, measure_speed: bool = True, force: bool = False) -> dict:
    """Export ``model`` (a loaded PooledTransformer) into ``folder`` unless an export of the same weights is
    there; returns prepare.json's content with ``created`` telling whether this call made the files."""
    folder = Path(folder)
    reason = supports(model)
    if reason:
        raise ValueError(reason)
    stamp = source_stamp(_weights_folder(model))
    meta = None if force else current_export(folder, _weights_folder(model))
    if meta:
        if measure_speed and meta.get("faster") is None:  # exported on a first load, never measured: now
            meta.update(measure(model, folder))
            (folder / META_FILE).write_text(json.dumps(meta, indent=2))
        return {**meta, "created": False}
    folder.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=folder.parent))
    try:
        raw = work / "raw.onnx"
        _export(model, raw)
        fused = _optimize(model, raw, work / FLOAT32_FILE)
        _quantize(raw, work / INT8_FILE)
        raw.unlink()
        meta = {"source": stamp, "fused": fused, "export_s": round(time.perf_counter() - started, 2)}
        meta.update(measure(model, work, repeats=3 if measure_speed else 1))
        if not measure_speed:
            meta["faster"] = None
        (work / META_FILE).write_text(json.dumps(meta, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(work, folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(work)
    return {**meta, "created": True}
