"""Hypothesis tests: the typed objects accept every wire variant of the spec, and keep what they don't know."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from skytells_lab.api import Model, Prediction, PredictionPage, PredictionStatus, normalize_status
from skytells_lab.api._errors import error_from_response
from skytells_lab.api.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SkytellsError,
)

FAST = settings(max_examples=40, deadline=None, database=None)  # per test: no global profile for other areas

STATUS_SPELLINGS = {
    "pending": PredictionStatus.PENDING, "queued": PredictionStatus.PENDING, "starting": PredictionStatus.STARTING,
    "started": PredictionStatus.STARTED, "processing": PredictionStatus.PROCESSING,
    "succeeded": PredictionStatus.SUCCEEDED, "failed": PredictionStatus.FAILED,
    "canceled": PredictionStatus.CANCELLED, "cancelled": PredictionStatus.CANCELLED,
}

aware_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                           timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=0))


def wire_time(draw, when: datetime) -> str:
    form = draw(st.sampled_from(["micro_z", "offset", "naive_z"]))
    if form == "micro_z":
        return when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    if form == "offset":
        return when.isoformat()
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


url = st.integers(0, 10**6).map("https://cdn.example.com/{}.png".format)
slugs = st.text("abcdefgh0123-", max_size=10).map("m{}".format)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
extras = st.dictionaries(st.sampled_from(["x_new", "x_other", "brand_new"]), json_leaf, max_size=3)


@st.composite
def predictions(draw):
    spelling = draw(st.sampled_from(sorted(STATUS_SPELLINGS)))
    slug = draw(slugs)
    mtype = draw(st.sampled_from(["image", "video", "audio"]))
    model = draw(st.sampled_from(["str", "obj"]))
    outputs = draw(st.lists(url, max_size=3))
    output_form = draw(st.sampled_from(["list", "single", "objects", "null"]))
    if output_form == "single" and outputs:
        output = outputs[0]
        outputs = outputs[:1]
    elif output_form == "objects":
        output = [{"url": u, "type": "image/png"} for u in outputs]
    elif output_form == "null":
        output, outputs = None, []
    else:
        output = outputs
    created = draw(aware_times)
    body = {
        "id": str(draw(st.uuids())),
        "status": spelling,
        "model": slug if model == "str" else {"name": slug, "type": mtype},
        "input": {"prompt": draw(st.text(max_size=20))},
        "output": output,
        "created_at": wire_time(draw, created),
        "started_at": wire_time(draw, created + timedelta(seconds=1)),
        "metrics": {"predict_time": draw(st.floats(0, 100)), "total_time": draw(st.floats(0, 100))},
        "metadata": {"billing": {"credits_used": draw(st.floats(0, 10))}},
        "urls": {"get": "https://api.skytells.ai/v1/predictions/x"},
        **draw(extras),
    }
    if draw(st.booleans()):
        body["error"] = draw(st.one_of(st.text(min_size=1, max_size=20), st.fixed_dictionaries(
            {"message": st.text(min_size=1, max_size=20)})))
    return body, spelling, slug, outputs, created


@FAST
@given(predictions())
def test_prediction_variants(case):
    body, spelling, slug, outputs, created = case
    p = Prediction.model_validate(body)
    assert p.status is STATUS_SPELLINGS[spelling]
    assert p.is_terminal == (spelling in ("succeeded", "failed", "canceled", "cancelled"))
    assert p.model == slug
    assert p.outputs == outputs
    assert p.created_at == created and p.created_at.tzinfo is not None
    assert p.started_at - p.created_at == timedelta(seconds=1)
    assert p.credits_used == body["metadata"]["billing"]["credits_used"]
    assert p.raw == body
    for key in body:
        if key in ("x_new", "x_other", "brand_new"):
            assert getattr(p, key) == body[key]
    assert isinstance(p.error, (str, type(None)))
    assert repr(p).startswith("Prediction(") and "\n" not in repr(p)


@FAST
@given(st.text(max_size=12))
def test_unknown_status_is_kept_not_terminal(text):
    status = normalize_status(text)
    assert isinstance(status, (PredictionStatus, str))
    if not isinstance(status, PredictionStatus):
        assert status == text.strip().lower()


@st.composite
def models(draw):
    slug = draw(slugs)
    body = {"name": slug.title(), "namespace": slug, "type": draw(st.sampled_from(["image", "text", "video"])),
            "capabilities": draw(st.lists(st.sampled_from(["text-to-image", "chat", "embeddings"]), max_size=2)),
            "pricing": {"amount": draw(st.floats(0, 5)), "currency": "USD", "unit": "image",
                        **draw(st.sampled_from([{}, {"criterias": []}]))},
            "input_schema": draw(st.sampled_from([None, {}, {"type": "object", "properties": {"prompt": {}}}])),
            "output_schema": draw(st.sampled_from([None, {"type": "array"}])),
            **draw(extras)}
    for key in draw(st.lists(st.sampled_from(["pricing", "input_schema", "capabilities", "type"]), max_size=2)):
        body.pop(key, None)
    return body


@FAST
@given(models())
def test_model_variants(body):
    m = Model.model_validate(body)
    assert m.slug == body["namespace"]
    assert m.type == body.get("type")
    assert m.input_schema == body.get("input_schema")
    if "pricing" in body:
        assert m.pricing.amount == body["pricing"]["amount"]
    assert m.raw == body
    assert repr(m).startswith("Model(")


def test_model_as_bare_string():
    assert Model.model_validate("truefusion").slug == "truefusion"


@settings(max_examples=25, deadline=None, database=None)
@given(st.lists(predictions(), max_size=4), st.integers(1, 5), st.integers(1, 50), st.booleans())
def test_list_variants(cases, page, per_page, bare):
    items = [c[0] for c in cases]
    if bare:
        body = items
    else:
        total = (page - 1) * per_page + len(items)
        body = {"data": items, "pagination": {"current_page": page, "per_page": per_page, "total": total,
                                              "last_page": -(-total // per_page)}}
    result = PredictionPage.from_wire(body, page=page, per_page=per_page)
    assert [p.id for p in result] == [b["id"] for b in items]
    assert result.current_page == page
    if not bare:
        assert result.total == (page - 1) * per_page + len(items)
        assert result.has_next == (page < result.last_page)
    else:
        assert result.has_next == (len(items) >= per_page)


def test_laravel_style_list():
    body = {"data": [], "current_page": 2, "per_page": 10, "total": 30, "last_page": 3}
    page = PredictionPage.from_wire(body, page=2, per_page=10)
    assert page.has_next and page.total == 30


# --------------------------------------------------------------------------- error bodies

CLASS_FOR_ID = {"UNAUTHORIZED": AuthenticationError, "FORBIDDEN": PermissionDeniedError,
                "MODEL_NOT_FOUND": NotFoundError, "VALIDATION_ERROR": InvalidInputError,
                "INSUFFICIENT_CREDITS": PaymentRequiredError, "RATE_LIMIT_EXCEEDED": RateLimitError,
                "INTERNAL_ERROR": ServerError}
CLASS_FOR_STATUS = {401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
                    400: InvalidInputError, 422: InvalidInputError, 402: PaymentRequiredError,
                    429: RateLimitError, 500: ServerError, 503: ServerError}

messages = st.text(min_size=1, max_size=30).filter(lambda s: s.strip())
details = st.one_of(st.none(), st.text(max_size=10), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@st.composite
def error_bodies(draw):
    known = draw(st.booleans())
    error_id = draw(st.sampled_from(sorted(CLASS_FOR_ID))) if known else draw(
        st.text("ABCDEFG", min_size=1, max_size=6).map("NEW_{}".format))
    status = draw(st.sampled_from(sorted(CLASS_FOR_STATUS)))
    message, detail = draw(messages), draw(details)
    shape = draw(st.sampled_from(["envelope", "openapi", "flat", "openai"]))
    if shape == "envelope":
        body = {"status": False, "response": "short", "error": {"http_status": status, "message": message,
                                                                "details": detail, "error_id": error_id}}
    elif shape == "openapi":
        body = {"error": {"http_status": status, "message": message, "details": detail, "error_id": error_id}}
    elif shape == "flat":
        body = {"error_id": error_id, "message": message, "details": detail}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error", "code": error_id.lower(),
                          "error_id": error_id, "status": status, "param": None, "request_id": "req_1",
                          "details": detail}}
    return body, status, error_id, message, known


@FAST
@given(error_bodies())
def test_error_body_shapes(case):
    body, status, error_id, message, known = case
    err = error_from_response(status, body, request_id="hdr-id")
    assert isinstance(err, SkytellsError)
    assert err.error_id == error_id and err.http_status == status and err.message == message
    if known:
        assert isinstance(err, CLASS_FOR_ID[error_id])
    elif "type" not in (body.get("error") or {}):
        assert isinstance(err, CLASS_FOR_STATUS[status])  # unknown error_ids map by HTTP status
    assert err.request_id in ("req_1", "hdr-id")
    assert error_id in str(err) and message in str(err)


def test_non_json_and_empty_error_bodies():
    err = error_from_response(502, "<html>Bad gateway</html>")
    assert isinstance(err, ServerError) and err.error_id == "HTTP_ERROR" and "Bad gateway" in err.message
    err = error_from_response(401, {"response": "Invalid API key"})
    assert isinstance(err, AuthenticationError) and err.message == "Invalid API key"
    err = error_from_response(422, {"detail": [{"loc": ["body", "model"], "msg": "field required"}]})
    assert isinstance(err, InvalidInputError) and err.details[0]["msg"] == "field required"
