"""OpenLineage input that was refused with the wrong words, or refused at all: event files
with a byte order mark, event times that are not timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forebear.errors import InvalidInputError
from forebear.importers.openlineage import read_events
from forebear.model.openlineage import to_entries
from forebear.store.registry import init_store
from tests.clikit import cli_ok
from tests.serverkit import ol_event

RUN = "01a217de-8245-7ff6-8ad3-a684e4514601"


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_an_event_file_may_start_with_a_byte_order_mark(newline: str) -> None:
    lines = [json.dumps(ol_event(kind, RUN)) for kind in ("START", "COMPLETE")]
    text = "\ufeff" + newline.join(lines) + newline
    assert [where for where, _ in read_events("bom.jsonl", text)] == ["bom.jsonl:1",
                                                                      "bom.jsonl:2"]
    array = "\ufeff" + json.dumps([ol_event("START", RUN)])
    assert len(read_events("bom.json", array)) == 1


def test_forebear_import_reads_a_file_saved_with_a_byte_order_mark(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    path = project_dir / "bom.jsonl"
    path.write_text(json.dumps(ol_event("START", RUN)) + "\n", encoding="utf-8-sig")
    report = cli_ok(capsys, "import", "openlineage", str(path), "--json")
    assert report["imported"] == 1


@pytest.mark.parametrize("when", ["yesterday", "", "2026-13-01T00:00:00Z", "noon+01:00",
                                  "12:00:00Z"])
def test_an_event_time_that_is_no_timestamp_is_named_so(when: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        to_entries(ol_event("START", RUN, eventTime=when))
    assert "is not an RFC 3339 (ISO 8601) date-time" in caught.value.message
    assert "time zone" not in caught.value.message
    assert "2026-01-01T00:00:00Z" in caught.value.hint


def test_a_timestamp_without_an_offset_is_told_to_add_one() -> None:
    with pytest.raises(InvalidInputError) as caught:
        to_entries(ol_event("START", RUN, eventTime="2026-01-01T00:00:00"))
    assert caught.value.message == "eventTime '2026-01-01T00:00:00' has no time zone"
    [start] = to_entries(ol_event("START", RUN, eventTime="2026-01-01T01:00:00+01:00"))
    assert start["time"] == "2026-01-01T00:00:00.000000Z"


def test_a_date_alone_is_still_midnight_utc_so_journaled_events_stay_mappable() -> None:
    # Earlier versions journaled such events: their projection must not start failing.
    [start] = to_entries(ol_event("START", RUN, eventTime="2026-01-01"))
    assert start["time"] == "2026-01-01T00:00:00.000000Z"
