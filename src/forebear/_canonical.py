"""The one canonical JSON encoder: RFC 8785, the JSON Canonicalization Scheme (JCS).

Every journal entry is hashed as these bytes, so two encoders that disagree on one byte
would fork the log. JCS pins the text down completely: object keys sorted by their UTF-16
code units, no whitespace, ECMAScript ``Number.prototype.toString`` for numbers, and only
``"``, ``\\`` and control characters escaped in strings (``\\b \\t \\n \\f \\r`` in short
form, the rest as lowercase ``\\u00xx``).

Values are ``dict`` (``str`` keys), ``list``/``tuple``, ``str``, ``int``, ``float``,
``bool`` and ``None``. Refused, with :class:`~forebear.errors.InvalidInputError`: integers
outside ±(2**53 - 1) (I-JSON; beyond that a double cannot hold them, so readers in other
languages would silently round them), NaN and the infinities, non-string keys, lone
surrogates and any other type.

Speed: the encoder sits on the ingest hot path, so it has three tiers, all exact.

1. The stdlib C encoder (compact, ``sort_keys``) already writes JCS for most values; a cheap
   type scan (:func:`_scan`) proves it for the whole value and its output is used as is.
2. Floats that Python prints differently from ECMAScript (``1.0``, ``1e-05``) are patched:
   a copy holds placeholders, the C encoder writes it, the ECMAScript text goes back in.
3. Anything else (subclasses, keys whose UTF-16 order differs from code-point order, values
   that must be refused) goes through :func:`_encode`, the rules written out one by one.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Literal

from forebear.errors import InvalidInputError

__all__ = ["canonical_bytes", "canonical_text", "loads"]

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every JSON reader holds exactly (I-JSON, RFC 7493 section 2.2)."""

_UTF16_SAFE_BELOW = "\ue000"
# Keys made only of characters below U+E000 sort the same by code point (Python's order)
# and by UTF-16 code unit (JCS's order): the two orders differ only when U+E000..U+FFFF
# meets a character above U+FFFF, whose UTF-16 form starts with a surrogate (U+D800..).

_INT_HINT = "send integers beyond ±(2**53 - 1) as strings"
_NAN_HINT = "send NaN and Infinity as strings or null"

_quote: Callable[[str], str] = json.encoder.encode_basestring  # C escaper, JCS's exact rules


def _unencodable(value: object) -> object:
    raise TypeError(type(value).__name__)


def _make_c_encoder() -> Callable[[object], str]:
    # Build the C encoder once: json.dumps would set one up on every call, which costs
    # about a fifth of the whole encoding of a small event.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is not None:
        encode = make(None, _unencodable, _quote, None, ":", ",", True, False, False)
        return lambda value: "".join(encode(value, 0))
    fallback = json.JSONEncoder(  # pragma: no cover - CPython always has _json
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
        check_circular=False,
        default=_unencodable,
    )
    return fallback.encode  # pragma: no cover


_c_encode = _make_c_encoder()


def canonical_bytes(value: object) -> bytes:
    """Return the RFC 8785 canonical form of ``value`` as UTF-8 bytes."""
    return canonical_bytes_plain(value)[0]


def canonical_bytes_plain(value: object) -> tuple[bytes, bool]:
    """``canonical_bytes(value)``, and whether ``value`` is *plain*.

    Plain: a dict, list or tuple made only of exact dicts, lists, tuples, strings, bools,
    None, integers within ±(2**53 - 1) and floats that Python and ECMAScript print alike
    (what the C encoder writes as JCS unchanged). Parsing a plain value's bytes gives back
    an equal value of the same types, tuples becoming lists, so a caller that needs the
    parsed form may keep the value instead.
    """
    text, plain = _text_plain(value)
    try:
        return text.encode("utf-8"), plain
    except UnicodeEncodeError as exc:
        raise _surrogate_error() from exc


def canonical_text(value: object) -> str:
    """Return the RFC 8785 canonical form of ``value`` as text."""
    text = _text(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _surrogate_error() from exc
    return text


def _text(value: object) -> str:
    return _text_plain(value)[0]


def _text_plain(value: object) -> tuple[str, bool]:
    try:
        t = type(value)
        if t is dict or t is list or t is tuple:
            container: Any = value
            if _scan(container):
                return _c_encode(container), True
            patched = _c_encode_patched(container)
            if patched is not None:
                return patched, False
        return _encode(value), False
    except RecursionError as exc:
        raise InvalidInputError(
            "JSON value is nested too deeply or contains itself",
            hint="flatten it or break the cycle",
        ) from exc


def _scan(container: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> bool:
    """Whether the C encoder's output for ``container`` is already JCS.

    Exact types only: a subclass, or anything unexpected, sends the subtree to
    :func:`_encode`, which knows every rule and raises the precise error.
    """
    if type(container) is dict:
        for key in container:
            if type(key) is not str or (not key.isascii() and max(key) >= _UTF16_SAFE_BELOW):
                return False
        values: Any = container.values()
    else:
        values = container
    for v in values:
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                continue
            return False
        if t is float:
            # Python's repr and ECMAScript agree, digit for digit, on non-integral values in
            # [1e-4, 1e16); outside it one writes an exponent where the other does not, and
            # integral values gain ".0" in Python. NaN fails the comparison too.
            if 1e-4 <= abs(v) < 1e16 and not v.is_integer():
                continue
            return False
        if (t is dict or t is list or t is tuple) and _scan(v):
            continue
        return False
    return True


# Floats the C encoder would print differently are swapped, in a copy, for placeholder
# integers (31 digits, so no JSON-safe integer contains one) and their ECMAScript text is
# put back into the output. A placeholder found more than once means a string happens to
# hold those digits: then the exact path writes the value instead.
_TOKEN_BASE = 7 * 10**30
_TOKEN_RE = re.compile(r"7\d{30}")
_MAX_TOKENS = 10**6
_UNPATCHABLE = object()


def _c_encode_patched(container: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> str | None:
    """The C encoder's output with ECMAScript floats patched in, or None if it cannot be."""
    subs: list[tuple[str, str]] = []
    patched = _patch(container, subs)
    if patched is None:
        return None
    text = _c_encode(patched)
    if not subs:
        return text
    # One pass to find the placeholders and one to swap them: per-token count() and
    # replace() over the whole text made a long metric history (small learning rates,
    # losses below 1e-4) quadratic.
    numbers = dict(subs)
    seen: dict[str, int] = {}
    for found in _TOKEN_RE.findall(text):
        if found in numbers:
            seen[found] = seen.get(found, 0) + 1
    if len(seen) != len(numbers) or any(count != 1 for count in seen.values()):
        return None
    return _TOKEN_RE.sub(lambda match: numbers.get(match.group(), match.group()), text)


def _patch(container: Any, subs: list[tuple[str, str]]) -> Any:
    pairs: Any
    if type(container) is dict:
        for key in container:
            if type(key) is not str or (not key.isascii() and max(key) >= _UTF16_SAFE_BELOW):
                return None
        pairs = container.items()
    else:
        pairs = enumerate(container)
    out: Any = None
    for slot, v in pairs:
        t = type(v)
        if t is str or t is bool or v is None:  # the common cases, inline for speed
            continue
        if t is int and -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
            continue
        if t is float and 1e-4 <= abs(v) < 1e16 and not v.is_integer():
            continue
        new = _patch_value(v, subs)
        if new is _UNPATCHABLE:
            return None
        if new is not v:
            if out is None:
                out = dict(container) if type(container) is dict else list(container)
            out[slot] = new
    return container if out is None else out


def _patch_value(v: Any, subs: list[tuple[str, str]]) -> Any:
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is int:
        return v if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER else _UNPATCHABLE
    if t is float:
        if 1e-4 <= abs(v) < 1e16 and not v.is_integer():
            return v
        if not math.isfinite(v):
            return _UNPATCHABLE
        if v.is_integer() and abs(v) <= MAX_SAFE_INTEGER:
            return int(v)  # below 2**53 ECMAScript writes an integral double as its integer
        if len(subs) >= _MAX_TOKENS:
            return _UNPATCHABLE
        token = _TOKEN_BASE + len(subs)
        subs.append((str(token), _float_text(v)))
        return token
    if t is dict or t is list or t is tuple:
        if _scan(v):  # a clean subtree: scanning is cheaper than patching
            return v
        patched = _patch(v, subs)
        return _UNPATCHABLE if patched is None else patched
    return _UNPATCHABLE


def _encode(value: object) -> str:
    """Write ``value`` by the letter of RFC 8785 (the exact path; clean subtrees go to C)."""
    t = type(value)
    if t is str:
        return _quote(value)  # type: ignore[arg-type]
    if t is dict:
        return _c_encode(value) if _scan(value) else _object_text(value)  # type: ignore[arg-type]
    if t is list or t is tuple:
        if _scan(value):  # type: ignore[arg-type]
            return _c_encode(value)
        return "[" + ",".join(map(_encode, value)) + "]"  # type: ignore[call-overload]
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dict):  # a subclass: never trust the C encoder's view of it
        return _object_text(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_encode, value)) + "]"
    raise InvalidInputError(
        f"{type(value).__name__} is not a JSON value",
        hint="use dict, list, str, int, float, bool or None",
    )


def _object_text(obj: dict[Any, Any]) -> str:
    for key in obj:
        if not isinstance(key, str):
            raise InvalidInputError(
                f"JSON object keys must be strings, not {type(key).__name__} ({_short(key)})",
                hint="convert the key to a string",
            )
    # Plain str copies of the keys: a str subclass may override comparison.
    items = [(str.__str__(k), v) for k, v in obj.items()]
    if any(not k.isascii() and max(k) >= _UTF16_SAFE_BELOW for k, _ in items):
        items.sort(key=_utf16_key)
    else:
        items.sort(key=itemgetter(0))
    return "{" + ",".join(_quote(k) + ":" + _encode(v) for k, v in items) + "}"


def _utf16_key(item: tuple[str, object]) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the code-unit sequences JCS sorts by.
    try:
        return item[0].encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise _surrogate_error() from exc


def _int_text(n: int) -> str:
    if -MAX_SAFE_INTEGER <= n <= MAX_SAFE_INTEGER:
        return int.__repr__(n)  # not repr(n): an int subclass may override it
    raise InvalidInputError(
        f"integer {_short(n)} is outside ±(2**53 - 1), the range JSON numbers hold exactly",
        hint=_INT_HINT,
    )


# The same few floats (a learning rate, an epsilon) recur in every event of a run.
_FLOAT_TEXT_CACHE: dict[float, str] = {}
_FLOAT_TEXT_CACHE_SIZE = 4096


def _float_text(x: float) -> str:
    """ECMAScript ``Number.prototype.toString`` (ECMA-262 7.1.12.1) of a finite double."""
    if type(x) is not float:
        x = float.__float__(x)  # a subclass may override __abs__, __hash__ or __repr__
    text = _FLOAT_TEXT_CACHE.get(x)
    if text is None:
        text = _es_number(x)
        if len(_FLOAT_TEXT_CACHE) >= _FLOAT_TEXT_CACHE_SIZE:
            _FLOAT_TEXT_CACHE.clear()
        _FLOAT_TEXT_CACHE[x] = text
    return text


def _es_number(x: float) -> str:
    if not math.isfinite(x):
        raise InvalidInputError(f"{x!r} is not a JSON number", hint=_NAN_HINT)
    if x == 0:
        return "0"  # -0 as well
    sign = "-" if x < 0 else ""
    r = float.__repr__(abs(x))  # shortest round-trip digits, as ECMAScript asks for
    mantissa, _, exp = r.partition("e")
    whole, _, frac = mantissa.partition(".")
    if exp:  # d[.ddd]e±XX: the point sits after one digit
        digits = whole + frac
        n = int(exp) + 1
    elif whole == "0":  # 0.000ddd
        digits = frac.lstrip("0")
        n = len(digits) - len(frac)
    else:  # ddd.ddd
        digits = whole + frac
        n = len(whole)
    digits = digits.rstrip("0")
    k = len(digits)
    # value = 0.digits * 10**n; ECMAScript's n is the exponent of the first digit plus one.
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e >= 0 else '-'}{abs(e)}"


def _short(value: object) -> str:
    # repr of a 10,000-digit int raises in Python 3.11; never echo huge input back.
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _surrogate_error() -> InvalidInputError:
    return InvalidInputError(
        "string contains a lone UTF-16 surrogate, which is not Unicode text",
        hint="decode the text correctly, or send binary data as base64",
    )


# -- parsing ----------------------------------------------------------------------------

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidInputError(
                    f"duplicate JSON object key {_short(key)}", hint="send each key once"
                )
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise InvalidInputError(f"{name} is not a JSON number", hint=_NAN_HINT)


def _parse_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):  # 1e400 overflows to inf
        raise InvalidInputError(f"number {text[:40]} does not fit a double", hint=_NAN_HINT)
    return x


def _parse_int(text: str) -> int | float:
    # JCS writes a large integral double such as 2**53 or 1e20 without a point, so such a
    # token is read back as that double, but only when it is exactly the double's canonical
    # spelling: any other big integer would lose digits, and is refused instead.
    if len(text) <= 22:  # longer integer tokens are never canonical; int() never sees them
        n = int(text)
        if -MAX_SAFE_INTEGER <= n <= MAX_SAFE_INTEGER:
            return n
        x = float(n)
        if _es_number(x) == text:
            return x
    shown = text if len(text) <= 24 else text[:20] + "..."
    raise InvalidInputError(
        f"integer {shown} is outside ±(2**53 - 1), where JSON numbers lose digits",
        hint=_INT_HINT,
    )


def _parse_int_or_text(text: str) -> int | float | str:
    # What _parse_int refuses is kept as its decimal text: a JSON integer token has no
    # sign but "-", no leading zeros and no exponent, so the token is already that text.
    try:
        return _parse_int(text)
    except InvalidInputError:
        return text


def _decoder(parse_int: Callable[[str], Any]) -> json.JSONDecoder:
    return json.JSONDecoder(
        object_pairs_hook=_pairs,
        parse_constant=_constant,
        parse_float=_parse_float,
        parse_int=parse_int,
        strict=True,
    )


_DECODERS = {"refuse": _decoder(_parse_int), "text": _decoder(_parse_int_or_text)}

BigInts = Literal["refuse", "text"]
"""What :func:`loads` does with an integer a double cannot hold: refuse it, or keep its text."""


def loads(text: str | bytes, *, big_ints: BigInts = "refuse") -> Any:
    """Parse JSON strictly: no NaN/Infinity, duplicate keys, lone surrogates or huge integers.

    Bytes must be UTF-8. An integer beyond ±(2**53 - 1) is accepted only as the canonical
    spelling of a double (``9007199254740992``, ``100000000000000000000``) and returned as
    that float; any other is refused, or with ``big_ints="text"`` returned as its exact
    decimal text, a ``str`` (``"4236560510546011815"``), as I-JSON (RFC 7493 section 2.2)
    advises for such numbers. That is for documents forebear keeps but does not define
    (OpenLineage facets, where a 64-bit snapshot id is ordinary); the canonical spellings
    still read as doubles there, so a document forebear wrote reads back unchanged.
    Whatever :func:`loads` returns, :func:`canonical_bytes` accepts, and
    ``loads(canonical_bytes(v)) == v``.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"JSON is not valid UTF-8 (byte {exc.start})", hint="send UTF-8 text"
            ) from exc
    elif not isinstance(text, str):
        raise InvalidInputError(f"cannot parse JSON from {type(text).__name__}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _surrogate_error() from exc
    try:
        value = _DECODERS[big_ints].decode(text)
    except InvalidInputError:
        raise
    except RecursionError as exc:
        raise InvalidInputError("JSON is nested too deeply", hint="flatten it") from exc
    except ValueError as exc:  # json.JSONDecodeError included
        raise InvalidInputError(f"invalid JSON: {exc}", hint="send one valid JSON value") from exc
    # Paired \uD83D\uDE00 escapes decode to one character; a lone one survives as a surrogate.
    if _SURROGATE_ESCAPE.search(text) is not None and not _all_text_valid(value):
        raise _surrogate_error()
    return value


def _all_text_valid(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True
