"""GPU mode fails at start, with the fix, on a torch that cannot use a GPU (not a 500 on every call)."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a usable GPU")

FIX = "install a cuda build of torch"


def test_start_server_and_connect_refuse_cuda(tmp_path):
    import skytells_lab as sl
    from skytells_lab.local import start_server
    from skytells_lab.local.devices import DeviceUnavailable

    if torch.version.cuda is None:
        with pytest.raises(DeviceUnavailable) as refused:
            start_server(data_dir=tmp_path, device="cuda")
        assert FIX in str(refused.value).lower() and "device='cpu'" in str(refused.value)
    with pytest.raises(DeviceUnavailable):
        sl.connect("local", device="cuda", data_dir=tmp_path)
    assert not list((tmp_path).glob("*.db"))  # refused before anything was set up


def test_serve_refuses_cuda_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "skytells_lab.cli", "serve", "--device", "cuda", "--port", "0",
         "--data-dir", str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith("skytells-lab serve: device='cuda'") and "Traceback" not in proc.stderr
    if torch.version.cuda is None:
        assert FIX in proc.stderr.lower()


def test_a_cuda_build_without_a_gpu_is_named(monkeypatch):
    from skytells_lab.local.devices import DeviceUnavailable, check_device

    monkeypatch.setattr(torch.version, "cuda", "12.6")  # a CUDA build on a machine without a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailable, match="sees no GPU.*nvidia-smi"):
        check_device("cuda")
    assert check_device("cpu") == "cpu"
