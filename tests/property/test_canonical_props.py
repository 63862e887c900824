"""Invariants of forebear._canonical, checked against the ``rfc8785`` reference library."""

from __future__ import annotations

import json
import random
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from forebear import _canonical
from forebear._canonical import canonical_bytes, canonical_text, loads

SAFE = 2**53 - 1

# Characters that stress JCS: controls and escapes, the UTF-16 vs code-point sort boundary
# (U+E000..U+FFFF against astral), and the digits of the float-patching placeholder.
_tricky = st.sampled_from(
    [
        *("\x00", "\x1f", '"', "\\", "\x7f", "\u0080", "\u00f6", "\u20ac", "\ud7ff", "\ue000"),
        *("\ufb33", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "7", "0", "e", "-", "."),
    ]
)
text = st.one_of(
    st.text(max_size=12),
    st.text(_tricky, max_size=6),
    st.just(str(_canonical._TOKEN_BASE)),
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**60), 2**60).map(float),
    st.sampled_from([1e-7, 1e-6, 1e-5, 1e-4, 9.999999999999999e-5, 1e15, 1e16, 1e20, 1e21]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-SAFE, SAFE),
    st.integers(-1000, 1000),
    floats,
    text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(text, children, max_size=6),
    ),
    max_leaves=40,
)


def _plain(value: Any) -> Any:
    """The value as loads returns it: tuples are lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@given(json_values)
@settings(max_examples=1500)
def test_agrees_with_reference_library(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@given(json_values)
@settings(max_examples=500)
def test_exact_path_agrees_with_fast_paths(value: Any) -> None:
    assert _canonical._encode(value) == canonical_text(value)


@given(json_values)
@settings(max_examples=500)
def test_round_trip(value: Any) -> None:
    # 1.0 comes back as 1 and -0.0 as 0; Python compares them equal, as JSON means them.
    assert loads(canonical_bytes(value)) == _plain(value)


@given(json_values)
@settings(max_examples=500)
def test_idempotent(value: Any) -> None:
    once = canonical_bytes(value)
    assert canonical_bytes(loads(once)) == once
    assert canonical_text(loads(once.decode())) == once.decode()


@given(st.dictionaries(text, scalars, min_size=2, max_size=10), st.randoms())
def test_key_insertion_order_is_irrelevant(value: dict[str, Any], rnd: random.Random) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical_bytes(dict(items)) == canonical_bytes(value)


@given(floats)
def test_float_text_matches_reference(x: float) -> None:
    assert canonical_bytes(x) == rfc8785.dumps(x)
    assert float(canonical_text(x)) == x


def _typed(value: Any) -> Any:
    """``value`` with every scalar's type made part of it (1 and 1.0 differ)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


@given(json_values)
@settings(max_examples=1000)
def test_fast_parser_returns_what_the_stdlib_returns(value: Any) -> None:
    from forebear import _json

    data = canonical_bytes(value)
    assert _typed(_json.loads(data)) == _typed(json.loads(data))
    assert _typed(_json.loads(data.decode())) == _typed(json.loads(data))


@given(json_values)
@settings(max_examples=1000)
def test_a_plain_value_parses_back_to_itself(value: Any) -> None:
    data, plain = _canonical.canonical_bytes_plain(value)
    assert data == canonical_bytes(value)
    if plain:
        assert _typed(json.loads(data)) == _typed(_plain(value))
