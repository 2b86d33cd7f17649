"""The GPU parity script's CPU half: CI has no GPU, so it runs the whole script CPU against CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_parity.py"


def test_gpu_parity_script_dry_run_on_the_cpu_passes_every_modality():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--texts", "8", "--prompts", "1", "--max-tokens", "4",
         "--images", "1", "--steps", "2"],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for model in ("all-minilm-l6-v2", "smollm2-135m-instruct", "digits-diffusion"):
        assert model in proc.stdout
    assert "speed-up" in proc.stdout and "all modalities pass" in proc.stdout


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_has_gpu(), reason="a GPU is present: the script runs instead of skipping")
def test_gpu_parity_script_says_why_it_skips_without_a_gpu():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--require-gpu"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2 and "no CUDA GPU" in proc.stderr
