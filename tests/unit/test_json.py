"""``forebear._json``: orjson's speed, the standard library's answers."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from forebear._json import dumps, loads

# repr tells 1 from 1.0 and 1e+20 from 100000000000000000000, which == would not.


def test_every_number_the_journal_accepts_parses_exactly() -> None:
    # The journal refuses integers beyond ±(2**53 - 1) (I-JSON), so params never hold any.
    edge = 2**53 - 1
    text = f'{{"seed": {edge}, "neg": -{edge}, "lr": 9.53e-05, "big": 1e+20, "one": 1}}'
    assert loads(text) == json.loads(text)
    assert type(loads(text)["one"]) is int


def test_long_integers_are_left_to_the_stdlib() -> None:
    # RFC 8785 spells the double 1e20 as an integer; json.loads reads an int, orjson a float.
    long_texts = ("100000000000000000000", '{"x": [1e20, 18446744073709551616]}', "-" + "9" * 20)
    for text in long_texts:
        assert repr(loads(text)) == repr(json.loads(text))
        assert repr(loads(text.encode())) == repr(json.loads(text))


def test_what_orjson_refuses_goes_to_the_stdlib_parser() -> None:
    value = loads('{"x": NaN}')["x"]
    assert value != value  # NaN: never written by the projection, still not an error here


def _stdlib(value: Any, indent: bool) -> bytes:
    if indent:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str).encode()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


# Everything JSON holds but floats, whose spelling may differ (1e-07 against 1e-7).
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_values, st.booleans())
def test_dumps_writes_what_the_stdlib_writes(value: Any, indent: bool) -> None:
    # Integers of any size included: those past 64 bits go to the stdlib itself.
    assert dumps(value, indent=indent) == _stdlib(value, indent)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_dumps_floats_read_back_the_same(value: float) -> None:
    assert json.loads(dumps({"x": value}))["x"] == value


def test_dumps_falls_back_to_str_like_the_cli_did() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    value = {"when": datetime.datetime(2026, 1, 2, 3, 4, 5), "p": Point(1), 7: "int key",
             "set": {1}}
    assert dumps(value, indent=True) == _stdlib(value, True)
    lone = "\ud800"  # orjson refuses it; the stdlib writes it, as it always did
    assert dumps(lone) == json.dumps(lone, ensure_ascii=False).encode("utf-8", "surrogatepass")
