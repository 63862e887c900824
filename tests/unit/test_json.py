"""``forebear._json.loads``: orjson's speed, the standard library's answers."""

from __future__ import annotations

import json

from forebear._json import loads

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
