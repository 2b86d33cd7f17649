"""While a runner loads, the model libraries' own progress bars are off; after, they are as the user left them."""

from __future__ import annotations

import transformers.utils.logging as transformers_logging
from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

from skytells_lab.local.runners.base import library_progress_bars_off


def test_bars_are_off_during_a_load_and_restored_after():
    transformers_logging.enable_progress_bar()
    enable_progress_bars()
    try:
        with library_progress_bars_off():
            assert not transformers_logging.is_progress_bar_enabled() and are_progress_bars_disabled()
        assert transformers_logging.is_progress_bar_enabled() and not are_progress_bars_disabled()

        # a user who turned them off keeps them off
        transformers_logging.disable_progress_bar()
        disable_progress_bars()
        with library_progress_bars_off():
            pass
        assert not transformers_logging.is_progress_bar_enabled() and are_progress_bars_disabled()
    finally:
        transformers_logging.enable_progress_bar()
        enable_progress_bars()
