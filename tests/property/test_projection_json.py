"""The projection's JSON text is exactly what ``json.JSONEncoder`` writes with its options.

Stored projection rows must not change across versions (``verify`` compares them with a
rebuild), so the direct C-encoder call must match the encoder it replaced, byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from forebear.store.projection import _json

_REFERENCE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=25,
)


@settings(max_examples=500)
@given(values)
def test_projection_json_matches_the_stdlib_encoder(value: Any) -> None:
    assert _json(value) == _REFERENCE(value)
