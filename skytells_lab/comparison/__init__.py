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

from skytells_lab.comparison.parity import ParityReport, parity
from skytells_lab.comparison.side_by_side import Comparison, Diff, compare
from skytells_lab.comparison.tolerance import AGREE_TOKENS, COSINE_TIERS, Tolerance

__all__ = ["AGREE_TOKENS", "COSINE_TIERS", "Comparison", "Diff", "ParityReport", "Tolerance", "compare", "parity"]
