"""Refuse a GPU device at start when this torch cannot use one, with the fix, instead of a 500 on every call."""

from __future__ import annotations

__all__ = ["DeviceUnavailable", "check_device"]

CUDA_INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cu126"


class DeviceUnavailable(RuntimeError):
    """The requested device does not exist for this torch (a CPU-only build, no GPU, a bad index)."""


def check_device(device: str) -> str:
    """Return `device` when torch can run on it; raise DeviceUnavailable naming the fix when not.

    Only "cuda" / "cuda:N" are checked (CPU always works); torch is imported only then.
    """
    name = str(device)
    if not name.startswith("cuda"):
        return name
    import torch

    if torch.version.cuda is None:
        raise DeviceUnavailable(
            f"device={name!r}, but this torch ({torch.__version__}) is a CPU-only build. Install a CUDA build "
            f"of torch, e.g. `{CUDA_INSTALL}` (pick the CUDA version your driver supports on pytorch.org), "
            "or start with device='cpu'."
        )
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceUnavailable(
            f"device={name!r}: torch {torch.__version__} is built for CUDA {torch.version.cuda} but sees no GPU. "
            "Check the NVIDIA driver (`nvidia-smi`) and CUDA_VISIBLE_DEVICES, or start with device='cpu'."
        )
    index = name.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= count):
        raise DeviceUnavailable(f"device={name!r}: this machine has {count} GPU(s): cuda:0..cuda:{count - 1}.")
    return name
