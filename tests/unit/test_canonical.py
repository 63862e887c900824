"""Known answers and refusals for forebear._canonical (RFC 8785, JCS).

Vectors are facts from RFC 8785 (Appendix B number samples, section 3.2.3 sorting example)
and the RFC author's test data (cyberphone/json-canonicalization ``testdata/``).
"""

from __future__ import annotations

import enum
import math
import struct
from collections import OrderedDict
from typing import Any

import pytest

from forebear import _canonical
from forebear._canonical import canonical_bytes, canonical_text, loads
from forebear.errors import InvalidInputError

# RFC 8785 Appendix B: IEEE-754 bit pattern -> canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(hex_bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(hex_bits))[0]
    return value


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B, ids=[b for b, _ in APPENDIX_B])
def test_appendix_b_numbers(bits: str, expected: str) -> None:
    x = _double(bits)
    # Alone, in a list and in an object: each reaches a different tier of the encoder.
    assert canonical_text(x) == expected
    assert canonical_text([x]) == f"[{expected}]"
    assert canonical_text({"n": x, "s": "t"}) == f'{{"n":{expected},"s":"t"}}'


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_appendix_b_nan_and_infinity_are_refused(bits: str) -> None:
    x = _double(bits)
    for value in (x, [x], {"n": x}, {"a": [1.0, {"b": x}]}):
        with pytest.raises(InvalidInputError, match="not a JSON number"):
            canonical_bytes(value)


def test_rfc_sorting_example() -> None:
    # RFC 8785 section 3.2.3: keys sort by UTF-16 code units, so the emoji (a surrogate
    # pair, 0xD83D...) comes before U+FB33 although its code point is larger.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    text = canonical_text(value)
    assert list(loads(text)) == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert text == (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )


# cyberphone/json-canonicalization testdata: input file text -> output file text.
TESTDATA = {
    "arrays": (
        '[\n  56,\n  {\n    "d": true,\n    "10": null,\n    "1": [ ]\n  }\n]',
        '[56,{"1":[],"10":null,"d":true}]',
    ),
    "french": (
        '{\n  "peach": "This sorting order",\n'
        '  "p\u00e9ch\u00e9": "is wrong according to French",\n'
        '  "p\u00eache": "but canonicalization MUST",\n  "sin":   "ingnore locale"\n}\n',
        '{"peach":"This sorting order","p\u00e9ch\u00e9":"is wrong according to French",'
        '"p\u00eache":"but canonicalization MUST","sin":"ingnore locale"}',
    ),
    "structures": (
        '{\n  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n  "10": { },\n  "": "empty",\n'
        '  "a": { },\n  "111": [ { } ],\n  "A": { }\n}',
        '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
    ),
    "unicode": (
        '{\n  "Unnormalized Unicode":"\\u1e0d\\u0307"\n}\n',
        '{"Unnormalized Unicode":"\u1e0d\u0307"}',
    ),
    "values": (
        '{\n  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],\n'
        '  "escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n'
        '  "literals": [null, true, false]\n}',
        '{"escaping":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false],'
        '"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}',
    ),
    "weird": (
        '{\n  "\\u20ac": "Euro Sign",\n  "1": "One",\n  "\\u0080": "Control\\u007f",\n'
        '  "\\ud83d\\ude02": "Smiley",\n  "\\u00f6": "Latin Small Letter O With Diaeresis",\n'
        '  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n  "</script>": "Browser Challenge"\n}\n',
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
}


@pytest.mark.parametrize("name", sorted(TESTDATA))
def test_reference_testdata(name: str) -> None:
    source, expected = TESTDATA[name]
    assert canonical_text(loads(source)) == expected
    assert canonical_bytes(loads(source.encode())) == expected.encode("utf-8")


def test_readme_sample_utf8_bytes() -> None:
    # The UTF-8 hex dump published with the reference implementation.
    source = (
        '{"numbers": [1E30,4.50,6,2e-3,0.000000000000000000000000001],'
        '"escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        '"other":  [null, true, false]}'
    )
    expected = bytes.fromhex(
        "7b 22 65 73 63 61 70 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 30 66 5c 6e 41 27 42 5c 22"
        " 5c 5c 5c 5c 5c 22 2f 22 2c 22 6e 75 6d 62 65 72 73 22 3a 5b 31 65 2b 33 30 2c 34 2e 35"
        " 2c 36 2c 30 2e 30 30 32 2c 31 65 2d 32 37 5d 2c 22 6f 74 68 65 72 22 3a 5b 6e 75 6c 6c"
        " 2c 74 72 75 65 2c 66 61 6c 73 65 5d 7d"
    )
    assert canonical_bytes(loads(source)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (500.0, "500"),
        (1e16, "10000000000000000"),
        (1e21, "1e+21"),
        (1e-5, "0.00001"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-9, "1.5e-9"),
        (5e-10, "5e-10"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (123456789.0, "123456789"),
        (2.0**60, "1152921504606847000"),
    ],
    ids=repr,
)
def test_floats_print_as_ecmascript(value: float, expected: str) -> None:
    assert canonical_text(value) == expected
    assert canonical_text({"x": [value], "y": "z"}) == f'{{"x":[{expected}],"y":"z"}}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\b\t\n\f\r", '"\\b\\t\\n\\f\\r"'),
        ("\x00\x01\x0b\x1f", '"\\u0000\\u0001\\u000b\\u001f"'),
        ('"\\/', '"\\"\\\\/"'),
        ("\x7f\u2028\u2029<>&'", '"\x7f\u2028\u2029<>&\'"'),
        ("\U0001f600", '"\U0001f600"'),
    ],
    ids=["short-escapes", "unicode-escapes-lowercase", "quote-backslash-solidus", "raw", "astral"],
)
def test_string_escaping(value: str, expected: str) -> None:
    assert canonical_text(value) == expected
    assert canonical_text({value: value}) == "{" + expected + ":" + expected + "}"


def test_integers_at_the_edge_of_the_safe_range() -> None:
    edge = 2**53 - 1
    assert canonical_text([edge, -edge, 0, -1]) == f"[{edge},{-edge},0,-1]"
    for bad in (2**53, -(2**53), 10**30):
        for value in (bad, [bad], {"n": bad}):
            with pytest.raises(InvalidInputError, match="outside") as info:
                canonical_bytes(value)
            assert "as strings" in str(info.value)


def test_huge_integer_error_does_not_echo_it() -> None:
    with pytest.raises(InvalidInputError, match="bits"):
        canonical_bytes({"n": 10**5000})


def test_bools_are_not_numbers() -> None:
    assert canonical_text({"t": True, "f": False, "n": None}) == '{"f":false,"n":null,"t":true}'


@pytest.mark.parametrize("key", [1, 1.5, None, True, (1, 2)], ids=repr)
def test_non_string_keys_are_refused(key: Any) -> None:
    for value in ({key: 1}, {"a": {key: 1}}, [{key: 1, "x": 1.0}]):
        with pytest.raises(InvalidInputError, match="keys must be strings"):
            canonical_bytes(value)


@pytest.mark.parametrize(
    "value",
    ["\ud800", ["a", "\udfff"], {"\ud83d": 1}, {"k": "x\ud83dy"}, {"\ue000": 1, "\ud800": 2}],
    ids=["alone", "in-list", "key", "value", "key-on-utf16-sort-path"],
)
def test_lone_surrogates_are_refused(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="surrogate"):
        canonical_bytes(value)
    with pytest.raises(InvalidInputError, match="surrogate"):
        canonical_text(value)


@pytest.mark.parametrize(
    "value",
    [b"x", {1, 2}, object(), {"a": [1, b"x"]}, {"a": 1j}],
    ids=["bytes", "set", "object", "nested", "complex"],
)
def test_other_types_are_refused(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="not a JSON value"):
        canonical_bytes(value)


def test_cycles_and_deep_nesting_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        canonical_bytes(loop)
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        canonical_bytes(deep)


class Level(enum.IntEnum):
    HIGH = 3


class Name(enum.StrEnum):
    TRAIN = "train"


def test_subclasses_encode_as_their_base_values() -> None:
    value = OrderedDict([("b", Level.HIGH), ("a", Name.TRAIN), ("c", (1, 2.0))])
    assert canonical_text(value) == '{"a":"train","b":3,"c":[1,2]}'


class _Twisted(str):
    def __lt__(self, other: object) -> bool:
        return not str.__lt__(self, other)  # type: ignore[arg-type]


class _Odd(float):
    def __repr__(self) -> str:
        return "odd"

    def __abs__(self) -> float:
        return 0.0


def test_subclasses_cannot_bend_the_rules() -> None:
    value = {_Twisted("a"): 1, _Twisted("b"): _Odd(1e-7), "c": [_Odd(2.5), _Odd(3.0)]}
    assert canonical_text(value) == '{"a":1,"b":1e-7,"c":[2.5,3]}'


def test_tuples_are_arrays() -> None:
    assert canonical_text((1, "a", (None,))) == '[1,"a",[null]]'


def test_insertion_order_does_not_matter() -> None:
    a = {"b": 1, "a": {"y": 2.0, "x": [1e-7]}}
    b = {"a": {"x": [1e-7], "y": 2.0}, "b": 1}
    assert canonical_bytes(a) == canonical_bytes(b) == b'{"a":{"x":[1e-7],"y":2},"b":1}'


def test_placeholder_digits_inside_a_string_do_not_confuse_float_patching() -> None:
    token = str(_canonical._TOKEN_BASE)
    value = {"s": token, "f": 1e-7, "t": [token + "1", 1e21]}
    assert canonical_text(value) == f'{{"f":1e-7,"s":"{token}","t":["{token}1",1e+21]}}'


def test_all_tiers_agree() -> None:
    value = {"a": [1.0, 1e-7, 0.5], "b": {"\ue000": 1, "\U0001f600": 2}, "c": "x"}
    expected = '{"a":[1,1e-7,0.5],"b":{"\U0001f600":2,"\ue000":1},"c":"x"}'
    assert canonical_text(value) == expected
    assert _canonical._encode(value) == expected


def test_canonical_bytes_is_utf8_of_canonical_text() -> None:
    value = {"\u00e9": ["\u20ac", 1.25]}
    assert canonical_bytes(value) == canonical_text(value).encode("utf-8")


# -- loads ---------------------------------------------------------------------------------


def test_loads_parses_str_and_bytes() -> None:
    assert loads('{"a":[1,2.5,"\\ud83d\\ude00",null]}') == {"a": [1, 2.5, "\U0001f600", None]}
    assert loads(b'{"a":true}') == {"a": True}
    assert loads(memoryview(b"[]")) == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("NaN", "NaN"),
        ("[Infinity]", "Infinity"),
        ('{"a": -Infinity}', "-Infinity"),
        ("[1e400]", "does not fit"),
        ('{"a":1,"a":2}', "duplicate"),
        ('{"a":1,"\\u0061":2}', "duplicate"),
        ('"\\ud800"', "surrogate"),
        ('["x\\udc00y"]', "surrogate"),
        ('{"\\ude00":1}', "surrogate"),
        ("\ud800", "surrogate"),
        ("9007199254740993", "outside"),
        ("-9007199254740993", "outside"),
        ("12345678901234567890", "outside"),
        ("1152921504606846976", "outside"),
        ("1" * 5000, "outside"),
        ("{", "invalid JSON"),
        ("[1] x", "invalid JSON"),
        ("\ufeff[]", "invalid JSON"),
        ('"a\nb"', "invalid JSON"),
        ("", "invalid JSON"),
    ],
    ids=lambda v: v[:20] if isinstance(v, str) else None,
)
def test_loads_refuses(text: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        loads(text)


def test_loads_refuses_invalid_utf8() -> None:
    with pytest.raises(InvalidInputError, match="UTF-8"):
        loads(b'"\xff"')
    with pytest.raises(InvalidInputError, match="UTF-8"):
        loads(b'"\xed\xa0\x80"')  # a surrogate encoded as UTF-8 (CESU)


def test_loads_refuses_deep_nesting() -> None:
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        loads("[" * 100_000 + "]" * 100_000)


def test_loads_accepts_the_safe_integer_edge() -> None:
    assert loads("[9007199254740991,-9007199254740991,-0]") == [2**53 - 1, -(2**53 - 1), 0]
    assert math.copysign(1.0, loads("-0.0")) == -1.0


@pytest.mark.parametrize(
    "text", ["9007199254740992", "-9007199254740992", "1152921504606847000", "1" + "0" * 20]
)
def test_loads_reads_a_large_integral_double_as_that_double(text: str) -> None:
    # The canonical spelling of 2.0**53, 2.0**60, 1e20: integer-shaped, but doubles.
    value = loads(text)
    assert type(value) is float
    assert canonical_text(value) == text


def test_a_long_history_of_small_floats_is_patched_in_one_pass() -> None:
    # Learning rates and losses below 1e-4 take the patched path: 40,000 of them, which
    # the per-placeholder count and replace took about a minute to write, and the text
    # equals the exact encoder's.
    value = {"metric_steps": [["loss", i, 1e-5 / (i + 1)] for i in range(40_000)]}
    text = canonical_text(value)
    assert text == _canonical._encode(value)
    # A string that happens to hold a placeholder's digits sends it to the exact path.
    token = str(_canonical._TOKEN_BASE)
    clash = {"a": [1e-5, 2e-5], "b": token}
    assert canonical_text(clash) == '{"a":[0.00001,0.00002],"b":"' + token + '"}'
