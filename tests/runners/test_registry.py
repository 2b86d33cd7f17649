import subprocess
import sys

import pytest

from skytells_lab.local.runners import (
    DigitsDiffusionRunner,
    SentenceTransformerRunner,
    TransformersChatRunner,
    build_runner,
    default_runners,
)


def test_import_is_light():
    code = ("import sys, skytells_lab.local.runners; "
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'sentence_transformers', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_default_runners_and_catalog():
    runners = default_runners("cpu")
    assert [r.slug for r in runners] == ["all-minilm-l6-v2", "smollm2-135m-instruct", "digits-diffusion"]
    for r in runners:
        entry = r.catalog_entry()
        for key in ("name", "description", "namespace", "type", "privacy", "vendor", "billable", "pricing",
                    "capabilities", "metadata", "status", "input_schema", "output_schema"):
            assert key in entry, (r.slug, key)
        assert entry["metadata"]["local"] is True and entry["metadata"]["device"] == "cpu"
        assert entry["status"] == "operational"
    chat = runners[1].catalog_entry()
    assert chat["capabilities"] == ["chat", "responses"] and chat["metadata"]["openai_compatible"] is True
    assert runners[0].capabilities == ["embeddings"] and not runners[1].loaded


def test_build_runner():
    assert isinstance(build_runner({"runner": "digits"}, "cpu"), DigitsDiffusionRunner)
    emb = build_runner({"runner": "embeddings", "path": "/models/e5", "slug": "e5", "dtype": "bf16"}, "cpu")
    assert isinstance(emb, SentenceTransformerRunner) and emb.slug == "e5" and emb.dtype == "bfloat16"
    chat = build_runner({"runner": "chat", "path": "HuggingFaceTB/SmolLM2-360M-Instruct", "type": "text",
                         "capabilities": ["chat"], "device": "cuda"}, "cpu")
    assert isinstance(chat, TransformersChatRunner) and chat.capabilities == ["chat"] and chat.device == "cuda"
    assert chat.slug == "smollm2-360m-instruct"
    with pytest.raises(ValueError, match="runner"):
        build_runner({"runner": "nope"}, "cpu")
    with pytest.raises(ValueError, match="steps"):
        build_runner({"runner": "diffusers", "path": "x", "steps": 3}, "cpu")
    with pytest.raises(ValueError, match="dtype"):
        build_runner({"runner": "digits", "dtype": "int3"}, "cpu")
