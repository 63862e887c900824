"""How the clients of a forebear server read its answers: error classes, refusal lines,
and which refusals are worth sending again (events and blobs decide alike)."""

from __future__ import annotations

import json

import pytest

from forebear._http import error_from_response, refusal, retry_later
from forebear.errors import (
    AmbiguousRefError,
    AuthError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    TransportError,
)


def _body(message: str, **extra: object) -> bytes:
    return json.dumps({"error": {"message": message, **extra}}).encode()


@pytest.mark.parametrize(("status", "cls"), [
    (404, NotFoundError), (401, AuthError), (403, AuthError), (400, InvalidInputError),
    (413, InvalidInputError), (503, StoreError), (500, TransportError),
])
def test_errors_keep_the_servers_message_and_hint(status: int, cls: type) -> None:
    error = error_from_response(status, _body("no such run", hint="run `forebear log`"))
    assert type(error) is cls and "no such run" in str(error)
    assert error.hint == "run `forebear log`"


def test_an_ambiguous_ref_carries_its_candidates() -> None:
    error = error_from_response(400, _body("ambiguous", candidates=["sha256:ab", "sha256:ac"]))
    assert isinstance(error, AmbiguousRefError)
    assert error.candidates == ["sha256:ab", "sha256:ac"]


def test_a_body_that_is_not_the_servers_json_is_quoted_short() -> None:
    page = b"<html>" + b"x" * 1000 + b"</html>"
    assert len(str(error_from_response(502, page))) < 300
    assert refusal(413, b"  too big \n") == "HTTP 413: too big"
    assert refusal(400, b"") == "HTTP 400"
    assert refusal(400, _body("bad event: eventTime missing")) == (
        "HTTP 400: bad event: eventTime missing")


@pytest.mark.parametrize("status", [0, 408, 429, 500, 502, 503, 504])
def test_what_may_work_later_is_kept(status: int) -> None:
    assert retry_later(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 415, 422])
def test_what_is_refused_for_good_is_not_sent_again(status: int) -> None:
    assert not retry_later(status)
