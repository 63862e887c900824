"""``verify --blobs``: re-hash every blob in the blob store against its digest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forebear import config


def verify_blobs(
    resolved: config.Settings, progress: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """Problems found in the blob store, in the ``verify`` JSON shape (``seq`` is null).

    ``progress`` is called with 1 after each blob.
    """
    from forebear.artifacts.base import open_blob_store
    from forebear.errors import ForebearError

    if not resolved.blob_url:
        return [{"seq": None, "what": "no blob store is configured (set FOREBEAR_BLOBS)"}]
    blobs = open_blob_store(resolved.blob_url)
    problems: list[dict[str, Any]] = []
    for digest in blobs.iter_digests():
        try:
            if not blobs.verify(digest):
                problems.append({"seq": None, "what": f"blob {digest} does not match its digest"})
        except ForebearError as exc:
            problems.append({"seq": None, "what": f"blob {digest}: {exc}"})
        if progress is not None:
            progress(1)
    return problems
