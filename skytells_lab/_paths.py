"""Where skytells-lab keeps things on disk.

Floor 1 (the standard library only): the per-user directories follow the platforms' conventions, as
platformdirs lays them out for an application without an author: XDG on Linux and the BSDs,
``~/Library`` on macOS, ``%LOCALAPPDATA%`` on Windows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "skytells-lab"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "").strip()
    return Path(value).expanduser() if value else Path.home() / fallback


def _local_appdata() -> Path:
    value = os.environ.get("LOCALAPPDATA", "").strip()
    return Path(value) if value else Path.home() / "AppData" / "Local"


def user_data_dir() -> Path:
    """The per-user data directory of skytells-lab."""
    if sys.platform == "win32":
        return _local_appdata() / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def user_cache_dir() -> Path:
    """The per-user cache directory of skytells-lab."""
    if sys.platform == "win32":
        return _local_appdata() / APP / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP
    return _xdg("XDG_CACHE_HOME", ".cache") / APP


def data_home() -> Path:
    """Predictions, outputs, the result cache and the ledger: ``SKYTELLS_LAB_HOME``, else the user data dir."""
    if os.environ.get("SKYTELLS_LAB_HOME"):
        return Path(os.environ["SKYTELLS_LAB_HOME"]).expanduser()
    return user_data_dir()


def model_cache_home() -> Path:
    """Weights derived once from the bundled models: ``SKYTELLS_LAB_MODELS``, else the user cache dir.

    Kept apart from the data home on purpose: a fresh data dir, as every test session and every new project
    has, must not redo a one-time conversion of the weights.
    """
    if os.environ.get("SKYTELLS_LAB_MODELS"):
        return Path(os.environ["SKYTELLS_LAB_MODELS"]).expanduser()
    return user_cache_dir()
