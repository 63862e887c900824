"""What a captured file is called in the lineage: its kind, from the suffix, and its name,
the path relative to the working directory when it lies below it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["display_name", "guess_kind"]


_MODEL_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".onnx", ".safetensors",
                   ".h5", ".keras", ".pb", ".tflite", ".gguf", ".bin", ".model", ".cbm", ".ubj")
_DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".feather", ".arrow", ".jsonl", ".npy", ".npz",
                  ".txt", ".json", ".avro", ".orc", ".tfrecord", ".h5ad", ".xlsx", ".zarr")


def guess_kind(path: str) -> str:
    """A kind for a file that was captured rather than declared, from its suffix."""
    lower = path.lower()
    if lower.endswith(_MODEL_SUFFIXES):
        return "model"
    if lower.endswith(_DATA_SUFFIXES):
        return "data"
    return "artifact"


def display_name(path: str, cwd: str | None = None) -> str:
    """``path`` relative to ``cwd`` (default: the working directory) if it lies below it,
    as posix text; otherwise ``path`` itself."""
    cwd = cwd or os.getcwd()
    # The common case, a normalized path under the working directory, without relpath.
    if os.sep == "/" and len(cwd) > 1 and path.startswith(cwd + "/"):
        rest = path[len(cwd) + 1 :]
        if rest and "//" not in rest and "/." not in rest and not rest.startswith(".") \
                and not rest.endswith("/"):
            return rest  # no ".", ".." or empty component: normalized already
        if os.path.normpath(path) == path:
            return rest
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else Path(rel).as_posix()
