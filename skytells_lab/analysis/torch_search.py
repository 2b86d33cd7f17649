"""Exact top-k on a torch device (device="cuda" on a GPU; "cpu" runs the same code on the CPU).

The unit matrix is moved to the device once and kept there (`DeviceMatrix`); each block of scores is
reduced on the device by `torch.topk`, and only k candidates per query and block come back to be merged
by RunningTopK, in the same order as the numpy path (descending score, then ascending row).
"""

from __future__ import annotations

import numpy as np

from skytells_lab.analysis.search import RunningTopK

# Score elements per block on the device (256 MiB of float32).
DEVICE_BLOCK_SCORES = 64 * 2**20


class DeviceMatrix:
    """A unit matrix held as a torch tensor on `device` (on the CPU it shares the numpy memory)."""

    def __init__(self, unit: np.ndarray, device: str):
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - torch is in the local extra
            raise ImportError("device= needs torch: pip install 'skytells-lab[local]'") from exc
        self.torch, self.device, self.n = torch, torch.device(device), len(unit)
        source = unit if unit.flags.writeable else np.array(unit)
        self.matrix = torch.from_numpy(np.ascontiguousarray(source, dtype=np.float32)).to(self.device)

    def topk(self, queries: np.ndarray, k: int, *, exclude: np.ndarray | None = None):
        """(scores, indices), both (nq, k), best first, like numpy_topk."""
        torch = self.torch
        nq = len(queries)
        q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(self.device)
        rows = max(k, DEVICE_BLOCK_SCORES // max(1, nq))
        top = RunningTopK(nq, k, self.n)
        owner = np.repeat(np.arange(nq), k)
        with torch.no_grad():
            for start in range(0, self.n, rows):
                stop = min(start + rows, self.n)
                scores = q @ self.matrix[start:stop].T
                if exclude is not None:
                    hit = np.nonzero((exclude >= start) & (exclude < stop))[0]
                    if len(hit):
                        scores[torch.from_numpy(hit).to(self.device),
                               torch.from_numpy(exclude[hit] - start).to(self.device)] = -torch.inf
                best, where = torch.topk(scores, min(k, stop - start), dim=1)
                width = best.shape[1]
                top.add(owner if width == k else np.repeat(np.arange(nq), width),
                        where.cpu().numpy().ravel() + start, best.cpu().numpy().ravel())
        return top.result()
