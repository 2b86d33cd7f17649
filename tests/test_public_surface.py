"""The exported members of skytells_lab and skytells_lab.api, pinned: a change here is a change of the surface
(DESIGN.md, "The public surface"), made on purpose with its callers."""

from __future__ import annotations

import skytells_lab
import skytells_lab.api

ROOT = {
    "AsyncSkytells", "EmbeddingSpace", "PredictionFailed", "Skytells", "SkytellsError", "WebhookInbox", "__version__",
    "compare", "compare_spaces", "connect", "errors", "parity", "parse_webhook", "show_images", "verify_webhook",
}
ROOT_SUBMODULES = {"analysis", "api", "cli", "comparison", "local", "notebook", "widgets"}

API = {
    "DEFAULT_BASE_URL", "SIGNATURE_HEADER", "APITimeoutError", "AsyncChatStream", "AsyncPredictionStream",
    "AsyncResponseStream", "AsyncSkytells", "AuthenticationError", "BackendStatus", "Budget", "BudgetExceeded",
    "Cache", "Call", "CallRecord", "Chat", "ChatCompletion", "ChatCompletionChunk", "ChatCompletions", "ChatStream",
    "ConfigurationError", "Embedding", "EmbeddingResponse", "Embeddings", "Files", "InvalidInputError", "InvalidJSONError",
    "Ledger", "Model", "ModelPage", "Models", "NetworkError", "NotFoundError", "PaymentRequiredError",
    "PermissionDeniedError", "Prediction", "PredictionEvent", "PredictionFailed", "PredictionPage",
    "PredictionStatus", "PredictionStream", "Predictions", "RateLimitError", "RedirectError", "Response",
    "ResponseEvent", "ResponseStream", "Responses", "ResultStore", "RetryPolicy", "Safety", "SafetyCategory",
    "SafetyCheckResult", "SafetyEvaluation", "SafetyFilterSummary", "SafetyResults", "SafetySeverity",
    "SafetyTemplate", "SafetyTemplates", "ServerError", "Skytells", "SkytellsError", "StreamInterrupted", "Usage",
    "WaitTimeout", "WebhookEvent", "accumulate_chunks", "errors", "normalize_status", "parse_retry_after",
    "parse_webhook", "sign_webhook", "verify_webhook",
}


def test_the_root_exports_what_design_lists():
    assert set(skytells_lab.__all__) == ROOT
    assert dir(skytells_lab) == sorted(ROOT | ROOT_SUBMODULES)  # no sys, importlib, _EXPORTS
    for name in ROOT | ROOT_SUBMODULES:
        assert getattr(skytells_lab, name) is not None


def test_the_client_package_exports_are_pinned():
    assert set(skytells_lab.api.__all__) == API
    for name in API:
        assert getattr(skytells_lab.api, name) is not None


def test_the_client_reads_its_key_and_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("SKYTELLS_API_KEY", "sk-env-0123456789")
    monkeypatch.setenv("SKYTELLS_BASE_URL", "https://proxy.example.com/v1")
    client = skytells_lab.Skytells()
    assert client._api_key.get() == "sk-env-0123456789" and client.base_url == "https://proxy.example.com/v1"
    assert "sk-env" not in repr(client)
    assert skytells_lab.Skytells("").__repr__().count("api_key=none") == 1  # "" is no key, whatever the env says


def test_the_notebook_layer_imports_no_pandas_and_pandas_users_get_the_accessor():
    import subprocess
    import sys

    light = ("import sys, skytells_lab.notebook, skytells_lab.notebook.cache, skytells_lab.notebook.ledger, "
             "skytells_lab.notebook.session; print('pandas' in sys.modules)")
    with_pandas = "import pandas as pd, skytells_lab; print(hasattr(pd.DataFrame, 'skytells'))"
    explicit = ("import skytells_lab.notebook as nb, pandas as pd; print(hasattr(pd.DataFrame, 'skytells')); "
                "nb.register_accessor(); print(hasattr(pd.DataFrame, 'skytells'))")
    outputs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
               for code in (light, with_pandas, explicit)]
    assert outputs == [["False"], ["True"], ["False", "True"]]
