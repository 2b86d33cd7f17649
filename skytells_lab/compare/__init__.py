"""Side-by-side model comparison and local-vs-remote parity.

```python
import skytells_lab as sl
cmp = sl.compare(["all-minilm-l6-v2", "smollm2-135m-instruct", "digits-diffusion"], ["3", "a seven"])
cmp.frame(); cmp.summary()                       # tidy rows; per-model latency, cost, failures
report = sl.parity(reference=remote, candidate=local, model="truefusion", inputs=["a 3"])
report.verdict; report.frame()                   # "pass" | "fail"; items worst first
```
Importing this package is light: pandas, scipy and the analysis stack load on first use.
"""

from __future__ import annotations

import sys
import types

from skytells_lab.compare.comparison import Comparison, compare
from skytells_lab.compare.parity import ParityReport, parity
from skytells_lab.compare.tolerance import COSINE_TIERS, Tolerance

__all__ = ["COSINE_TIERS", "Comparison", "ParityReport", "Tolerance", "compare", "parity"]


class _CallablePackage(types.ModuleType):
    """Importing `skytells_lab.compare` binds this package as `skytells_lab.compare`, the name users call
    (`sl.compare(models, inputs)`); calling the package therefore calls compare()."""

    def __call__(self, *args, **kwargs) -> Comparison:
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
