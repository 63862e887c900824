"""Validating OpenLineage events against the JSON schema shipped in this package.

``schemas/OpenLineage.json`` is the OpenLineage 2-0-2 core schema (see ``schemas/NOTICE``);
events are checked against its ``RunEvent`` definition, or, for the static events that
``forebear.model.openlineage.static_event_type`` names (accepted, not recorded), against
their ``DatasetEvent`` or ``JobEvent`` definition (``validate_event``). The Rust validator
``jsonschema_rs`` is used when installed (about a hundred times faster, which matters on
the ingest path); otherwise the pure-Python ``jsonschema``. Both report the first
problem with the path of the field it concerns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any

from forebear.errors import InvalidInputError
from forebear.model.openlineage import static_event_type

__all__ = ["SCHEMA_URL", "can_validate", "load_schema", "validate_event", "validate_run_event"]

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
_MESSAGE_LIMIT = 300


def load_schema() -> dict[str, Any]:
    """The shipped OpenLineage schema document."""
    text = resources.files("forebear.server").joinpath("schemas/OpenLineage.json").read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def _event_schema(definition: str) -> dict[str, Any]:
    schema = load_schema()
    schema.pop("oneOf", None)
    schema["$ref"] = f"#/$defs/{definition}"
    return schema


def _where(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "the event"


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


@lru_cache(maxsize=3)
def _validator(definition: str = "RunEvent") -> Callable[[Any], str | None]:
    schema = _event_schema(definition)
    try:
        import jsonschema_rs
    except ImportError:
        import jsonschema  # type: ignore[import-untyped, unused-ignore]

        slow = jsonschema.Draft202012Validator(schema)

        def check_slow(event: Any) -> str | None:
            if slow.is_valid(event):
                return None
            error = jsonschema.exceptions.best_match(slow.iter_errors(event))
            if error is None:  # pragma: no cover - is_valid said there is one
                return "the event does not match the schema"
            return f"{_where(error.absolute_path)}: {error.message}"

        return check_slow

    fast = jsonschema_rs.validator_for(schema)

    def check_fast(event: Any) -> str | None:
        if fast.is_valid(event):
            return None
        for error in fast.iter_errors(event):
            return f"{_where(error.instance_path)}: {error.message}"
        return "the event does not match the schema"  # pragma: no cover

    return check_fast


def can_validate() -> bool:
    """Whether a schema validator is installed (``forebear[server]``)."""
    try:
        _validator()
    except ImportError:
        return False
    return True


def _check(event: Any, definition: str) -> None:
    problem = _validator(definition)(event)
    if problem is not None:
        raise InvalidInputError(
            f"not an OpenLineage {definition}: " + _clip(problem),
            hint=f"see the {definition} definition in {SCHEMA_URL}",
        )


def validate_run_event(event: Any) -> None:
    """Raise InvalidInputError naming the first field that breaks the RunEvent schema."""
    _check(event, "RunEvent")


def validate_event(event: Any) -> str:
    """Check ``event`` against the definition of its type and return that type:
    ``"RunEvent"``, or ``"DatasetEvent"`` / ``"JobEvent"`` for a static event (which
    forebear does not record: a caller skips it). Raises InvalidInputError naming the
    first field that breaks the definition."""
    definition = static_event_type(event) or "RunEvent"
    _check(event, definition)
    return definition
