"""Playground: pick a model, fill its form, Run; live status, Cancel, outputs, and a history DataFrame.

Every call runs in a background thread so the kernel stays free; the thread updates widgets by setting
traits (`HTML.value`, `FloatProgress.value`), which ipywidgets sends to the front-end from any thread.
A failed call shows an error card in the widget; nothing is raised into the kernel's log.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

import ipywidgets as widgets

from skytells_lab._media import output_kind
from skytells_lab.widgets import render
from skytells_lab.widgets.form import InputForm
from skytells_lab.widgets.picker import ModelPicker
from skytells_lab.widgets.static import StaticFallback

HISTORY_COLUMNS = ["run", "model", "kind", "status", "prediction_id", "input", "outputs", "text", "seconds",
                   "error", "started_at"]

# inputs for models served by /chat/completions or /embeddings, whose catalog entry may carry no form
CHAT_SCHEMA = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "title": "Message", "x-order": 0},
        "system_prompt": {"type": "string", "title": "System prompt", "x-order": 1},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 128, "x-order": 2},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0.7, "x-order": 3},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1, "default": 1.0, "x-order": 4},
        "seed": {"type": "integer", "minimum": 0, "x-order": 5},
    },
}
EMBEDDING_SCHEMA = {
    "type": "object",
    "required": ["input"],
    "properties": {"input": {"type": "string", "title": "Text", "x-order": 0}},
}
_CHAT_PARAMS = ("max_tokens", "temperature", "top_p", "seed", "stop")


def run_kind(model: Any) -> str:
    """How a model is called: "chat" (streamed chat completion), "embeddings", or "prediction"."""
    caps = set(getattr(model, "capabilities", None) or [])
    if "embeddings" in caps:
        return "embeddings"
    if "chat" in caps or (getattr(model, "metadata", None) or {}).get("openai_compatible"):
        return "chat"
    return "prediction"


class Playground(StaticFallback, widgets.VBox):
    """Picker + form + Run, with live status, progress and Cancel.

    >>> pg = Playground(client)            # display it; or drive it from code:
    >>> pg.picker.value = "digits-diffusion"; pg.form.value = {"prompt": "7"}
    >>> pg.run_button.click(); pg.wait(); pg.history
    """

    def __init__(self, client: Any, *, type: str | None = None, model: str | None = None,
                 poll_interval: float = 0.25, **kwargs: Any):
        self.client = client
        self.poll_interval = poll_interval
        self.last: Any = None  # the last Prediction, ChatStream or EmbeddingResponse
        self.current_id: str | None = None  # the running prediction's id
        self._rows: list[dict] = []
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._stream: Any = None  # the open prediction stream, closed by Cancel
        self.progress_source: str | None = None  # how the last prediction's progress arrived: stream | poll
        self._schemas: dict[str, dict] = {}
        self.picker = ModelPicker(client, type=type, value=model, models=_catalog(client))
        self.form_box = widgets.VBox()
        self.form_box.add_class("sl-form-box")
        self.form: InputForm = InputForm(schema={})
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.run_button.add_class("sl-run")
        self.cancel_button = widgets.Button(description="Cancel", button_style="warning", icon="stop",
                                            disabled=True)
        self.cancel_button.add_class("sl-cancel")
        self.status = widgets.HTML(render.status_html("ready"))
        self.status.add_class("sl-status")
        self.progress = widgets.FloatProgress(value=0, min=0, max=100, layout=widgets.Layout(display="none"))
        self.progress.add_class("sl-progress")
        self.output = widgets.HTML()
        self.output.add_class("sl-output")
        controls = widgets.HBox([self.run_button, self.cancel_button, self.progress, self.status])
        super().__init__(children=[self.picker, self.form_box, controls, self.output], **kwargs)
        self.add_class("sl-playground")
        self.picker.observe(self._model_changed, names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.cancel_button.on_click(lambda _button: self.cancel())
        self._model_changed()

    # ------------------------------------------------------------------ public API
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def history(self):
        """One row per run: run, model, kind, status, prediction_id, input, outputs, text, seconds, error."""
        import pandas as pd

        return pd.DataFrame(list(self._rows), columns=HISTORY_COLUMNS)

    def run(self) -> threading.Thread | None:
        """Validate the form, then call the model in a background thread (what the Run button does)."""
        if self.running or self.picker.model is None:
            return None
        if self.form.validate():
            self.status.value = render.status_html("invalid", detail="fix the highlighted inputs")
            return None
        model, inputs = self.picker.model, self.form.value
        self._cancel.clear()
        self._set_running(True)
        self.output.value = ""
        self.status.value = render.status_html("starting", detail=model.slug)
        self._thread = threading.Thread(target=self._work, args=(model, inputs), daemon=True,
                                        name=f"skytells-playground-{model.slug}")
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Ask the running call to stop: the worker cancels the prediction on the server or closes the stream."""
        if self.running:
            self._cancel.set()
            self.cancel_button.disabled = True
            self.status.value = render.status_html("cancelling")
            stream = self._stream
            if stream is not None:  # wakes the worker blocked on the stream; it then sends the cancel
                stream.close()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the current run ends (for scripts and tests); returns `.last`."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the run did not finish within {timeout} s")
        return self.last

    # ------------------------------------------------------------------ model and form
    def _model_changed(self, _change=None) -> None:
        model = self.picker.model
        if model is None:
            self.form = InputForm(schema={})
        else:
            kind = run_kind(model)
            schema = {"chat": CHAT_SCHEMA, "embeddings": EMBEDDING_SCHEMA}.get(kind) or self._schema(model)
            self.form = InputForm(schema=schema)
            self.form.model = model.slug
        self.form_box.children = [self.form]
        self.run_button.disabled = model is None

    def _schema(self, model: Any) -> dict:
        if model.slug not in self._schemas:
            schema = model.input_schema
            if not schema:
                try:
                    schema = self.client.models.get(model.slug, fields=["input_schema"]).input_schema
                except Exception as exc:  # noqa: BLE001
                    self.output.value = render.error_card(exc, title=f"Could not read the inputs of {model.slug}")
            self._schemas[model.slug] = schema or {}
        return self._schemas[model.slug]

    def _set_running(self, running: bool) -> None:
        self.run_button.disabled = running
        self.cancel_button.disabled = not running
        self.picker.list.disabled = running
        if running:
            self.progress.value = 0
        self.progress.layout.display = None if running else "none"

    # ------------------------------------------------------------------ the worker thread
    def _work(self, model: Any, inputs: dict) -> None:
        kind = run_kind(model)
        row = {"run": len(self._rows) + 1, "model": model.slug, "kind": kind, "status": "started",
               "prediction_id": None, "input": dict(inputs), "outputs": [], "text": None, "seconds": None,
               "error": None, "started_at": datetime.now(timezone.utc)}
        started = time.monotonic()
        try:
            if kind == "chat":
                self._chat(model, inputs, row)
            elif kind == "embeddings":
                self._embed(model, inputs, row)
            else:
                self._predict(model, inputs, row)
        except Exception as exc:  # noqa: BLE001 - a card: a callback must never raise into the kernel log
            row.update(status="error", error=f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}")
            self.status.value = render.status_html("error", prediction_id=row["prediction_id"])
            self.output.value = render.error_card(exc)
        finally:
            row["seconds"] = round(time.monotonic() - started, 3)
            self._rows.append(row)
            self.current_id = None
            self._set_running(False)

    def _predict(self, model: Any, inputs: dict, row: dict) -> None:
        client = self.client
        prediction = client.predictions.create(model.slug, inputs, stream=True)
        row["prediction_id"] = self.current_id = prediction.id
        self.progress_source = "poll"
        if prediction.urls.get("stream") and not prediction.is_terminal and not self._cancel.is_set():
            prediction = self._follow_stream(prediction)
        # one wait: progress on every poll, and Cancel cancels it on the server and follows it to its end
        prediction = client.predictions.wait(prediction, poll_interval=self.poll_interval,
                                             on_update=self._show_progress, cancel=self._cancel)
        self.last = prediction
        status = str(prediction.status)
        row.update(status=status, outputs=list(prediction.outputs), error=prediction.error)
        seconds = prediction.metrics.predict_time
        detail = f"{seconds:.2f} s" if seconds is not None else ""
        self.status.value = render.status_html(status, detail=detail, prediction_id=prediction.id)
        if status == "succeeded":
            self.progress.value = 100
            self.output.value = self._outputs_html(prediction)
        elif status == "failed":
            failure = RuntimeError(prediction.error or "the prediction failed")
            self.output.value = render.error_card(failure, title=f"{model.slug} failed")

    def _follow_stream(self, prediction: Any) -> Any:
        """Live progress from the prediction's stream; polling takes over if it breaks, ends early or is
        closed by Cancel (a backend whose stream URL answers JSON gives one event)."""
        try:
            self._stream = stream = self.client.predictions.stream(prediction)
            try:
                for event in stream:
                    if event.prediction is not None:
                        prediction = event.prediction
                        self.progress_source = "stream"
                        self._show_progress(prediction)
                    if self._cancel.is_set():
                        break
            finally:
                self._stream = None
                stream.close()
        except Exception:  # noqa: BLE001, S110 - a cut or closed stream: the poll loop carries on from here
            pass
        return prediction

    def _show_progress(self, prediction: Any) -> None:
        progress = prediction.metrics.progress
        if progress is not None:
            self.progress.value = float(progress)
        detail = f"{progress:.0f}%" if progress is not None else ""
        if not self._cancel.is_set():
            self.status.value = render.status_html(str(prediction.status), detail=detail,
                                                   prediction_id=prediction.id)

    def _outputs_html(self, prediction: Any) -> str:
        """Images as a gallery, audio and video as players, anything else as text or links."""
        parts, images = [], []
        for url in prediction.outputs:
            kind = output_kind(url, prediction.model_type) or "other"
            if kind == "image":
                images.append(url)
                continue
            content = _fetch(self.client, url)
            if content is None:
                parts.append(render.link_html(url))
            elif kind in ("audio", "video"):
                from skytells_lab.widgets.media import guess_mime

                mime = guess_mime(content, url)
                parts.append((render.audio_html if kind == "audio" else render.video_html)(content, mime))
            else:
                parts.append(render.text_html(content.decode("utf-8", "replace")))
        if images:
            pictures = prediction.images() if len(images) == len(prediction.outputs) else [
                _fetch(self.client, url) for url in images]
            parts.insert(0, render.gallery_html(pictures, captions=[u.rsplit("/", 1)[-1] for u in images]))
        if not prediction.outputs and prediction.output is not None:
            parts.append(render.text_html(str(prediction.output)))
        return "".join(parts)

    def _chat(self, model: Any, inputs: dict, row: dict) -> None:
        messages = []
        if inputs.get("system_prompt"):
            messages.append({"role": "system", "content": inputs["system_prompt"]})
        messages.append({"role": "user", "content": inputs["prompt"]})
        params = {k: inputs[k] for k in _CHAT_PARAMS if k in inputs}
        stream = self.client.chat.completions.create(model=model.slug, messages=messages, stream=True, **params)
        self.status.value = render.status_html("streaming", detail=model.slug)
        status = "succeeded"
        try:
            for _chunk in stream:
                self.output.value = render.text_html(stream.text, streaming=True)
                if self._cancel.is_set():
                    status = "cancelled"
                    break
        finally:
            stream.close()
        row.update(status=status, text=stream.text)
        self.last = stream
        self.output.value = render.text_html(stream.text)
        self.status.value = render.status_html(status, detail=f"{len(stream.text)} characters")

    def _embed(self, model: Any, inputs: dict, row: dict) -> None:
        response = self.client.embeddings.create(model=model.slug, input=[inputs["input"]])
        vector = response.vectors[0]
        self.last = response
        row.update(status="succeeded", text=f"{len(vector)}-d vector")
        preview = ", ".join(f"{v:+.3f}" for v in vector[:8])
        self.output.value = render.table_html({"dimensions": len(vector), "first values": f"[{preview}, ...]",
                                                "norm": f"{float((vector ** 2).sum()) ** 0.5:.4f}"})
        self.status.value = render.status_html("succeeded", detail=f"{len(vector)} dimensions")

    def __repr__(self) -> str:
        return f"Playground(model={self.picker.value!r}, runs={len(self._rows)})"

    def _static_html(self) -> str:
        return (f"{self.picker._static_html()}{self.form._static_html()}"
                f"<div>{self.status.value}</div>{self.output.value}")


def _catalog(client: Any) -> list | None:
    """The catalog with input schemas when the backend can add them to the list (saves a call per model)."""
    try:
        return list(client.models.list(fields=["input_schema"]))
    except Exception:  # noqa: BLE001
        return None  # the picker lists again and shows the error card


def _fetch(client: Any, url: str) -> bytes | None:
    """An output file's bytes through the client (its auth reaches only the API's own host)."""
    try:
        return client.files.get(url)
    except Exception:  # noqa: BLE001
        return None
