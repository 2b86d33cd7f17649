"""Which client serves a model, under what backend name, and which modality its catalog entry says it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MODALITIES = ("embeddings", "chat", "image", "prediction")


@dataclass
class Target:
    """One column of a comparison: a model slug on a client, with its catalog entry."""

    client: Any
    slug: str
    backend: str
    modality: str
    model: Any = None  # the catalog's Model, None when the catalog did not answer
    label: str = ""
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        self.label_given = bool(self.label)
        self.label = self.label or self.slug


def backend_name(client: Any) -> str:
    """ "local" for the embedded server, "service" for api.skytells.ai, else the host (and port)."""
    if getattr(client, "is_local", False):
        return "local"
    parts = urlsplit(str(getattr(client, "base_url", "")))
    host = parts.hostname or "backend"
    if host == "skytells.ai" or host.endswith(".skytells.ai"):
        return "service"
    return f"{host}:{parts.port}" if parts.port else host


def modality_of(model: Any) -> str:
    """The request kind a catalog Model is served by: embeddings, chat, image or (other) prediction."""
    capabilities = {str(c).lower() for c in (getattr(model, "capabilities", None) or [])}
    kind = str(getattr(model, "type", "") or "").lower()
    metadata = getattr(model, "metadata", None) or {}
    if "embeddings" in capabilities or "embedding" in capabilities or kind in ("embedding", "embeddings"):
        return "embeddings"
    if capabilities & {"chat", "responses", "chat-completions"} or metadata.get("openai_compatible"):
        return "chat"
    if kind == "image" or any("image" in c for c in capabilities if c.endswith("to-image")):
        return "image"
    return "prediction"


def _named_client(name: str, clients: dict[str, Any]) -> Any:
    if name in clients:
        return clients[name]
    import skytells_lab as sl

    if name == "local":
        return sl.connect("local")
    if name == "service":
        import os

        if not os.environ.get("SKYTELLS_API_KEY"):
            raise ValueError(
                "'service:<slug>' needs SKYTELLS_API_KEY set, or pass clients={'service': client}"
            )
        return sl.connect()
    raise ValueError(f"no client named {name!r}: pass clients={{{name!r}: client}}")


def _split(spec: str, clients: dict[str, Any]) -> tuple[str | None, str]:
    """'backend:slug' -> (backend, slug) when the prefix names a client; a bare slug -> (None, slug)."""
    prefix, sep, rest = spec.partition(":")
    if sep and rest and (prefix in clients or prefix in ("local", "service")):
        return prefix, rest
    return None, spec


def resolve_targets(
    models, *, client: Any = None, clients: dict[str, Any] | None = None, modality: str | None = None
) -> list[Target]:
    """Turn slugs, "backend:slug" strings, (client, slug) pairs and dicts {model, client, label, params}
    (params for that model alone, e.g. {"dimensions": 128}) into Targets with unique labels.

    The modality comes from each backend's catalog (`models.get`), or from `modality=` for all.
    """
    clients = dict(clients or {})
    if isinstance(models, (str, tuple)):
        models = [models]
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, not {modality!r}")
    targets: list[Target] = []
    names: dict[int, str] = {id(c): n for n, c in clients.items()}
    for spec in models:
        extra: dict = {}
        if isinstance(spec, dict):
            extra = {"label": spec.get("label", ""), "params": dict(spec.get("params") or {})}
            unknown = set(spec) - {"model", "client", "label", "params"}
            if "model" not in spec or unknown:
                raise ValueError(
                    f"a model given as a dict has keys model, client, label, params; got {sorted(spec)}"
                )
            spec = (spec["client"], spec["model"]) if spec.get("client") is not None else spec["model"]
        if isinstance(spec, tuple):
            if len(spec) != 2:
                raise ValueError(f"a model given as a tuple is (client, slug), got {spec!r}")
            target_client, slug = spec
            name = names.get(id(target_client))
        elif isinstance(spec, str):
            name, slug = _split(spec, clients)
            if name is not None:
                target_client = _named_client(name, clients)
                clients.setdefault(name, target_client)
            else:
                target_client = client if client is not None else _default_client()
                client = target_client
        else:
            raise TypeError(f"a model is a slug, 'backend:slug' or (client, slug), not {spec!r}")
        if hasattr(target_client, "__aenter__") and not hasattr(target_client, "__enter__"):
            raise TypeError(
                "compare() and parity() drive sync clients; pass a Skytells, not an AsyncSkytells"
            )
        if name is None:
            name = _unique_backend(backend_name(target_client), target_client, names)
        names.setdefault(id(target_client), name)
        catalog = _catalog_entry(target_client, slug)
        kind = modality or (modality_of(catalog) if catalog is not None else None)
        if kind is None:
            raise ValueError(f"the catalog of {name} does not list {slug!r}; pass modality= explicitly")
        targets.append(Target(target_client, slug, name, kind, catalog, **extra))
    _label(targets)
    return targets


def _default_client() -> Any:
    import skytells_lab as sl

    return sl.connect()


def _unique_backend(base: str, client: Any, names: dict[int, str]) -> str:
    """Two different clients to the same kind of backend (two local servers) get "local", "local-2"."""
    taken = {n for cid, n in names.items() if cid != id(client)}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _catalog_entry(client: Any, slug: str) -> Any:
    from skytells_lab.api.errors import NotFoundError

    try:
        return client.models.get(slug, fields=["input_schema"])
    except NotFoundError:
        return None


def _label(targets: list[Target]) -> None:
    """A slug alone labels its column unless it would be ambiguous; then "backend:slug". Given labels stay."""
    given = {t.label for t in targets if t.label_given}
    counts: dict[str, int] = {}
    for t in targets:
        if not t.label_given:
            counts[t.slug] = counts.get(t.slug, 0) + 1
    seen: set[str] = set()
    for t in targets:
        if not t.label_given:
            t.label = t.slug if counts[t.slug] == 1 and t.slug not in given else f"{t.backend}:{t.slug}"
        if t.label in seen:
            raise ValueError(
                f"{t.label!r} appears twice in models; give one a label: {{'model': ..., 'label': ...}}"
            )
        seen.add(t.label)
