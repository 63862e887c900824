"""Edge roles: how an execution used an artifact, in one documented place.

Roles are free text on every edge (``run.use(path, role=...)``), but lineage across
models reads best when everyone spells the same relation the same way. The *derivation
roles* below mark a model-to-model step (a model used as the input of a run whose output
is another model); ``upstream`` crosses them like any other edge, and ``diff`` keys inputs
by role, so a fine-tune and a distillation of the same base never look alike.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = ["BASE_MODEL", "DERIVATION_ROLES", "is_derivation_role"]

BASE_MODEL: Final = "base_model"
"""The generic role of a model a run starts from (DESIGN.md); prefer a typed role below."""

DERIVATION_ROLES: Final = MappingProxyType({
    "fine_tune": "the base model whose weights were further trained on new data",
    "distill": "the teacher model whose outputs trained a (usually smaller) student",
    "merge": "one of several models whose weights were combined (averaging, TIES, SLERP)",
    "quantize": "the full-precision model that was quantized or otherwise compressed",
    "adapter": "the frozen base model an adapter (LoRA, prefix, IA3) was trained on top of",
    "init_weights": "a model used only to initialize the weights of a new architecture",
    BASE_MODEL: "a model the run starts from, relation unspecified",
})
"""Role -> what the input model is to the output model."""


def is_derivation_role(role: str) -> bool:
    """Whether ``role`` marks a model-to-model derivation."""
    return role in DERIVATION_ROLES
