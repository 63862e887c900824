"""Alias names: one canonical form, everything else refused with a clear error."""

from __future__ import annotations

import pytest

from forebear.errors import InvalidInputError
from forebear.model.aliases import canonical_alias, check_canonical
from forebear.model.entries import validate_entry


@pytest.mark.parametrize(
    "name",
    ["production", "fraud-model@champion", "team/ctr:latest", "modèle", "v1.2_rc", "...",
     "team/.hidden", "v..2"],
    ids=["plain", "at", "slash-colon", "accented", "dots", "three-dots", "dot-name",
         "double-dot-inside"],
)
def test_good_names_are_kept(name: str) -> None:
    assert canonical_alias(name) == name


def test_decomposed_text_is_normalized_to_nfc() -> None:
    assert canonical_alias("mode\u0300le") == "mod\u00e8le"
    with pytest.raises(InvalidInputError, match="NFC"):
        check_canonical("mode\u0300le")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("prod uction", "whitespace"),
        ("prod\tuction", "control"),
        ("prod\u200buction", "invisible"),
        ("prod\u200duction", "invisible"),
        ("\ufeffproduction", "invisible"),
        ("prod\u202euction", "invisible"),
        ("prod\u00a0uction", "whitespace"),
        ("prod\u2028uction", "line separator"),
        ("-production", "starts with"),
        ("sha256:" + "a" * 64, "artifact id"),
        ("0190a6e4-0d3c-7abc-8def-0123456789ab", "run id"),
        ("x" * 201, "over the limit"),
        ("..", "'..' part"),
        (".", "'..' part"),
        ("team/../prod", "'..' part"),
        ("team/./prod", "'..' part"),
        ("/prod", "empty"),
        ("team//prod", "empty"),
        ("team/", "empty"),
    ],
    ids=["empty", "space", "tab", "zwsp", "zwj", "bom", "bidi", "nbsp", "line-sep", "dash",
         "digest", "run-id", "long", "dotdot", "dot", "dotdot-part", "dot-part",
         "leading-slash", "double-slash", "trailing-slash"],
)
def test_bad_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        canonical_alias(name)


def test_the_journal_refuses_a_non_canonical_alias_entry() -> None:
    entry = {"type": "alias.set", "time": "2026-01-01T00:00:00.000000Z", "name": "prod\u200b",
             "target": "sha256:" + "a" * 64, "actor": "me"}
    with pytest.raises(InvalidInputError, match="invisible"):
        validate_entry(entry)
