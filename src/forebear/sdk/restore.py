"""Bring back the code a run used: its commit checked out, its uncommitted diff applied.

The code anchor (``forebear.capture.git``) records the commit, the repository it was in
and the digest of the uncommitted diff, whose bytes are a blob; ``restore_code`` finds
them for any REF (a model: the run that made it) and rebuilds the tree in an empty
folder with ``forebear.capture.git.restore``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from forebear.errors import NotFoundError, UsageError

__all__ = ["restore_code"]


def restore_code(ref: str, dest: str | os.PathLike[str], *, repo: str | None = None,
                 store: str | None = None) -> dict[str, Any]:
    """Rebuild in ``dest`` (a new or empty folder) the code the run ``ref`` names used.

    ``repo`` is where to clone the commit from; by default the folder the run ran in,
    else its remote. Returns ``{"run", "commit", "diff_digest", "repo", "dir", "exact"}``;
    ``exact`` is False where the record says its diff could not hold the whole tree
    (untracked files skipped, a patch over the size cap).
    """
    from forebear.capture.git import restore
    from forebear.hashing import Digest
    from forebear.sdk.queries import Reader
    from forebear.sdk.session import blob_store_of

    with Reader(store) as reader:
        shown = reader.show(ref)
        settings = reader.settings
    made = shown.get("transformation") or {}
    code = made.get("code") if isinstance(made, dict) else None
    run_id = made.get("run_id") if isinstance(made, dict) else None
    if not isinstance(code, dict) or (code.get("commit") is None
                                      and code.get("diff_digest") is None):
        raise UsageError(f"{ref!r}: its run recorded no git commit or diff to restore",
                         hint="a run outside git keeps its script's digest only "
                              "(`forebear show --json`, transformation.code)")
    source = repo or _local(code.get("root")) or code.get("remote")
    if not source:
        raise UsageError(f"{ref!r}: the repository its run was in is not here and it had "
                         "no remote", hint="give one to clone the commit from: --repo PATH_OR_URL")
    diff = None
    digest = code.get("diff_digest")
    if digest:
        blobs = blob_store_of(settings)
        if blobs is None:
            raise NotFoundError(f"the run's uncommitted diff is blob {digest} and no blob "
                                "store is configured",
                                hint="set FOREBEAR_BLOBS to the blob store the run wrote to")
        diff = blobs.get_bytes(Digest.parse(digest))
    path = restore(code.get("commit"), diff, dest, repo=source)
    return {"run": run_id, "commit": code.get("commit"), "diff_digest": digest,
            "repo": source, "dir": str(path),
            "exact": not code.get("truncated") and not code.get("skipped")}


def _local(root: object) -> str | None:
    return root if isinstance(root, str) and Path(root, ".git").exists() else None
