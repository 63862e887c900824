"""``export --format openlineage --to URL``: the events POSTed one by one, as OpenLineage's
own HTTP transport sends them (``POST <url>/<endpoint>``, JSON, ``Authorization: Bearer
<api key>``), so any OpenLineage consumer takes them: Marquez, DataHub, another forebear.

A server error or a dropped connection is tried again a few times with a growing pause
(the events are idempotent: a run's START or COMPLETE sent twice is the same fact); a
refusal (4xx) stops at that event with the server's reason, saying how many were taken.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

from forebear._http import HttpClient, refusal, retry_later
from forebear.errors import AuthError, InvalidInputError, TransportError, UsageError

__all__ = ["check_url", "send_events"]

_PAUSES = (0.5, 1.0, 2.0, 4.0)  # before each new try of one event


def send_events(
    events: Sequence[Any],
    url: str,
    *,
    endpoint: str = "api/v1/lineage",
    api_key: str | None = None,
    timeout: float = 30.0,
    advance: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST each event to ``url``/``endpoint``; the number sent (all of them, or raises)."""
    check_url(url)
    path = "/" + endpoint.strip("/")
    client = HttpClient(url, api_key, timeout, headers={"User-Agent": "forebear-export"},
                        name="the OpenLineage consumer", hint="check that it is up")
    try:
        for sent, event in enumerate(events):
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            _send_one(client, path, body, sleep, where=f"event {sent + 1} of "
                      f"{len(events)} ({event.get('eventType')} of run "
                      f"{event.get('run', {}).get('runId')}) to {client.url}{path}",
                      sent=sent)
            if advance is not None:
                advance()
    finally:
        client.close_all()
    return len(events)


def check_url(url: str) -> SplitResult:
    """``url``'s parts if it can take events; UsageError naming the fix otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--to {url!r} is not an http(s) URL",
                         hint="give the consumer's base URL, e.g. http://marquez:5000")
    return parts


def _send_one(client: HttpClient, path: str, body: bytes, sleep: Callable[[float], None],
              *, where: str, sent: int) -> None:
    taken = f"{sent} sent before it"
    for attempt in range(len(_PAUSES) + 1):
        try:
            status, answer = client.request("POST", path, body=body)
        except TransportError as exc:  # the next request reconnects
            status, answer = 0, exc.message.encode()
        if 200 <= status < 300:
            return
        again = retry_later(status)
        if not again or attempt == len(_PAUSES):
            break
        sleep(_PAUSES[attempt])
    reason = refusal(status, answer) if status else answer.decode()
    if status in (401, 403):
        raise AuthError(f"{where} was refused: {reason} ({taken})",
                        hint="set OPENLINEAGE_API_KEY to a key the consumer accepts")
    if not again:
        raise InvalidInputError(f"{where} was refused: {reason} ({taken})",
                                hint="check the consumer's OpenLineage version and URL")
    raise TransportError(f"{where} failed: {reason} ({taken})",
                         hint="check that the consumer is up, then export again: sending "
                         "an event twice is harmless")
