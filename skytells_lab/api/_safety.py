"""``client.safety``: proactive content checks and reading ``content_filter_results``, as the TS SDK does.

Two mechanisms, after the official TypeScript SDK's ``src/safety.ts`` (1.0.4+):

- proactive: ``check_text`` / ``check_image`` send one chat completion to the safety model and turn its
  ``content_filter_results`` (the completion's and the prompt's) into a :class:`SafetyCheckResult`;
- reading: ``was_filtered``, ``filtered_categories``, ``parse_filter_results`` read a completion, a choice,
  a list of choices, a Response's ``content_filters`` or any object with ``content_filter_results``, with
  no call; ``evaluate`` judges any of these (texts and images are checked first) against a
  :class:`SafetyTemplate`.

The templates carry the TS SDK's values (``SafetyTemplates`` in ``src/types/inference.types.ts``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from skytells_lab.api import _media
from skytells_lab.api import errors as E
from skytells_lab.api._http import Call
from skytells_lab.api._inference_types import ChatCompletion

SAFETY_MODEL = "deepbrain-router"
# the TS SDK's choice: some APIs reject max_tokens=1
SAFETY_MAX_TOKENS = 16
IMAGE_PROMPT = "Analyze this image."


class SafetyCategory(str, enum.Enum):
    HATE = "hate"
    VIOLENCE = "violence"
    SEXUAL = "sexual"
    SELF_HARM = "self_harm"
    PROTECTED_MATERIAL_CODE = "protected_material_code"
    PROTECTED_MATERIAL_TEXT = "protected_material_text"
    JAILBREAK = "jailbreak"

    def __str__(self) -> str:
        return self.value


class SafetySeverity(str, enum.Enum):
    SAFE = "safe"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    def __str__(self) -> str:
        return self.value


_SEVERITY_ORDER = {"safe": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class SafetyTemplate:
    """What ``evaluate`` fails on.

    A category fails when the service filtered it; and, with ``fail_on_filtered``, also when its severity is
    at least ``severity_threshold`` and above ``safe``. ``categories`` limits the check (``"all"`` or None:
    every category the results name).
    """

    id: str
    categories: tuple[str, ...] | str | None = None
    severity_threshold: str = "safe"
    fail_on_filtered: bool = False

    def __post_init__(self) -> None:
        if str(self.severity_threshold) not in _SEVERITY_ORDER:
            raise ValueError(f"severity_threshold must be one of {', '.join(_SEVERITY_ORDER)}, "
                             f"got {self.severity_threshold!r}")
        cats = self.categories
        if cats is not None and cats != "all":
            if isinstance(cats, str) or not all(isinstance(c, str) for c in cats):
                raise ValueError(f"categories must be 'all' or a list of category names, got {cats!r}")
            object.__setattr__(self, "categories", tuple(str(c) for c in cats))
        object.__setattr__(self, "severity_threshold", str(self.severity_threshold))

    def __repr__(self) -> str:
        return (f"SafetyTemplate({self.id!r}, threshold={self.severity_threshold!r}, "
                f"fail_on_filtered={self.fail_on_filtered}, categories={self.categories!r})")


class SafetyTemplates:
    """The TS SDK's templates, same ids and values."""

    STRICT = SafetyTemplate("strict", fail_on_filtered=True, severity_threshold="safe")
    MODERATE = SafetyTemplate("moderate", fail_on_filtered=True, severity_threshold="medium")
    MINIMAL = SafetyTemplate("minimal", fail_on_filtered=False, severity_threshold="high")
    # as in the TS SDK, these two leave fail_on_filtered unset: only what the service filtered fails
    CHILD_SAFE = SafetyTemplate("child_safe", categories=("sexual", "violence", "self_harm", "hate"),
                                severity_threshold="low")
    ENTERPRISE = SafetyTemplate("enterprise", categories="all", severity_threshold="safe")

    @classmethod
    def all(cls) -> dict[str, SafetyTemplate]:
        """Every template by name (``STRICT`` ...)."""
        return {k: v for k, v in vars(cls).items() if isinstance(v, SafetyTemplate)}


# --------------------------------------------------------------------------- results


@dataclass
class SafetyFilterSummary:
    """Per category ``{filtered, severity, detected}``: the choices' results merged, and each prompt's."""

    choice: dict[str, dict[str, Any]] = field(default_factory=dict)
    prompt: list[dict[str, Any]] = field(default_factory=list)  # [{prompt_index, results}]
    any_filtered: bool = False

    @property
    def filtered_categories(self) -> list[str]:
        """The categories filtered in any choice or prompt."""
        out = [cat for cat, res in self.choice.items() if res.get("filtered")]
        for p in self.prompt:
            out += [cat for cat, res in p["results"].items() if res.get("filtered") and cat not in out]
        return out

    def __repr__(self) -> str:
        return (f"SafetyFilterSummary(any_filtered={self.any_filtered}, "
                f"filtered={self.filtered_categories}, categories={len(self.choice)}, prompts={len(self.prompt)})")


@dataclass
class SafetyCheckResult:
    """One check: ``passed``, the ``failed_categories``, the template id, and the raw filter results."""

    passed: bool
    failed_categories: list[str]
    template: str = "default"
    content_filter_results: dict[str, Any] | None = None
    prompt_filter_results: list[dict[str, Any]] | None = None
    input: str | None = None  # a short label of what was checked (text or "image")
    model: str | None = None
    details: SafetyFilterSummary | None = None

    def severities(self) -> dict[str, str]:
        """The highest severity reported per category (completion and prompt)."""
        out: dict[str, str] = {}
        for results in [self.content_filter_results or {}, *[p.get("content_filter_results") or {}
                                                               for p in self.prompt_filter_results or []]]:
            for cat, res in results.items():
                sev = res.get("severity") if isinstance(res, dict) else None
                if isinstance(sev, str) and _SEVERITY_ORDER.get(sev, -1) > _SEVERITY_ORDER.get(out.get(cat), -1):
                    out[cat] = sev
        return out

    def to_record(self) -> dict[str, Any]:
        """One frame row: input, passed, failed_categories, template, model, severity_<category>."""
        return {"input": self.input, "passed": self.passed, "failed_categories": list(self.failed_categories),
                "template": self.template, "model": self.model, **{f"severity_{k}": v
                                                                    for k, v in self.severities().items()}}

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import safety_html

        return safety_html(self)

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else f"failed {self.failed_categories}"
        label = f", input={_clip(self.input)!r}" if self.input else ""
        return f"{type(self).__name__}({verdict}, template={self.template!r}{label})"

    __str__ = __repr__


@dataclass
class SafetyEvaluation(SafetyCheckResult):
    """``evaluate``'s answer: a check result judged by a template, ``details`` the merged summary."""


class SafetyResults(list):
    """A list of results; ``.frame()`` is one row per result (pandas)."""

    def to_records(self) -> list[dict[str, Any]]:
        """One row per result (see :meth:`SafetyCheckResult.to_record`)."""
        return [r.to_record() for r in self]

    def frame(self):
        """One row per result (pandas)."""
        from skytells_lab.api._frames import safety_frame

        return safety_frame(self)

    def _repr_html_(self) -> str:
        return self.frame().to_html()

    def __repr__(self) -> str:
        failed = sum(not r.passed for r in self)
        return f"SafetyResults({len(self)} checks, {failed} failed)"


def _clip(text: Any, n: int = 40) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------- reading filter results


def _plain(value: Any) -> Any:
    """Our pydantic results as the wire dicts they came from; everything else as it is."""
    if isinstance(value, SafetyCheckResult):
        return {"choices": [{"content_filter_results": value.content_filter_results or {}}],
                "prompt_filter_results": value.prompt_filter_results or []}
    raw = getattr(value, "raw", None)
    if isinstance(raw, dict) and raw:
        return raw
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def _normalize(value: Any) -> tuple[list[dict], list[dict]]:
    """(choices' filter maps, prompt filter entries) of anything the reading helpers accept."""
    value = _plain(value)
    if isinstance(value, (list, tuple)):
        choices, prompts = [], []
        for item in value:
            c, p = _normalize(item)
            choices += c
            prompts += p
        return choices, prompts
    if not isinstance(value, dict):
        raise TypeError("expected a chat completion, a choice, a list of choices, a Response or an object with "
                        f"content_filter_results; got {type(value).__name__}")
    if isinstance(value.get("choices"), list):
        choices = [_plain(c).get("content_filter_results") or {} for c in value["choices"]
                   if isinstance(_plain(c), dict)]
        return choices, [p for p in value.get("prompt_filter_results") or [] if isinstance(p, dict)]
    if isinstance(value.get("content_filters"), list):  # a Response: prompt and completion entries
        choices, prompts = [], []
        for i, entry in enumerate(e for e in value["content_filters"] if isinstance(e, dict)):
            results = entry.get("content_filter_results") or {}
            if entry.get("source_type") == "prompt":
                prompts.append({"prompt_index": entry.get("prompt_index", i), "content_filter_results": results})
            else:
                choices.append(results)
        return choices, prompts
    return [value.get("content_filter_results") or {}], []


def _parse_object(obj: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for key, val in (obj or {}).items() if isinstance(obj, dict) else ():
        if isinstance(val, dict) and "filtered" in val:
            out[str(key)] = {"filtered": bool(val.get("filtered")), "severity": val.get("severity"),
                             "detected": val.get("detected")}
    return out


def _merge(maps: Iterable[dict[str, dict]]) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for m in maps:
        for key, res in m.items():
            if key not in merged or res["filtered"]:
                merged[key] = res
    return merged


def _any(summary_choice: dict, prompts: list[dict]) -> bool:
    return (any(r["filtered"] for r in summary_choice.values())
            or any(r["filtered"] for p in prompts for r in p["results"].values()))


def parse_filter_results(value: Any) -> SafetyFilterSummary:
    """The structured summary of ``value``'s filter results (all choices merged; a filtered one wins)."""
    choices, prompts = _normalize(value)
    choice = _merge(_parse_object(c) for c in choices)
    prompt = [{"prompt_index": p.get("prompt_index", i), "results": _parse_object(p.get("content_filter_results"))}
              for i, p in enumerate(prompts)]
    return SafetyFilterSummary(choice, prompt, _any(choice, prompt))


def was_filtered(value: Any) -> bool:
    """True when any choice or prompt of ``value`` had content filtered. No call."""
    return parse_filter_results(value).any_filtered


def filtered_categories(value: Any) -> list[str]:
    """The names of the categories filtered in ``value`` (choices first, then prompts). No call."""
    return parse_filter_results(value).filtered_categories


def judge(summary: SafetyFilterSummary, template: SafetyTemplate) -> list[str]:
    """The categories ``template`` fails in ``summary`` (the TS SDK's ``_evaluateTemplate``).

    Unlike the TS SDK, a template without a category list also judges categories that only a prompt
    reports (the local server and the service report the checked text's verdict as the prompt's)."""
    threshold = _SEVERITY_ORDER[template.severity_threshold]
    if template.categories in (None, "all"):
        names = list(summary.choice) + [c for p in summary.prompt for c in p["results"] if c not in summary.choice]
    else:
        names = list(template.categories)
    failed: list[str] = []

    def check(cat: str, res: dict | None) -> None:
        if not res:
            return
        sev = _SEVERITY_ORDER.get(str(res.get("severity")), 0)
        fails = res["filtered"] or (template.fail_on_filtered and sev >= threshold and sev > 0)
        if fails and cat not in failed:
            failed.append(cat)

    for cat in names:
        check(cat, summary.choice.get(cat))
    for p in summary.prompt:
        for cat in names:
            check(cat, p["results"].get(cat))
    return failed


# --------------------------------------------------------------------------- checks (operations)


def _template(template: Any) -> SafetyTemplate | None:
    if template is None or isinstance(template, SafetyTemplate):
        return template
    if isinstance(template, str):
        found = SafetyTemplates.all().get(template.upper())
        if found is None:
            raise ValueError(f"unknown safety template {template!r}; use one of {', '.join(SafetyTemplates.all())} "
                             "or a SafetyTemplate(...)")
        return found
    if isinstance(template, dict):
        return SafetyTemplate(**template)
    raise TypeError(f"template must be a SafetyTemplate, a template name or a dict, got {type(template).__name__}")


def _check(client: Any, content: Any, label: str, template: SafetyTemplate | None) -> Any:
    image = isinstance(content, list)
    model = client.safety_model
    # the local server classifies the prompt; a token of answer is enough and keeps its verdict out of the way
    max_tokens = 1 if client.is_local else SAFETY_MAX_TOKENS
    call = Call("POST", "/chat/completions", kind="chat.completions", inference=True, resend_safe=False, model=model,
                json={"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens})
    try:
        body = yield call
    except E.SkytellsError as err:
        details = err.details if isinstance(err.details, dict) else {}
        results = details.get("content_filter_results")
        if not isinstance(results, dict):
            if err.error_id == "MODEL_NOT_SUPPORTED" and image:
                raise E.InvalidInputError(
                    f"the safety model {model!r} on this backend takes text only (the local server's classifier "
                    "is text-only); check images against the Skytells service, or set client.safety_model to a "
                    "vision model", error_id="MODEL_NOT_SUPPORTED", http_status=err.http_status) from err
            raise
        # a prompt the content policy refused (HTTP 400): the refusal carries the verdict
        body = {"id": "", "model": model, "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": results}]}
    completion = ChatCompletion.model_validate(body)
    summary = parse_filter_results(completion)
    failed = summary.filtered_categories
    first = completion.choices[0].content_filter_results if completion.choices else None
    return SafetyCheckResult(passed=not failed, failed_categories=failed,
                             template=template.id if template else "default", content_filter_results=first,
                             prompt_filter_results=completion.prompt_filter_results, input=_masked(client, label),
                             model=model,
                             details=summary)


def _masked(client: Any, label: str | None) -> str | None:
    """The result's label is shown in reprs, cards and frames: never with the client's key in it."""
    key = client._api_key.get() if client._api_key else None
    return label.replace(key, "***") if key and label and key in label else label


def _text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"check_text takes a string (or a list of strings), got {type(text).__name__}")
    if not text.strip():
        raise E.InvalidInputError("check_text got an empty text; pass the text to check", error_id="INVALID_INPUT")
    return text


def check_text(client: Any, text: Any, template: Any = None) -> Any:
    template = _template(template)
    if isinstance(text, (list, tuple)):
        results = SafetyResults()
        for item in text:
            results.append((yield from _check(client, _text(item), _text(item), template)))
        return results
    return (yield from _check(client, _text(text), text, template))


def _image_content(image: Any) -> list[dict]:
    url = _media._image_url(image)
    url = url.get("url") if isinstance(url, dict) else url
    if not isinstance(url, str):
        raise TypeError(f"check_image takes a URL, a path, a PIL image, an array or bytes, got {type(image).__name__}")
    return [{"type": "text", "text": IMAGE_PROMPT}, {"type": "image_url", "image_url": {"url": url}}]


def _image_label(image: Any) -> str:
    if isinstance(image, dict) and isinstance(image.get("url"), str):
        image = image["url"]
    if isinstance(image, str) and not image.startswith("data:"):
        return _clip(image, 80)
    return f"image ({type(image).__name__})"


def check_image(client: Any, image: Any, template: Any = None) -> Any:
    template = _template(template)
    if isinstance(image, (list, tuple)):
        results = SafetyResults()
        for item in image:
            results.append((yield from _check(client, _image_content(item), _image_label(item), template)))
        return results
    return (yield from _check(client, _image_content(image), _image_label(image), template))


def _is_image_value(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().startswith(("http://", "https://", "data:image/"))
    if isinstance(value, dict):
        return set(value) == {"url"} and isinstance(value["url"], str)
    return _media.is_media_value(value)


def _resolve(client: Any, value: Any) -> Any:
    """The checkable results of ``value``: texts and images checked (one call each), the rest as is."""
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out += (yield from _resolve(client, item))
        return out
    if isinstance(value, SafetyCheckResult):
        return [_plain(value)]
    if _is_image_value(value):
        result = yield from _check(client, _image_content(value), _image_label(value), None)
    elif isinstance(value, str):
        result = yield from _check(client, _text(value), value, None)
    else:
        return [value]
    return (yield from _resolve(client, result))


def evaluate(client: Any, value: Any, template: Any = None) -> Any:
    template = _template(template) or SafetyTemplates.STRICT
    checkables = yield from _resolve(client, value)
    summaries = [parse_filter_results(c) for c in checkables]
    choice = _merge(s.choice for s in summaries)
    prompt = [p for s in summaries for p in s.prompt]
    summary = SafetyFilterSummary(choice, prompt, _any(choice, prompt))
    failed = judge(summary, template)
    label = value if isinstance(value, str) and not _is_image_value(value) else None
    return SafetyEvaluation(passed=not failed, failed_categories=failed, template=template.id,
                            input=_masked(client, label),
                            details=summary)


# --------------------------------------------------------------------------- the namespace


class Safety:
    """``client.safety``: ``check_text``, ``check_image``, ``evaluate`` call the API (awaitable on
    AsyncSkytells); ``was_filtered``, ``filtered_categories``, ``parse_filter_results`` read results only.

    The safety model is ``client.safety_model``: ``deepbrain-router`` on the service (as in the TS SDK), the
    local chat model on the local server, whose bundled classifier scores every prompt."""

    templates = SafetyTemplates

    def __init__(self, client: Any) -> None:
        self._client = client

    def check_text(self, text: str | list[str], template: SafetyTemplate | str | None = None):
        """Check ``text`` (or each of a list: a SafetyResults) with the safety model.

        ``template`` only labels the result, as in the TS SDK; ``evaluate`` judges by it."""
        return self._client._execute(check_text(self._client, text, template))

    def check_image(self, image: Any, template: SafetyTemplate | str | None = None):
        """Check an image: a URL, ``{"url": ...}``, a path, a PIL image, an array or bytes (or a list)."""
        return self._client._execute(check_image(self._client, image, template))

    def evaluate(self, value: Any, template: SafetyTemplate | str | None = None):
        """Judge ``value`` by ``template`` (default STRICT): a completion, choice(s), a Response, a result, a
        text or an image (each checked first, one call each), or a list of any of these, merged."""
        return self._client._execute(evaluate(self._client, value, template))

    @staticmethod
    def was_filtered(value: Any) -> bool:
        """True when any choice or prompt of a completion, choice(s) or Response was filtered. No call."""
        return was_filtered(value)

    @staticmethod
    def filtered_categories(value: Any) -> list[str]:
        """The filtered categories' names (choices first, then prompts). No call."""
        return filtered_categories(value)

    @staticmethod
    def parse_filter_results(value: Any) -> SafetyFilterSummary:
        """Every category's ``{filtered, severity, detected}``, choices merged, prompts apart. No call."""
        return parse_filter_results(value)

    def __repr__(self) -> str:
        return f"<Safety of {self._client!r}, model={self._client.safety_model!r}>"
