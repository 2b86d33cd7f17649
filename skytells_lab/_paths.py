"""Where skytells-lab keeps things on disk."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """Predictions, outputs, the result cache and the ledger: ``SKYTELLS_LAB_HOME``, else the user data dir."""
    if os.environ.get("SKYTELLS_LAB_HOME"):
        return Path(os.environ["SKYTELLS_LAB_HOME"]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("skytells-lab", appauthor=False))


def model_cache_home() -> Path:
    """Weights derived once from the bundled models: ``SKYTELLS_LAB_MODELS``, else the user cache dir.

    Kept apart from the data home on purpose: a fresh data dir, as every test session and every new project
    has, must not redo a one-time conversion of the weights.
    """
    if os.environ.get("SKYTELLS_LAB_MODELS"):
        return Path(os.environ["SKYTELLS_LAB_MODELS"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("skytells-lab", appauthor=False))
