"""With every logger at DEBUG, an API key never shows in a log record, a repr, a str or an error.

A server started with a key, a client holding it, and a second (wrong) key: normal calls, failing calls,
retries through the fault proxy, a stream, a webhook-bearing prediction. The executed tutorials' outputs are
scanned by tests/test_notebooks.py (test_notebook_outputs_hold_no_key); the hidden prompt of connect() by
tests/api/test_connect.py.
"""

from __future__ import annotations

import logging
import traceback

import pytest
from support.faults import Fault, FaultServer
from support.reliability import FAST_DIGITS, FAST_RETRY

from skytells_lab.api import Skytells
from skytells_lab.api import errors as E

KEY = "sk-lab-SECRETKEY-7f3a9c1e5b2d4f60"
WRONG = "sk-lab-WRONGKEY-0b1c2d3e4f5a6b7c"
LOGGERS = ("", "skytells_lab", "httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi",
           "asyncio", "urllib3")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        self.texts.append("\n".join(parts))


@pytest.fixture
def debug_logs():
    handler = _Collect()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield handler
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _leaks(text: str) -> list[str]:
    return [k for k in (KEY, WRONG, KEY[7:], WRONG[7:]) if k in text]


def _error_texts(err: BaseException) -> str:
    out = [str(err), repr(err), repr(getattr(err, "details", None)), repr(err.__dict__)]
    out.append("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    return "\n".join(out)


@pytest.mark.timeout(300)
def test_no_key_in_logs_reprs_strs_or_errors(tmp_path, local_server, debug_logs):
    from skytells_lab.local import start_server

    runners = list(local_server.state.catalog._runners.values())
    seen: list[str] = []
    errors: list[BaseException] = []
    with start_server(data_dir=tmp_path, device="cpu", api_key=KEY, runners=runners, log_level="debug") as srv:
        seen += [repr(srv), str(srv), repr(srv.state.config), repr(srv.state)]
        with Skytells(KEY, srv.url, max_retries=2, timeout=600, **FAST_RETRY) as client, \
                FaultServer(upstream=srv.url) as proxy, Skytells(KEY, proxy.url, max_retries=3, **FAST_RETRY) as flaky:
            seen += [repr(client), str(client), repr(client.__dict__), repr(flaky)]
            client.models.list()
            client.embeddings.create(model="all-minilm-l6-v2", input=["a secret-free text"])
            stream = client.chat.completions.create(model=client.default_chat_model, stream=True, max_tokens=4,
                                                    messages=[{"role": "user", "content": "hi"}])
            seen.append(repr(stream))
            stream.final()
            p = client.predictions.create("digits-diffusion", {"prompt": "8", **FAST_DIGITS},
                                          webhook="http://127.0.0.1:9/hook")
            seen += [repr(p), str(p), repr(p.raw)]
            proxy.script("GET", "/v1/models", Fault.status(500), Fault.rate_limited("0"), Fault.reset())
            flaky.models.list()
            proxy.script("POST", "/v1/predictions", Fault.status(503))
            for call in (
                lambda: Skytells(WRONG, srv.url, max_retries=0).models.list(),
                lambda: Skytells(None, srv.url, max_retries=0).models.list(),
                lambda: client.models.get("no-such-model"),
                lambda: client.predictions.get("no-such-prediction"),
                lambda: client.embeddings.create(model="all-minilm-l6-v2", input=[]),
                lambda: client.chat.completions.create(model="nope", messages=[]),
                lambda: flaky.predictions.create("digits-diffusion", {"prompt": "1"}),
                lambda: client.predictions.create("digits-diffusion", {"prompt": 5}),
            ):
                with pytest.raises(E.SkytellsError) as info:
                    call()
                errors.append(info.value)
    assert len(errors) == 8 and isinstance(errors[0], E.AuthenticationError)
    assert debug_logs.texts, "nothing was logged at DEBUG: the test would prove nothing"
    for text in seen + [_error_texts(e) for e in errors]:
        assert not _leaks(text), text[:500]
    leaking = [t for t in debug_logs.texts if _leaks(t)]
    assert not leaking, leaking[0][:800]
