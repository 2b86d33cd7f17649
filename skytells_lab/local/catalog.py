"""The model catalog: runners by slug, their service Model objects, aliases and nominal pricing."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from skytells_lab._pricing import credits_for as _credits_for
from skytells_lab.local.config import CATALOG_OVERRIDES, ServerConfig
from skytells_lab.local.errors import ApiError
from skytells_lab.local.fingerprint import weights_fingerprint

SCHEMA_FIELDS = ("input_schema", "output_schema")


@dataclass(frozen=True)
class Resolved:
    """A requested slug, the local model that serves it, and whether an alias led there."""

    requested: str
    slug: str
    runner: object
    entry: dict
    via_alias: bool


class Catalog:
    """Model objects come from the runners on each call (device and cold_boot change), plus config overrides."""

    def __init__(self, runners: list, config: ServerConfig):
        self._runners = {runner.slug: runner for runner in runners}
        self._overrides = {slug: {k: v for k, v in spec.items() if k in CATALOG_OVERRIDES}
                           for slug, spec in config.models.items()}
        for alias, target in config.aliases.items():
            if target not in self._runners:
                raise ValueError(f"[aliases] {alias} = {target!r}: no local model {target!r}; "
                                 f"known: {sorted(self._runners)}")
        self.aliases = dict(config.aliases)

    @property
    def slugs(self) -> list[str]:
        return list(self._runners)

    @property
    def runners(self) -> dict:
        """The runners by local slug (a copy)."""
        return dict(self._runners)

    def local_slug(self, slug) -> str | None:
        """The local model a slug or alias names, or None: a label that cannot grow with what clients send."""
        local = self.aliases.get(slug, slug) if isinstance(slug, str) else None
        return local if local in self._runners else None

    def entry(self, slug: str) -> dict:
        runner = self._runners[slug]
        entry = copy.deepcopy(runner.catalog_entry())
        entry.update(copy.deepcopy(self._overrides.get(slug, {})))
        entry["namespace"] = slug
        entry.setdefault("metadata", {})["fingerprint"] = weights_fingerprint(runner)  # keys clients' caches
        aliases = [a for a, target in self.aliases.items() if target == slug]
        if aliases:
            entry.setdefault("metadata", {})["aliases"] = aliases
        return entry

    def resolve(self, slug: str) -> Resolved:
        local = self.aliases.get(slug, slug) if isinstance(slug, str) else None
        if local not in self._runners:
            raise ApiError(404, "MODEL_NOT_FOUND", f"Model '{slug}' was not found",
                           {"model": slug, "available": sorted([*self._runners, *self.aliases])},
                           param="model")
        return Resolved(slug, local, self._runners[local], self.entry(local), local != slug)

    def model_object(self, slug: str, fields: set[str] = frozenset()) -> dict:
        entry = self.resolve(slug).entry
        for name in SCHEMA_FIELDS:
            if name not in fields:
                entry.pop(name, None)
        return entry

    def list(self, fields: set[str] = frozenset(), type: str | None = None) -> list[dict]:
        objects = [self.model_object(slug, fields) for slug in self._runners]
        return [o for o in objects if type in (None, o.get("type"))]


def parse_fields(raw: list[str]) -> set[str]:
    """`fields=input_schema,output_schema` (comma-separated and/or repeated)."""
    return {f.strip() for item in raw for f in item.split(",") if f.strip()}


def credits_for(pricing: dict | None, *, assets: int = 0, predict_time: float = 0.0, tokens: int = 0) -> float:
    """Nominal credits (USD) a call costs under the model's `pricing {amount, unit}`; 0 for unpriced models."""
    return _credits_for(pricing, assets=assets, predict_time=predict_time, tokens=tokens) or 0.0
