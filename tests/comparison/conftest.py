"""A second local server for parity: the same built-in models, plus differences injected behind aliases.

- `skytells-embed-3-small` -> a copy of all-MiniLM-L6-v2 whose token embedding for "cat" is scrambled, so
  exactly the texts with "cat" in them embed differently;
- `truefusion` -> a tiny random-weight Stable Diffusion pipeline instead of digits-diffusion;
- `[server] max_tokens = 4`: its chat answers stop after 4 tokens.
"""

from __future__ import annotations

import pytest

PERTURBED_WORD = "cat"
CHAT_CAP = 4


def _perturbed_minilm(path):
    """all-MiniLM-L6-v2 saved to `path` with one token's input embedding replaced by random values."""
    import torch
    from sentence_transformers import SentenceTransformer

    from skytells_lab.local.runners.embeddings import default_model_path

    model = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
    token = model.tokenizer.convert_tokens_to_ids(PERTURBED_WORD)
    weights = model[0].auto_model.get_input_embeddings().weight
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        scrambled = torch.randn(weights.shape[1], generator=generator)
        weights[token] = scrambled / scrambled.norm() * weights[token].norm()  # same length, random direction
    model.save(str(path))
    return path


@pytest.fixture(scope="session")
def injected():
    """What the candidate server changes, for the tests to check against."""
    return {"perturbed_word": PERTURBED_WORD, "chat_cap": CHAT_CAP}


@pytest.fixture(scope="session")
def candidate_server(tmp_path_factory, local_server):
    from skytells_lab.local import start_server
    from skytells_lab.local.runners import save_tiny_stable_diffusion

    root = tmp_path_factory.mktemp("candidate")
    config = {
        "server": {"max_tokens": CHAT_CAP},
        "models": {
            "minilm-perturbed": {
                "runner": "embeddings",
                "path": str(_perturbed_minilm(root / "minilm-perturbed")),
            },
            "tiny-sd": {
                "runner": "diffusers",
                "path": str(save_tiny_stable_diffusion(root / "tiny-sd")),
                "type": "image",
            },
        },
        "aliases": {"skytells-embed-3-small": "minilm-perturbed", "truefusion": "tiny-sd"},
    }
    # the built-in models are the session server's own runners: their weights load once per session
    runners = list(local_server.state.catalog._runners.values())
    server = start_server(data_dir=root / "data", device="cpu", config=config, runners=runners)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def candidate(candidate_server):
    from skytells_lab import Skytells

    with Skytells(base_url=candidate_server.url) as client:
        yield client
