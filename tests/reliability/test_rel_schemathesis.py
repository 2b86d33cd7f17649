"""Schemathesis against the local server's /openapi.json: no 5xx, every error in the documented envelope.

Bounded: a fixed number of generated examples per operation, no shrinking past a few seconds. The one 5xx
the service itself answers on purpose, 502 PREDICTION_FAILED for an unknown prediction id (wire protocol),
is accepted on the prediction routes.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

INFERENCE = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings")
EXAMPLES = 30


def _check(case, response) -> None:
    path = case.operation.path
    status = response.status_code
    quirk = status == 502 and "/predictions/" in case.formatted_path
    assert status < 500 or quirk, f"{case.method} {case.formatted_path} -> {status}: {response.text[:300]}"
    if status < 400:
        return
    body = response.json()
    if path.startswith(INFERENCE):
        error = body["error"]
        assert isinstance(error["message"], str) and error["message"]
        assert error["type"] and error["code"] and error["status"] == status
    else:
        assert body["status"] is False and isinstance(body["response"], str)
        error = body["error"]
        assert error["http_status"] == status and isinstance(error["message"], str) and error["error_id"]
        assert "details" in error
    if quirk:
        assert body["error"]["error_id"] == "PREDICTION_FAILED"


def _operations(local_server):
    origin = local_server.url.removesuffix("/v1")
    schema = schemathesis.openapi.from_url(origin + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _prepare(case) -> None:
    if case.method == "POST" and isinstance(case.body, dict):
        case.body.pop("await", None)  # never hold a request open on a queued model
        if "stream" in case.body:
            case.body["stream"] = False


def _fuzz(operation, origin: str, calls: dict):
    """A hypothesis test of one operation: EXAMPLES generated requests, each checked."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        _prepare(case)
        response = case.call(base_url=origin, timeout=120)
        calls[operation.label] = calls.get(operation.label, 0) + 1
        _check(case, response)

    return check


@pytest.mark.timeout(900)
def test_api_never_answers_5xx_and_errors_are_enveloped(local_server):
    """Every operation of the served OpenAPI document, EXAMPLES generated requests each."""
    origin = local_server.url.removesuffix("/v1")
    operations = _operations(local_server)
    assert len(operations) >= 12, [op.label for op in operations]
    calls: dict[str, int] = {}
    for operation in operations:
        _fuzz(operation, origin, calls)()
    print("\n", calls)
    assert sum(calls.values()) >= len(operations) * 5


# --- poisoned bodies: non-finite numbers and lone surrogates, which schemathesis does not generate ----------

CHAT = "smollm2-135m-instruct"
FAST = {"prompt": "3", "num_inference_steps": 1, "width": 16, "height": 16}
SEEDS = {  # a valid request per body route: the poison lands at every depth of something the server would run
    "/v1/predictions": {"model": "digits-diffusion", "input": FAST},
    "/v1/predict": {"model": "digits-diffusion", "input": {**FAST, "num_outputs": 1}, "stream": False},
    "/v1/chat/completions": {"model": CHAT, "max_tokens": 1, "temperature": 0, "seed": 1, "stop": ["x"],
                             "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": CHAT, "input": [{"role": "user", "content": "hi"}], "instructions": "be brief",
                      "max_output_tokens": 1, "metadata": {"k": "v"}},
    "/v1/embeddings": {"model": "all-minilm-l6-v2", "input": ["a", "b"], "encoding_format": "float",
                       "dimensions": 8},
}
_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
POISON = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=3), _SURROGATE, st.text(max_size=3)),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=8),
)
JSON_VALUES = st.recursive(st.none() | st.booleans() | POISON,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(POISON.filter(
                               lambda k: isinstance(k, str)), inner, max_size=3), max_leaves=6)


def _slots(value, found=None):
    """Every (container, key) of a document: where a value (or, for objects, a key) can be swapped."""
    found = [] if found is None else found
    if isinstance(value, dict):
        for key in list(value):
            found.append((value, key))
            _slots(value[key], found)
    elif isinstance(value, list):
        for i in range(len(value)):
            found.append((value, i))
            _slots(value[i], found)
    return found


def _poison(data, body: dict) -> None:
    container, key = data.draw(st.sampled_from(_slots(body)))
    if isinstance(container, dict) and data.draw(st.booleans()):
        new_key = data.draw(st.builds(lambda s: str(key) + s, _SURROGATE))
        container[new_key] = container.pop(key)
    else:
        container[key] = data.draw(JSON_VALUES)


def _all_listed(origin: str) -> set[str]:
    import httpx

    ids, page = set(), 1
    while True:
        response = httpx.get(f"{origin}/v1/predictions", params={"page": page, "per_page": 50}, timeout=60)
        assert response.status_code == 200, response.text[:300]
        body = response.json()
        assert not [p["id"] for p in body["data"] if "unreadable" in p]
        ids |= {p["id"] for p in body["data"]}
        if page >= body["pagination"]["last_page"]:
            return ids
        page += 1


@pytest.mark.timeout(300)
def test_poisoned_bodies_on_every_route_never_answer_5xx_and_the_store_stays_listable(local_server):
    """NaN, Infinity, 1e999, lone surrogates (values and keys) and digit-limit integers at any depth of a
    valid request, on every body route, plus NUL bytes and huge numbers on the other routes' parameters."""
    import copy
    import json

    import httpx

    origin = local_server.url.removesuffix("/v1")
    seen: dict[int, int] = {}

    @given(data=st.data())
    @settings(max_examples=80, deadline=None, phases=[Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))
    def bodies(data):
        path = data.draw(st.sampled_from(sorted(SEEDS)))
        body = copy.deepcopy(SEEDS[path])
        for _ in range(data.draw(st.integers(0, 2))):
            _poison(data, body)
        raw = json.dumps(body)  # NaN/Infinity as JavaScript-free senders write them, surrogates as \ud800
        if data.draw(st.integers(0, 9)) == 0:
            raw = raw.replace("1", "1" + "0" * 5000, 1)  # past Python's int digit limit
        response = httpx.post(origin + path, content=raw, timeout=120, headers={"content-type": "application/json"})
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{path} {raw[:300]} -> {response.status_code}: {response.text[:300]}"

    @given(target=st.sampled_from(["/v1/predictions?page={}", "/v1/predictions?per_page={}", "/v1/models/{}",
                                   "/v1/predictions/{}", "/v1/files/{}/x.png", "/v1/files/x/{}",
                                   "/v1/predictions?from={}", "/v1/predictions?status={}"]),
           value=st.one_of(st.integers(min_value=-(10**40), max_value=10**40).map(str), st.just("9" * 5000),
                           st.text(st.characters(codec="utf-8"), max_size=300), st.just("\x00" * 3)))
    @settings(max_examples=40, deadline=None, phases=[Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))
    def params(target, value):
        import urllib.parse

        url = origin + target.format(urllib.parse.quote(value, safe=""))
        response = httpx.get(url, timeout=60)
        quirk = response.status_code == 502 and "/predictions/" in target  # the wire protocol's unknown id
        assert response.status_code < 500 or quirk, f"{url[:200]} -> {response.status_code}: {response.text[:300]}"

    bodies()
    params()
    print("\n", seen)
    assert seen.get(400, 0) >= 15 and sum(v for k, v in seen.items() if k < 300) >= 5  # poison and clean both ran
    with local_server.state.store._lock:
        stored = {r[0] for r in local_server.state.store._db.execute("SELECT id FROM predictions")}
    assert stored and stored <= _all_listed(origin)
