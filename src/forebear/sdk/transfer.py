"""Transfer learning: models that came from elsewhere, as ordinary upstream nodes.

A base model pulled from a hub (``hf://meta-llama/Llama-3-8B``), another team's forebear
store or a vendor's bucket is named by its content digest like anything else, so its
downstream is found wherever it was used; where it came from (the URI, the revision or
commit on the hub, the store it was recorded in) is kept in the artifact's ``meta.origin``
and its URI in ``artifact_uri``. The edge that uses it carries a derivation role from
``forebear.model.roles`` (``fine_tune``, ``distill``, ``merge``, ...).

``run.use_external(uri, digest=..., revision=..., role="fine_tune")`` records one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forebear.errors import InvalidInputError
from forebear.hashing import is_digest_text
from forebear.model.entries import MAX_NAME, artifact_ref
from forebear.model.roles import DERIVATION_ROLES

__all__ = ["external_ref"]


def _source(uri: str) -> str:
    scheme, sep, _ = uri.partition("://")
    if not sep:
        return "unknown"
    return {"hf": "huggingface", "huggingface": "huggingface"}.get(scheme, scheme)


def external_ref(
    uri: str,
    *,
    digest: str,
    revision: str | None = None,
    role: str = "fine_tune",
    kind: str = "model",
    name: str | None = None,
    store: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The artifact ref of an external model: digest-identified, its origin in ``meta``.

    ``uri`` says where it came from, ``revision`` which version there (a hub commit or
    tag), ``store`` the forebear store URL it was recorded in, if any; ``role`` must be
    one of ``forebear.model.roles.DERIVATION_ROLES``.
    """
    if not isinstance(uri, str) or not uri.strip() or len(uri) > MAX_NAME:
        raise InvalidInputError("an external model needs its URI",
                                hint='e.g. run.use_external("hf://org/model", digest=...)')
    if not is_digest_text(digest):
        raise InvalidInputError(
            f"external model {uri!r} needs its content digest, not {str(digest)[:80]!r}",
            hint="give digest='sha256:<64 hex>' of the weights file you downloaded",
        )
    if role not in DERIVATION_ROLES:
        raise InvalidInputError(
            f"unknown derivation role {role!r}",
            hint="use one of " + ", ".join(sorted(DERIVATION_ROLES)),
        )
    origin: dict[str, Any] = {"uri": uri, "source": _source(uri)}
    if revision:
        origin["revision"] = str(revision)
    if store:
        origin["store"] = store
    extra = {"external": True, "origin": origin, **dict(meta or {})}
    label = name or uri.rstrip("/").rsplit("/", 1)[-1] or uri
    if revision:
        label = f"{label}@{str(revision)[:12]}"
    return artifact_ref(digest=digest, kind=kind, role=role, name=label, uri=uri, meta=extra)
