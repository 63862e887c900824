"""Alias names: the one canonical form a mutable name may take.

An alias (``production``, ``fraud-model@champion``) is typed by people, pasted from chat
and compared byte for byte by the store, so two names that look the same must be the same
name. The canonical form is Unicode NFC; a name must not contain whitespace, control or
format characters (zero-width spaces and joiners, bidi overrides, byte-order marks are
format characters), surrogates, private-use or unassigned code points; it must not start
with ``-`` (it would read as a command-line option) and must not look like a digest or
a run id (REF resolution tries aliases first, so such a name would shadow the real one).
Its ``/``-separated parts must not be empty, ``.`` or ``..``: such a name reads as a
folder on the command line (where a path wins over an alias) and is rewritten by every
HTTP client on its way to a server's ``/api/v1/aliases/NAME``.

``canonical_alias`` normalizes to NFC and then checks; the journal accepts only names
already in canonical form (``check_canonical``), so the record never holds two spellings.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from forebear.errors import InvalidInputError

__all__ = ["MAX_ALIAS", "canonical_alias", "check_canonical", "new_alias_name"]

MAX_ALIAS: Final = 200
"""Longest alias name, in code points."""

# Unicode general categories refused anywhere in a name.
_REFUSED: Final = {
    "Cc": "a control character",
    "Cf": "an invisible format character (zero-width, bidi or byte-order mark)",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zs": "whitespace",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
_HINT: Final = "use letters, digits and punctuation such as - _ . / @ : (e.g. fraud-model@champion)"


def canonical_alias(name: object) -> str:
    """``name`` in canonical form (NFC); InvalidInputError naming what is wrong otherwise."""
    if not isinstance(name, str):
        raise InvalidInputError("an alias name must be a string", hint=_HINT)
    text = unicodedata.normalize("NFC", name)
    if not text:
        raise InvalidInputError("an alias name must not be empty", hint=_HINT)
    if len(text) > MAX_ALIAS:
        raise InvalidInputError(
            f"alias name is {len(text)} characters, over the limit of {MAX_ALIAS}", hint=_HINT
        )
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        what = _REFUSED.get(category)
        if what is None and char.isspace():
            what = "whitespace"
        if what is not None:
            label = unicodedata.name(char, "")
            shown = f"U+{ord(char):04X}" + (f" {label}" if label else "")
            raise InvalidInputError(
                f"alias name {text[:40]!r} contains {what} ({shown}) at position {position}",
                hint=_HINT,
            )
    if text.startswith("-"):
        raise InvalidInputError(f"alias name {text[:40]!r} starts with '-'", hint=_HINT)
    if any(part in ("", ".", "..") for part in text.split("/")):
        raise InvalidInputError(
            f"alias name {text[:40]!r} has an empty, '.' or '..' part between slashes",
            hint=_HINT,
        )
    from forebear.hashing import is_digest_text
    from forebear.model.ids import is_run_id

    lowered = text.lower()
    if is_digest_text(lowered) or lowered.startswith(("sha256:", "blake3:", "dataset:")):
        raise InvalidInputError(
            f"alias name {text[:40]!r} looks like an artifact id", hint=_HINT
        )
    if is_run_id(lowered):
        raise InvalidInputError(f"alias name {text[:40]!r} looks like a run id", hint=_HINT)
    return text


# Hex digits (and a run id's dashes), at least a digest prefix's eight: a REF of that
# shape is tried as an alias before a prefix, so an alias so named would stand in for
# whatever artifact or run that prefix names.
_PREFIX_SHAPED: Final = re.compile(r"[0-9a-f-]*(?:[0-9a-f]-*){8}[0-9a-f-]*")


def new_alias_name(name: object) -> str:
    """``canonical_alias``, refusing as well a name shaped like a digest or run id prefix
    (for a name being set; names already journaled stay readable)."""
    text = canonical_alias(name)
    if _PREFIX_SHAPED.fullmatch(text.lower()):
        raise InvalidInputError(
            f"alias name {text[:40]!r} looks like a digest or run id prefix, which it would "
            "stand in for", hint=_HINT)
    return text


def check_canonical(name: object) -> None:
    """Refuse a name that is not already in canonical form (what the journal accepts)."""
    text = canonical_alias(name)
    if text != name:
        raise InvalidInputError(
            f"alias name {str(name)[:40]!r} is not in Unicode NFC",
            hint="normalize it with unicodedata.normalize('NFC', name) before journaling",
        )
