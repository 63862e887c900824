"""OpenLineage RunEvents as forebear journal entries: the pure mapping.

The server journals an OpenLineage event exactly as it was received, in an ``openlineage``
entry (``{"type": "openlineage", "time": <received at>, "actor": ..., "event": {...}}``);
the projection of that entry is the list of execution entries ``to_entries`` maps it onto:

============================  ==========================================================
``eventType``                 entries
============================  ==========================================================
START, RUNNING, OTHER, none   ``execution.start`` (status stays as it is, ``running`` if new)
COMPLETE / FAIL / ABORT       ``execution.start`` (job identity, anchors) then
                              ``execution.end`` with status succeeded / failed / aborted
============================  ==========================================================

Events may arrive in any order, so the run's start is the earliest START's ``eventTime``,
or while no START has come, the earliest of any event's: the ``execution.start`` of an
event other than START says so with ``"start_guess": true``. Its end is likewise the
terminal event with the latest ``eventTime``, whatever came after it (see
``forebear.store.projection``). The run's kind is the ``forebear`` facet's ``kind`` or the
``jobType`` facet's ``jobType`` (lowercased); an event with neither says ``"kind": "job"``
with ``"kind_guess": true``, which names a run no event has typed and changes no kind
already known.

OpenLineage 2.x also has static events, DatasetEvent and JobEvent, which carry a dataset
or a job but no run: forebear records runs, so they map onto nothing. ``static_event_type``
tells them apart, for a caller to skip them (the server answers them 202, not recorded);
``to_entries`` refuses them.

The run id is ``run.runId`` (any UUID, lowercased); the job's namespace and name become
the execution's; ``eventTime`` (which must carry a time zone) is the client's claim of
when it happened and becomes the execution's start or end time, while the journal entry's
own ``time`` is the server's. Datasets become artifact refs: with a content digest when a
``forebear`` facet (``{"digest": "sha256:..."}``, on the dataset, input or output facets)
or the ``version`` facet's ``datasetVersion`` holds one, otherwise known by name alone
(id ``dataset:<namespace>:<name>``, digest null). The ``parent`` run facet gives
``parent_run_id``; ``sourceCodeLocation`` (job) and ``processing_engine`` (run) give the
code and environment anchors, whose digests are derived from the facet's identifying
fields; ``errorMessage`` gives the error and stack trace; ``tags`` gives tags; a
``forebear`` run or job facet may carry ``kind``, ``params`` and ``metrics``, and (from
``forebear export``) the run's ``code`` and ``environment`` records themselves, which
then stand instead of those derived from the standard facets.

Names are data, never paths: namespaces and names must be non-empty NFC text of at most
``MAX_NAME`` characters without control or format characters or surrounding spaces, so
one name has one spelling; they are otherwise kept exactly as sent (case included).
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from forebear import _canonical
from forebear.errors import InvalidInputError
from forebear.hashing import is_digest_text
from forebear.model.entries import MAX_NAME, artifact_ref
from forebear.model.ids import format_time

__all__ = [
    "DEFAULT_NAMESPACE",
    "MAX_DATASETS",
    "STATUS_OF",
    "check_name",
    "event_key",
    "event_namespace",
    "static_event_type",
    "to_entries",
]

STATUS_OF: Final[dict[str, str]] = {
    "COMPLETE": "succeeded",
    "FAIL": "failed",
    "ABORT": "aborted",
}
"""Terminal OpenLineage event types and the execution status they set."""

NON_TERMINAL: Final = frozenset({"START", "RUNNING", "OTHER"})
MAX_DATASETS: Final = 5000
"""Most inputs plus outputs one event may name."""
DEFAULT_NAMESPACE: Final = "forebear"
"""The namespace under which runs recorded without one appear to OpenLineage readers."""
FACET: Final = "forebear"
"""The custom facet (run, job, dataset, input or output) that carries forebear fields."""

_ERROR_LIMIT = 4096
_TRACE_LIMIT = 65536
_HINT = "send an OpenLineage 2-0-2 RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json)"


def _fail(what: str, hint: str = _HINT) -> InvalidInputError:
    return InvalidInputError(what, hint=hint)


def check_name(value: object, where: str, *, hint: str = _HINT) -> str:
    """``value`` if it is a name forebear accepts (see the module docstring); ``hint`` is
    the advice when it is missing or too long (the other refusals name their own fix)."""
    if not isinstance(value, str) or not value:
        raise _fail(f"{where} must be a non-empty string", hint)
    if len(value) > MAX_NAME:
        raise _fail(f"{where} is {len(value)} characters long; the limit is {MAX_NAME}", hint)
    if value != value.strip():
        raise _fail(f"{where} {value[:60]!r} has leading or trailing white space",
                    hint="strip the name")
    if value.isascii() and value.isprintable():
        return value  # the common case, decided without a per-character walk
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise _fail(
                f"{where} contains the character U+{ord(char):04X} ({category})",
                hint="names may not hold control, format, surrogate or unassigned characters",
            )
    if not unicodedata.is_normalized("NFC", value):
        raise _fail(f"{where} {value[:60]!r} is not in Unicode NFC form",
                    hint="normalise names to NFC before sending them")
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(f"{where} must be an object")
    return value


def _facet(facets: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    return _mapping(facets.get(key), f"{where}.{key}")


def _opt_text(value: object, where: str, limit: int = MAX_NAME) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"{where} must be a string")
    if "\x00" in value:
        raise _fail(f"{where} must not contain a NUL character")
    if len(value) > limit:
        raise _fail(f"{where} is {len(value)} characters long; the limit is {limit}")
    return value


def _claim(value: object) -> str | None:
    """A who or why that forebear's own facet claims, if it is text the journal takes; a
    claim that is not is left out, and the event stands on what it carries otherwise."""
    try:
        return _opt_text(value, "forebear facet")
    except InvalidInputError:
        return None


def run_id_of(event: object) -> str | None:
    """The run id forebear keeps for an event's ``run.runId`` (the UUID in canonical
    form), or None when it has none that ``to_entries`` would take."""
    run = event.get("run") if isinstance(event, dict) else None
    try:
        return _run_id(run.get("runId") if isinstance(run, dict) else None, "run.runId")
    except InvalidInputError:
        return None


def _run_id(value: object, where: str) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise _fail(f"{where} must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _fail(f"{where} {value[:64]!r} is not a UUID") from None


def _time(value: object) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise _fail("eventTime must be an RFC 3339 date-time string")
    text = value.strip()
    hint = "write times like 2026-01-01T00:00:00Z (RFC 3339, with an offset)"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        # Journaled events must stay mappable: what earlier versions took without an
        # offset (a date alone, "2026-01-01", shaped like one) is still taken, as UTC.
        if moment.tzinfo is None and len(text) > 6 and text[-6] in "+-":
            moment = moment.replace(tzinfo=UTC)
        utc = None if moment.tzinfo is None else format_time(moment)
    except (ValueError, OverflowError):
        raise _fail(f"eventTime {value!r} is not an RFC 3339 (ISO 8601) date-time",
                    hint) from None
    if utc is None:
        raise _fail(f"eventTime {value!r} has no time zone", hint)
    return utc


def _derived_digest(kind: str, fields: Mapping[str, Any]) -> str:
    # Anchors from OpenLineage facets have no content to hash: their identity is the facet's
    # identifying fields, hashed canonically and domain-separated by kind.
    data = _canonical.canonical_bytes({"anchor": kind, "source": "openlineage", **fields})
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _code(job_facets: Mapping[str, Any]) -> dict[str, Any] | None:
    facet = _facet(job_facets, "sourceCodeLocation", "job.facets")
    if not facet:
        return None
    where = "job.facets.sourceCodeLocation"
    fields = {
        key: _opt_text(facet.get(key), f"{where}.{key}")
        for key in ("type", "url", "repoUrl", "path", "version", "tag", "branch")
    }
    identity = {k: fields[k] for k in ("type", "url", "repoUrl", "path", "version")}
    remote = fields["repoUrl"] or fields["url"]
    commit = fields["version"]
    return {
        "digest": _derived_digest("code", identity),
        "name": f"{remote or 'source'}@{(commit or 'unversioned')[:12]}",
        "commit": commit,
        "branch": fields["branch"],
        "remote": remote,
        "dirty": None,
        "url": fields["url"],
        "path": fields["path"],
        "tag": fields["tag"],
        "vcs": fields["type"],
        "source": "openlineage",
    }


def _environment(run_facets: Mapping[str, Any]) -> dict[str, Any] | None:
    facet = _facet(run_facets, "processing_engine", "run.facets")
    if not facet:
        return None
    where = "run.facets.processing_engine"
    engine = _opt_text(facet.get("name"), f"{where}.name")
    version = _opt_text(facet.get("version"), f"{where}.version")
    adapter = _opt_text(facet.get("openlineageAdapterVersion"),
                        f"{where}.openlineageAdapterVersion")
    identity = {"engine": engine, "version": version, "adapter": adapter}
    return {
        "digest": _derived_digest("environment", identity),
        "name": f"{engine or 'engine'}-{version or 'unknown'}",
        "engine": engine,
        "engine_version": version,
        "openlineage_adapter": adapter,
        "source": "openlineage",
    }


def _record(ours: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The code or environment record forebear's own facet carries (an export's), if it
    is one the journal takes: an object with a digest, and a name if any that is text. A
    claim that is not is left out, as ``_claim``'s are."""
    record = ours.get(key)
    if not isinstance(record, dict) or not is_digest_text(record.get("digest")):
        return None
    name = record.get("name")
    if name is not None and _claim(name) is None:
        return None
    return dict(record)


def _numbers(value: object, where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, number in _mapping(value, where).items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise _fail(f"{where}.{key} must be a number")
        if not math.isfinite(number):
            raise _fail(f"{where}.{key} must be finite")
        out[key] = float(number)
    return out


def _tags(run_facets: Mapping[str, Any]) -> dict[str, Any]:
    facet = _facet(run_facets, "tags", "run.facets")
    items = facet.get("tags")
    if items is None:
        return {}
    if not isinstance(items, list):
        raise _fail("run.facets.tags.tags must be a list")
    tags: dict[str, Any] = {}
    for item in items:
        item = _mapping(item, "run.facets.tags.tags[]")
        key = _opt_text(item.get("key"), "run.facets.tags.tags[].key")
        if key:
            tags[key] = _opt_text(item.get("value"), "run.facets.tags.tags[].value")
    return tags


def _ours(facets: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    found = facets.get(FACET)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise _fail(f"{where}.{FACET} must be an object")
    return found


def _dataset(value: object, where: str, io_key: str, role: str) -> dict[str, Any]:
    dataset = _mapping(value, where)
    namespace = check_name(dataset.get("namespace"), f"{where}.namespace")
    name = check_name(dataset.get("name"), f"{where}.name")
    facets = _mapping(dataset.get("facets"), f"{where}.facets")
    io_facets = _mapping(dataset.get(io_key), f"{where}.{io_key}")
    extra = {**_ours(facets, f"{where}.facets"), **_ours(io_facets, f"{where}.{io_key}")}
    # Digests from the forebear facets and the version facet must agree.
    found: set[str] = set()
    for holder, source in ((facets, "facets"), (io_facets, io_key)):
        digest = holder.get(FACET, {}).get("digest") if holder else None
        if digest is not None:
            if not is_digest_text(digest):
                raise _fail(f"{where}.{source}.{FACET}.digest {str(digest)[:80]!r} is not a "
                            "digest", hint="digests are sha256:<64 lowercase hex>")
            found.add(digest)
    version = _facet(facets, "version", f"{where}.facets").get("datasetVersion") \
        if facets else None
    if version is not None:
        if not isinstance(version, str):
            raise _fail(f"{where}.facets.version.datasetVersion must be a string")
        if is_digest_text(version.lower()):
            found.add(version.lower())
    if len(found) > 1:
        raise _fail(f"{where} carries disagreeing digests: {', '.join(sorted(found))}",
                    hint="send one content digest per dataset")
    digest = found.pop() if found else None
    size = extra.get("size")
    if size is None and io_key == "outputFacets" and io_facets:
        size = _facet(io_facets, "outputStatistics", where).get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise _fail(f"{where}: size must be a non-negative integer")
    meta: dict[str, Any] = {"namespace": namespace}
    if version is not None and version.lower() != digest:
        meta["version"] = version[:MAX_NAME]
    kind = extra.get("kind")
    chosen_role = extra.get("role")
    return artifact_ref(
        digest=digest,
        kind=(_opt_text(kind, f"{where}.{FACET}.kind") if kind is not None else None)
        or "dataset",
        role=(_opt_text(chosen_role, f"{where}.{FACET}.role") if chosen_role is not None
              else None) or role,
        name=name,
        namespace=namespace,
        size=size,
        meta=meta,
    )


def _datasets(event: Mapping[str, Any], key: str, io_key: str, role: str) -> list[dict[str, Any]]:
    items = event.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _fail(f"{key} must be a list of datasets")
    return [_dataset(item, f"{key}[{i}]", io_key, role) for i, item in enumerate(items)]


def event_key(event_bytes: bytes) -> tuple[str, bytes]:
    """The idempotency key of an event from its canonical bytes (``ol:<sha256 hex>``), and
    the digest itself: one event, sent or imported twice, is journaled once."""
    digest = hashlib.sha256(event_bytes).digest()
    return f"ol:{digest.hex()}", digest


def event_namespace(event: object) -> str | None:
    """The job namespace of an event, or None when it has none (for token checks)."""
    if not isinstance(event, dict):
        return None
    job = event.get("job")
    namespace = job.get("namespace") if isinstance(job, dict) else None
    return namespace if isinstance(namespace, str) else None


STATIC_EVENTS: Final = ("DatasetEvent", "JobEvent")
"""The OpenLineage 2.x event types that describe lineage without a run."""


def static_event_type(event: object) -> str | None:
    """``"DatasetEvent"`` or ``"JobEvent"`` when ``event`` is one of OpenLineage's static
    events, which have no run and so no entries here; None for a RunEvent, or for what is
    no event at all (``to_entries`` then says what is wrong with it).

    As Marquez does, the ``schemaURL`` tells (``...OpenLineage.json#/$defs/DatasetEvent``;
    a URL that names neither means a RunEvent), and an event that has a ``run`` is taken as
    a RunEvent whatever its URL says: the server journaled such events before static ones
    were told apart, and a journaled event must stay mappable.
    """
    if not isinstance(event, dict) or "run" in event:
        return None
    url = event.get("schemaURL")
    if isinstance(url, str):
        for name in STATIC_EVENTS:
            if url.endswith(f"/{name}"):
                return name
    return None


def to_entries(event: object, *, actor: str | None = None) -> list[dict[str, Any]]:
    """The execution entries an OpenLineage RunEvent stands for (see the module docstring).

    Raises InvalidInputError naming the first field that cannot be mapped, or saying that
    a static event (see ``static_event_type``) has no run.
    """
    if not isinstance(event, dict):
        raise _fail("an OpenLineage event must be a JSON object")
    static = static_event_type(event)
    if static is not None:
        raise _fail(f"a {static} has no run: forebear records runs",
                    hint="skip DatasetEvents and JobEvents (static lineage); send RunEvents")
    event_type = event.get("eventType")
    if event_type is not None and event_type not in NON_TERMINAL and event_type not in STATUS_OF:
        raise _fail(f"unknown eventType {str(event_type)[:40]!r}",
                    hint="use START, RUNNING, COMPLETE, FAIL, ABORT or OTHER")
    run = _mapping(event.get("run"), "run")
    job = _mapping(event.get("job"), "job")
    if not run:
        raise _fail("the event has no run", hint="only RunEvents are accepted here")
    if not job:
        raise _fail("the event has no job")
    run_id = _run_id(run.get("runId"), "run.runId")
    namespace = check_name(job.get("namespace"), "job.namespace")
    name = check_name(job.get("name"), "job.name")
    when = _time(event.get("eventTime"))
    run_facets = _mapping(run.get("facets"), "run.facets")
    job_facets = _mapping(job.get("facets"), "job.facets")
    ours = {**_facet(job_facets, FACET, "job.facets"), **_facet(run_facets, FACET, "run.facets")}
    job_type = _facet(job_facets, "jobType", "job.facets").get("jobType")
    kind = _opt_text(ours.get("kind"), "forebear.kind") or (
        job_type.lower() if isinstance(job_type, str) and job_type else None
    )
    inputs = _datasets(event, "inputs", "inputFacets", "input")
    outputs = _datasets(event, "outputs", "outputFacets", "output")
    if len(inputs) + len(outputs) > MAX_DATASETS:
        raise _fail(f"the event names {len(inputs) + len(outputs)} datasets; the limit is "
                    f"{MAX_DATASETS}", hint="split the run's datasets over several events")
    start: dict[str, Any] = {
        "type": "execution.start",
        "run_id": run_id,
        "kind": check_name(kind[:MAX_NAME], "kind") if kind else "job",
        "name": name,
        "namespace": namespace,
        "time": when,
        # Who ran it, as the event claims (forebear's own facet, from an export), else
        # who sent it; a server keeps the token it came through in submitted_by.
        "actor": _claim(ours.get("actor")) or actor
        or _opt_text(event.get("producer"), "producer") or "openlineage",
        "params": dict(_mapping(ours.get("params"), "forebear.params")),
        "tags": _tags(run_facets),
    }
    if not kind:
        # No event-given kind: "job" names the run until an event types it, and changes
        # no kind another event gave (see forebear.store.projection).
        start["kind_guess"] = True
    reason = _claim(ours.get("reason"))
    if reason:
        start["reason"] = reason
    if event_type != "START":
        start["start_guess"] = True
    parent = _facet(run_facets, "parent", "run.facets")
    if parent:
        parent_run = _mapping(parent.get("run"), "run.facets.parent.run")
        start["parent_run_id"] = _run_id(parent_run.get("runId"), "run.facets.parent.run.runId")
    # A forebear export names the run's code and environment nodes themselves, as inputs
    # in those roles, and carries the records in its own facet: the records come back as
    # they were, and no second node is derived from the standard facets beside them.
    anchored = {ref.get("role") for ref in inputs}
    code = _record(ours, "code") or (None if "code" in anchored else _code(job_facets))
    if code is not None:
        start["code"] = code
    environment = _record(ours, "environment") or (
        None if "environment" in anchored else _environment(run_facets))
    if environment is not None:
        start["environment"] = environment
    metrics = _numbers(ours.get("metrics"), "forebear.metrics")
    if event_type not in STATUS_OF:
        # Metrics belong to a finished run: a non-terminal event's are kept only in the
        # journal's copy of the event.
        start["inputs"], start["outputs"] = inputs, outputs
        return [start]
    end: dict[str, Any] = {
        "type": "execution.end",
        "run_id": run_id,
        "status": STATUS_OF[event_type],
        "kind": start["kind"],
        "name": name,
        "time": when,
        "inputs": inputs,
        "outputs": outputs,
    }
    if metrics:
        end["metrics"] = metrics
    error = _facet(run_facets, "errorMessage", "run.facets")
    if error:
        message = error.get("message")
        trace = error.get("stackTrace")
        if isinstance(message, str) and message:
            end["error"] = message[:_ERROR_LIMIT].replace("\x00", "")
        if isinstance(trace, str):
            end["traceback"] = trace[-_TRACE_LIMIT:].replace("\x00", "")
    return [start, end]
