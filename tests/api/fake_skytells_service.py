"""A tiny in-memory Skytells service on the fault server: enough wire behaviour for the fault tests."""

from __future__ import annotations

import base64
import itertools
import re
import threading

import numpy as np
from support.faults import FaultServer, Reply

MODELS = [
    {"name": "TrueFusion", "namespace": "truefusion", "type": "image", "capabilities": ["text-to-image"],
     "pricing": {"amount": 0.03, "currency": "USD", "unit": "image"}, "metadata": {"openai_compatible": False}},
    {"name": "Embed", "namespace": "embed-small", "type": "text", "capabilities": ["embeddings"]},
]

DIM = 8


def vector_for(text: str) -> np.ndarray:
    """Deterministic per text, so order is checkable: [len, ord(first char), index-ish, ...]."""
    rng = np.random.default_rng(abs(hash(text)) % (2**32))
    vec = rng.standard_normal(DIM).astype(np.float32)
    vec[0] = len(text)
    return vec


class FakeService:
    def __init__(self, server: FaultServer, *, polls_until_done: int = 1, rate_limit_headers: dict | None = None):
        self.server = server
        self.predictions: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self.polls_until_done = polls_until_done
        self.rate_limit_headers = rate_limit_headers or {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server.route("GET", "/v1/health", lambda r: Reply.json({"status": "ok", "version": "fake", "local": False}))
        server.route("GET", "/v1/models", lambda r: Reply.json(MODELS))
        server.route("GET", r"/v1/models/([^/]+)", self.get_model)
        server.route("POST", "/v1/predictions", self.create)
        server.route("GET", "/v1/predictions", self.list)
        server.route("GET", r"/v1/predictions/([^/]+)", self.get)
        server.route("POST", r"/v1/predictions/([^/]+)/cancel", self.cancel)
        server.route("DELETE", r"/v1/predictions/([^/]+)", self.delete)
        server.route("POST", "/v1/embeddings", self.embeddings)
        server.route("POST", "/v1/chat/completions", self.chat)

    def _id(self, req) -> str:
        return req.path.rstrip("/").split("/")[3 if req.path.startswith("/v1/predictions/") else -1]

    def get_model(self, req):
        slug = req.path.rsplit("/", 1)[-1]
        for m in MODELS:
            if m["namespace"] == slug:
                return Reply.json(m)
        return Reply.json({"status": False, "response": "Model not found",
                           "error": {"http_status": 404, "message": f"Model {slug} not found", "details": None,
                                     "error_id": "MODEL_NOT_FOUND"}}, 404)

    def create(self, req):
        body = req.json()
        with self._lock:
            pid = f"pred-{next(self._ids)}"
            pred = {"id": pid, "status": "pending", "model": {"name": body["model"], "type": "image"},
                    "input": body["input"], "output": None, "created_at": "2026-03-04T21:20:58.000000Z",
                    "urls": {"get": f"{self.server.url}/predictions/{pid}"}}
            self.predictions[pid] = pred
            self.polls[pid] = 0
        return Reply.json(pred, 201)

    def get(self, req):
        pid = req.path.split("/")[3]
        with self._lock:
            pred = self.predictions.get(pid)
            if pred is None:
                return Reply.json({"status": False, "response": "Error fetching prediction",
                                   "error": {"http_status": 502, "message": "Prediction serving returned an error.",
                                             "details": {}, "error_id": "PREDICTION_FAILED"}}, 502)
            self.polls[pid] += 1
            if pred["status"] in ("pending", "queued") and self.polls[pid] >= self.polls_until_done:
                pred.update(status="succeeded", output=[f"{self.server.origin}/files/{pid}.png"],
                            completed_at="2026-03-04T21:21:08+00:00",
                            metrics={"predict_time": 1.5, "total_time": 1.6},
                            metadata={"billing": {"credits_used": 0.03}})
            elif pred["status"] == "pending":
                pred["status"] = "processing"
            elif pred["status"] == "processing" and self.polls[pid] >= self.polls_until_done:
                pred.update(status="succeeded", output=[f"{self.server.origin}/files/{pid}.png"])
            return Reply.json(dict(pred))

    def list(self, req):
        page = int(req.query.get("page", ["1"])[0])
        per_page = int(req.query.get("per_page", ["15"])[0])
        with self._lock:
            items = list(self.predictions.values())
        chunk = items[(page - 1) * per_page: page * per_page]
        last = max(1, -(-len(items) // per_page))
        return Reply.json({"data": chunk, "pagination": {"current_page": page, "per_page": per_page,
                                                         "total": len(items), "last_page": last}})

    def cancel(self, req):
        pid = req.path.split("/")[3]
        with self._lock:
            self.predictions[pid]["status"] = "canceled"
        return Reply.json({"success": True})

    def delete(self, req):
        pid = req.path.split("/")[3]
        with self._lock:
            self.predictions.pop(pid, None)
        return Reply.json({"success": True})

    def embeddings(self, req):
        body = req.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(texts):
            vec = vector_for(text)
            emb = base64.b64encode(vec.astype("<f4").tobytes()).decode() if body.get(
                "encoding_format") == "base64" else vec.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        data.reverse()  # the index, not the position, decides the order
        return Reply.json({"object": "list", "model": body["model"], "data": data,
                           "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}},
                          headers=self.rate_limit_headers)

    def chat(self, req):
        body = req.json()
        self.last_chat = body
        if body.get("model") == "deepbrain-router":
            return Reply.json(safety_completion(body))
        words = ["Hello", " from", " the", " fake"]
        if body.get("stream"):
            chunks = [{"id": "c1", "object": "chat.completion.chunk", "model": body["model"],
                       "choices": [{"index": 0, "delta": {"role": "assistant", "content": w}, "finish_reason": None}]}
                      for w in words]
            chunks[-1]["choices"][0]["finish_reason"] = "stop"
            chunks.append({"id": "c1", "object": "chat.completion.chunk", "model": body["model"], "choices": [],
                           "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
            return Reply.sse(chunks)
        return Reply.json(chat_completion(body["model"], "".join(words)))


def chat_completion(model: str, text: str) -> dict:
    filters = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1773759323, "model": model,
            "system_fingerprint": "fp_x", "brand_new_field": {"kept": True},
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": text, "annotations": [], "refusal": None},
                         "content_filter_results": filters}],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}


# what the fake safety model says about a text: a word in it sets a category's verdict
SAFETY_WORDS = {"rage": ("violence", True, "high"), "snub": ("hate", False, "low"),
                "flirt": ("sexual", False, "medium")}


def safety_completion(body: dict) -> dict:
    """Severities and filtered categories the local classifier cannot produce on demand."""
    content = body["messages"][0]["content"]
    text = content if isinstance(content, str) else " ".join(
        p.get("text", "") if p.get("type") == "text" else p["image_url"]["url"][:40] for p in content)
    results = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}
    for word, (category, filtered, severity) in SAFETY_WORDS.items():
        if word in text:
            results[category] = {"filtered": filtered, "severity": severity}
    if "data:image/png" in text:
        results["sexual"] = {"filtered": True, "severity": "high"}
    completion = chat_completion(body["model"], "ok")
    completion["choices"][0]["content_filter_results"] = results
    completion["prompt_filter_results"][0]["content_filter_results"] = {
        **{k: {"filtered": False, "severity": "safe"} for k in results},
        "jailbreak": {"filtered": "ignore previous" in text, "detected": "ignore previous" in text}}
    return completion


ID_RE = re.compile(r"pred-\d+")
