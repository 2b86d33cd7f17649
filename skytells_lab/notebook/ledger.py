"""The cost ledger and the spending budget, as the notebook layer names them.

Both are client features (``skytells_lab.api._ledger``): the ledger is an after-call observer every client
has (``client.ledger``), the budget a before-call hook (``client.budget(credits=...)``).
"""

from __future__ import annotations

from skytells_lab.api._ledger import MAX_CALLS, Budget, Ledger, LedgerEntry, estimate_credits

__all__ = ["MAX_CALLS", "Budget", "Ledger", "LedgerEntry", "estimate_credits"]
