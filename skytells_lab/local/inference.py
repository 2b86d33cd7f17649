"""The inference sub-APIs: chat completions, responses and embeddings, with the Skytells safety fields."""

from __future__ import annotations

import base64
import functools
import json
import logging
import math
import secrets
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable

from skytells_lab.local.catalog import Catalog, credits_for
from skytells_lab.local.config import ServerConfig
from skytells_lab.local.errors import ApiError, bad_request
from skytells_lab.local.runners.base import SEED_MAX, SEED_MIN, ContextLengthExceeded
from skytells_lab.local.store import Store
from skytells_lab.local.wire_values import shown

_ROLES = ("system", "developer", "user", "assistant", "tool")
_CATEGORIES = ("hate", "self_harm", "sexual", "violence")
_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}
MAX_EMBEDDING_INPUTS = 2048
FINGERPRINT = "fp_skytells_lab"
log = logging.getLogger("skytells_lab.local")


# safety ----------------------------------------------------------------------------------------

def classify(texts: list[str]) -> list[dict]:
    """The runners' content classifier; empty texts (nothing generated) are safe without asking it."""
    from skytells_lab.local.runners.safety import classify as runner_classify

    todo = [t for t in texts if t.strip()]
    scored = iter(runner_classify(todo) if todo else [])
    return [next(scored) if t.strip() else {} for t in texts]


def filter_results(raw: dict | None, source: str) -> dict:
    """A `content_filter_results` object: the classifier's categories over safe defaults."""
    results = {name: dict(_SAFE) for name in _CATEGORIES}
    extra = ("jailbreak",) if source == "prompt" else ("protected_material_code", "protected_material_text")
    results.update({name: dict(_NOT_DETECTED) for name in extra})
    results.update({k: v for k, v in (raw or {}).items() if isinstance(v, dict)})
    return results


def _is_filtered(results: dict) -> bool:
    return any(v.get("filtered") for v in results.values() if isinstance(v, dict))


def _safety(prompt: str) -> dict:
    results = filter_results(classify([prompt])[0], "prompt")
    if _is_filtered(results):
        flagged = sorted(k for k, v in results.items() if v.get("filtered"))
        raise ApiError(400, "CONTENT_POLICY_VIOLATION",
                       f"The prompt was filtered by the content policy ({', '.join(flagged)}).",
                       {"category": "content_filter", "content_filter_results": results}, param="messages")
    return results


# request parsing ---------------------------------------------------------------------------------

def _get(body: dict, name: str, kinds: tuple, default=None, lo=None, hi=None):
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise bad_request(f"'{name}' has the wrong type ({type(value).__name__})", name, "INVALID_PARAMETER")
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes every < and > comparison
        raise bad_request(f"'{name}' must be a finite number, got {value}", name, "INVALID_PARAMETER")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise bad_request(f"'{name}' must be between {lo} and {hi}, got {value}", name, "INVALID_PARAMETER")
    return value


def _text_of(content, param: str, vision: bool) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise bad_request(f"'{param}' content must be a string or a list of parts", param)
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text", "output_text"):
            texts.append(str(part.get("text", "")))
        elif kind in ("image_url", "input_image") and not vision:
            raise bad_request("this local model takes text only; remove the image parts", param,
                              "MODEL_NOT_SUPPORTED")
        else:
            raise bad_request(f"unsupported content part type {kind!r}", param)
    return "\n".join(texts)


def _chat_messages(messages, vision: bool, param: str = "messages") -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise bad_request(f"'{param}' must be a non-empty list of {{role, content}} messages", param)
    out = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in _ROLES:
            raise bad_request(f"{param}[{i}] needs a role among {', '.join(_ROLES)}", f"{param}[{i}].role")
        role = "system" if msg["role"] == "developer" else msg["role"]
        out.append({"role": role, "content": _text_of(msg.get("content"), f"{param}[{i}].content", vision)})
    return out


def _stop(body: dict) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
        raise bad_request("'stop' must be a string or a list of up to 4 strings", "stop", "INVALID_PARAMETER")
    return stop


def _stream_options(body: dict) -> dict:
    """`stream_options`, checked before any byte streams: an object of booleans, as OpenAI's."""
    options = body.get("stream_options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object, e.g. {\"include_usage\": true}", "stream_options",
                          "INVALID_PARAMETER")
    for name, value in options.items():
        if name not in ("include_usage", "include_obfuscation"):
            raise bad_request(f"unknown stream option {shown(name)!r}; known: include_usage, include_obfuscation",
                              f"stream_options.{shown(name)}", "INVALID_PARAMETER")
        if not isinstance(value, bool):
            raise bad_request(f"'stream_options.{name}' must be true or false", f"stream_options.{name}",
                              "INVALID_PARAMETER")
    return options


def _sse(payload: dict, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def _deltas(generation, stopped: threading.Event) -> AsyncIterator[str]:
    """The generation's text deltas, pulled in a worker thread; a dropped client stops the generation."""
    from starlette.concurrency import iterate_in_threadpool

    try:
        async for delta in iterate_in_threadpool(iter(generation)):
            if delta:
                yield delta
    finally:
        stopped.set()


class _StopFlag(threading.Event):
    """A generation's stop flag. The runner polls it (`cancelled=flag.poll`) from the thread that runs the
    model, which the flag remembers so that shutdown can wait for that thread."""

    thread: threading.Thread | None = None

    def poll(self) -> bool:
        self.thread = threading.current_thread()
        return self.is_set()


def _model_work(method):
    """Count a call as model work in a server thread: `InferenceService.halt()` waits for it."""

    @functools.wraps(method)
    def counted(self, *args, **kwargs):
        with self._idle:
            self._busy += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    return counted


class InferenceService:
    def __init__(self, catalog: Catalog, store: Store, config: ServerConfig, check_budget: Callable[[], None]):
        self.catalog, self.store, self.config = catalog, store, config
        self.check_budget = check_budget
        self._idle = threading.Condition()
        self._busy = 0
        self._flags: weakref.WeakSet[_StopFlag] = weakref.WeakSet()

    def running(self) -> int:
        """Calls inside a model now (for /metrics)."""
        return self._busy

    def _stop_flag(self) -> _StopFlag:
        flag = _StopFlag()
        with self._idle:
            self._flags.add(flag)
        return flag

    def halt(self, timeout: float = 10.0) -> bool:
        """Stop every generation at its next token and wait (up to `timeout` s) until no model work runs in
        a server thread. For shutdown: a daemon thread still inside torch when the interpreter finalizes
        aborts the process ("FATAL: exception not rethrown"). True when everything ended in time."""
        deadline = time.monotonic() + timeout
        with self._idle:
            flags = list(self._flags)
        for flag in flags:
            flag.set()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, max(0.0, deadline - time.monotonic()))
        # a generation still in its prompt pass has not polled its flag (shown its thread) yet: a moment
        grace = min(deadline, time.monotonic() + 1.0)
        while any(f.thread is None for f in flags) and time.monotonic() < grace:
            time.sleep(0.02)
        for flag in flags:
            if flag.thread is not None and flag.thread is not threading.current_thread():
                flag.thread.join(max(0.0, deadline - time.monotonic()))
        with self._idle:
            return self._busy == 0 and not any(f.thread is not None and f.thread.is_alive() for f in flags)

    def _runner(self, body: dict, method: str, what: str):
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad_request("'model' is required", "model", "INVALID_PARAMETER")
        resolved = self.catalog.resolve(model)
        if not hasattr(resolved.runner, method):
            raise ApiError(400, "MODEL_NOT_SUPPORTED", f"Model '{model}' does not support {what}.",
                           {"model": model, "capabilities": resolved.entry.get("capabilities", [])},
                           param="model")
        self.check_budget()
        return resolved

    def _generation_params(self, body: dict, max_name: str) -> dict:
        if _get(body, "n", (int,), 1) != 1:
            raise bad_request("the local server generates one choice; send n=1", "n", "INVALID_PARAMETER")
        requested = _get(body, max_name, (int,), None, lo=1)
        if requested is None and max_name == "max_tokens":
            requested = _get(body, "max_completion_tokens", (int,), None, lo=1)
        top_p = float(_get(body, "top_p", (int, float), 0.95, lo=0, hi=1))
        if top_p <= 0:  # nucleus sampling needs some probability mass; OpenAI documents 0-1, the runner (0, 1]
            raise bad_request("'top_p' must be greater than 0 and at most 1 (use temperature 0 for greedy "
                              "decoding)", "top_p", "INVALID_PARAMETER")
        return {"max_tokens": min(requested or self.config.max_tokens, self.config.max_tokens),
                "temperature": float(_get(body, "temperature", (int, float), 0.7, lo=0, hi=2)),
                "top_p": top_p, "seed": _get(body, "seed", (int,), None, lo=SEED_MIN, hi=SEED_MAX),
                "stop": _stop(body)}

    def _generate(self, resolved, messages: list[dict], stopped: _StopFlag, params: dict, param: str):
        try:
            return resolved.runner.generate(messages, cancelled=stopped.poll, **params)
        except ContextLengthExceeded as exc:
            raise ApiError(400, "CONTEXT_LENGTH_EXCEEDED",
                           f"This model's maximum context length is {exc.context} tokens, but the messages "
                           f"resulted in {'at least ' if exc.at_least else ''}{exc.prompt_tokens} tokens. "
                           "Shorten the messages.",
                           {"prompt_tokens": exc.prompt_tokens, "context": exc.context}, param=param) from None

    def _charge(self, kind: str, ref: str, entry: dict, tokens: int) -> None:
        self.store.charge(kind, ref, credits_for(entry.get("pricing"), tokens=tokens))

    # chat completions ---------------------------------------------------------------------------

    @_model_work
    def chat_prepare(self, body: dict):
        """Validate, load, classify the prompt and start generating (in a worker thread)."""
        resolved = self._runner(body, "generate", "chat completions")
        vision = "vision" in resolved.entry.get("capabilities", [])
        messages = _chat_messages(body.get("messages"), vision)
        params = self._generation_params(body, "max_tokens")
        _stream_options(body)
        resolved.runner.load()
        prompt_results = _safety("\n".join(m["content"] for m in messages if m["role"] != "assistant"))
        stopped = self._stop_flag()
        generation = self._generate(resolved, messages, stopped, params, "messages")
        return resolved, generation, prompt_results, stopped

    @_model_work
    def chat_complete(self, body: dict) -> dict:
        resolved, generation, prompt_results, _ = self.chat_prepare(body)
        text = "".join(generation)
        completion_results = filter_results(classify([text])[0], "completion")
        finish = "content_filter" if _is_filtered(completion_results) else generation.finish_reason or "stop"
        cid = "chatcmpl-" + secrets.token_hex(14)
        usage = _usage(generation)
        self._charge("chat", cid, resolved.entry, usage["total_tokens"])
        return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                "system_fingerprint": FINGERPRINT,
                "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                             "message": {"role": "assistant", "content": text if finish != "content_filter" else "",
                                         "annotations": [], "refusal": None},
                             "content_filter_results": completion_results}],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": prompt_results}],
                "usage": usage}

    async def chat_stream(self, prepared, body: dict) -> AsyncIterator[str]:
        resolved, generation, prompt_results, stopped = prepared
        cid, created = "chatcmpl-" + secrets.token_hex(14), int(time.time())
        include_usage = _stream_options(body).get("include_usage", False)

        def chunk(delta: dict, finish=None, **extra) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            choice.update(extra.pop("choice_extra", {}))
            return _sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": body["model"],
                         "system_fingerprint": FINGERPRINT, "choices": [choice], **extra})

        try:
            yield chunk({"role": "assistant", "content": ""},
                        prompt_filter_results=[{"prompt_index": 0, "content_filter_results": prompt_results}])
            parts = []
            async for delta in _deltas(generation, stopped):
                parts.append(delta)
                yield chunk({"content": delta})
            from starlette.concurrency import run_in_threadpool

            classified = (await run_in_threadpool(classify, ["".join(parts)]))[0]
            completion_results = filter_results(classified, "completion")
            finish = "content_filter" if _is_filtered(completion_results) else generation.finish_reason or "stop"
            usage = _usage(generation)
            self._charge("chat", cid, resolved.entry, usage["total_tokens"])
            yield chunk({}, finish, usage=usage, choice_extra={"content_filter_results": completion_results})
            if include_usage:
                yield _sse({"id": cid, "object": "chat.completion.chunk", "created": created,
                            "model": body["model"], "system_fingerprint": FINGERPRINT, "choices": [],
                            "usage": usage})
            yield "data: [DONE]\n\n"
        except Exception as exc:  # the status line is gone: the failure is reported in-band
            log.exception("chat stream %s failed after it began", cid)
            yield _sse({"error": ApiError(500, "INFERENCE_ERROR", f"generation failed: {shown(str(exc), 300)}")
                        .inference_body(None)["error"]})

    # responses ----------------------------------------------------------------------------------

    @_model_work
    def responses_prepare(self, body: dict):
        resolved = self._runner(body, "generate", "the responses API")
        vision = "vision" in resolved.entry.get("capabilities", [])
        history: list[dict] = []
        previous = body.get("previous_response_id")
        if previous is not None:
            stored = self.store.get_response(previous) if isinstance(previous, str) else None
            if stored is None:
                raise ApiError(404, "NOT_FOUND", f"Previous response '{previous}' was not found; "
                               "only responses created with store=true can be continued.",
                               param="previous_response_id")
            history = stored[1]
        raw = body.get("input")
        if isinstance(raw, str):
            items = [{"role": "user", "content": raw}]
        elif isinstance(raw, list) and raw:
            items = [{k: v for k, v in item.items() if k in ("role", "content")} if isinstance(item, dict) else item
                     for item in raw]
        else:
            raise bad_request("'input' must be a string or a non-empty list of input items", "input")
        messages = history + _chat_messages(items, vision, "input")
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise bad_request("'instructions' must be a string", "instructions", "INVALID_PARAMETER")
        run_messages = ([{"role": "system", "content": instructions}] if instructions else []) + messages
        params = self._generation_params(body, "max_output_tokens")
        _stream_options(body)
        resolved.runner.load()
        prompt_text = "\n".join(m["content"] for m in run_messages if m["role"] != "assistant")
        prompt_results = _safety(prompt_text)
        stopped = self._stop_flag()
        generation = self._generate(resolved, run_messages, stopped, params, "input")
        base = {"id": "resp_" + secrets.token_hex(16), "object": "response", "created_at": int(time.time()),
                "status": "in_progress", "model": body["model"], "instructions": instructions,
                "store": bool(body.get("store", False)), "output": [], "usage": None, "error": None,
                "incomplete_details": None, "content_filters": None, "previous_response_id": previous,
                "metadata": body.get("metadata") or {}, "temperature": params["temperature"],
                "top_p": params["top_p"], "max_output_tokens": body.get("max_output_tokens"),
                "parallel_tool_calls": False, "tool_choice": "auto", "tools": [], "truncation": "disabled",
                "text": {"format": {"type": "text"}}, "reasoning": None, "user": body.get("user")}
        return resolved, generation, prompt_results, stopped, base, messages, len(prompt_text)

    @_model_work
    def _finish_response(self, prepared, text: str) -> dict:
        resolved, generation, prompt_results, _, base, messages, prompt_len = prepared
        completion_results = filter_results(classify([text])[0], "completion")
        incomplete = generation.finish_reason == "length"
        msg_id = "msg_" + base["id"][5:]
        response = {**base, "status": "incomplete" if incomplete else "completed",
                    "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
                    "output": [_message_item(msg_id, text, "completed")],
                    "usage": {"input_tokens": generation.prompt_tokens,
                              "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens": generation.completion_tokens,
                              "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": generation.prompt_tokens + generation.completion_tokens},
                    "content_filters": [_content_filter("prompt", prompt_results, prompt_len),
                                        _content_filter("completion", completion_results, len(text))]}
        self._charge("responses", base["id"], resolved.entry, response["usage"]["total_tokens"])
        if base["store"]:
            self.store.save_response(response, messages + [{"role": "assistant", "content": text}])
        return response

    @_model_work
    def responses_create(self, body: dict) -> dict:
        prepared = self.responses_prepare(body)
        return self._finish_response(prepared, "".join(prepared[1]))

    async def responses_stream(self, prepared) -> AsyncIterator[str]:
        from starlette.concurrency import run_in_threadpool

        generation, stopped, base = prepared[1], prepared[3], prepared[4]
        msg_id = "msg_" + base["id"][5:]
        seq = iter(range(1 << 62))

        def event(kind: str, **fields) -> str:
            return _sse({"type": kind, "sequence_number": next(seq), **fields}, kind)

        try:
            yield event("response.created", response=base)
            yield event("response.in_progress", response=base)
            yield event("response.output_item.added", output_index=0,
                        item=_message_item(msg_id, None, "in_progress"))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event("response.content_part.added", item_id=msg_id, output_index=0, content_index=0, part=part)
            parts = []
            async for delta in _deltas(generation, stopped):
                parts.append(delta)
                yield event("response.output_text.delta", item_id=msg_id, output_index=0, content_index=0,
                            delta=delta, logprobs=[])
            text = "".join(parts)
            yield event("response.output_text.done", item_id=msg_id, output_index=0, content_index=0, text=text,
                        logprobs=[])
            yield event("response.content_part.done", item_id=msg_id, output_index=0, content_index=0,
                        part={**part, "text": text})
            yield event("response.output_item.done", output_index=0, item=_message_item(msg_id, text, "completed"))
            final = await run_in_threadpool(self._finish_response, prepared, text)
            yield event("response.completed" if final["status"] == "completed" else "response.incomplete",
                        response=final)
        except Exception as exc:  # the status line is gone: the failure is reported in-band
            log.exception("responses stream %s failed after it began", base["id"])
            failed = {**base, "status": "failed",
                      "error": {"code": "server_error", "message": f"generation failed: {shown(str(exc), 300)}"}}
            yield event("response.failed", response=failed)

    # embeddings ---------------------------------------------------------------------------------

    @_model_work
    def embeddings(self, body: dict) -> dict:
        resolved = self._runner(body, "embed", "embeddings")
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts:
            raise bad_request("'input' must be a string or a non-empty list of strings", "input")
        if not all(isinstance(t, str) for t in texts):
            raise bad_request("this local model takes text; token-id arrays are not supported", "input")
        if any(not t for t in texts):
            raise bad_request("'input' must not contain empty strings", "input")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise bad_request(f"at most {MAX_EMBEDDING_INPUTS} inputs per request, got {len(texts)}", "input")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise bad_request("'encoding_format' must be 'float' or 'base64'", "encoding_format",
                              "INVALID_PARAMETER")
        resolved.runner.load()
        dims = _get(body, "dimensions", (int,), None, lo=1, hi=int(resolved.runner.dimensions))
        with_usage = getattr(resolved.runner, "embed_with_usage", None)  # one tokenization, not two
        if with_usage is not None:
            vectors, tokens = with_usage(texts, dimensions=dims)
        else:
            vectors = resolved.runner.embed(texts, dimensions=dims)
            tokens = resolved.runner.count_tokens(texts)
        tokens = int(tokens)
        data = []
        for i, vec in enumerate(vectors):
            vec = vec.astype("<f4")
            emb = base64.b64encode(vec.tobytes()).decode() if fmt == "base64" else vec.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        self._charge("embeddings", body["model"], resolved.entry, tokens)
        return {"object": "list", "model": body["model"], "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _usage(generation) -> dict:
    p, c = int(generation.prompt_tokens), int(generation.completion_tokens)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _message_item(msg_id: str, text: str | None, status: str) -> dict:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": msg_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _content_filter(source: str, results: dict, length: int) -> dict:
    return {"blocked": _is_filtered(results), "source_type": source, "content_filter_raw": [],
            "content_filter_results": results,
            "content_filter_offsets": {"start_offset": 0, "end_offset": length, "check_offset": 0}}
