"""Moved to :mod:`skytells_lab._pricing` (floor 1). Kept only while ``notebook/ledger.py`` still imports it
from here; the integrator deletes this file when the ``seams`` branch (which owns the ledger) lands."""

from skytells_lab._pricing import PER_MILLION_TOKENS, PER_TOKEN, credits_for, pricing_unit

__all__ = ["PER_MILLION_TOKENS", "PER_TOKEN", "credits_for", "pricing_unit"]
