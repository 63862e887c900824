"""The model lifecycle after training: aliases, deployments and human edits.

An **alias** (``production``, ``fraud-model@champion``) is a mutable name over an
immutable digest. Moving it is an ``alias.set`` journal entry with actor, time and reason;
lineage never stores the alias, only what it resolved to (``run.use("production")``
records the digest), and ``resolve_alias(name, at=...)`` answers what it pointed to at any
past moment. Protected aliases (``FOREBEAR_PROTECTED_ALIASES``, a comma list, default
``production``) move only with ``force=True`` and a reason; the check runs again inside
the write transaction, so two writers cannot both move one past the other.

A **deployment** is a ``deploy`` execution that uses the model (role ``model``) and
produces an ``endpoint`` artifact named after its target (id ``dataset:endpoint:<NAME>``),
so the serving endpoint is downstream of the model and of everything the model came from.

A **human edit** (a relabel, a hand-tuned weight) is a ``human_edit`` execution with the
person as actor, their reason, the before artifact as input (role ``before``) and the
after artifact as output (role ``after``).

Each of them names what it acts on by REF; a file the store never saw is hashed and
recorded rather than refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from forebear.errors import ConflictError, InvalidInputError, NotFoundError
from forebear.model.aliases import canonical_alias, new_alias_name
from forebear.model.entries import MAX_NAME, artifact_ref
from forebear.model.ids import format_time
from forebear.sdk._resolve import Target, hash_file_ref, resolve_artifact
from forebear.sdk.session import Session, session_for

if TYPE_CHECKING:
    from forebear.journal.keys import SigningKey

__all__ = [
    "DEFAULT_PROTECTED",
    "AliasRecord",
    "Deployment",
    "HumanEdit",
    "alias_history",
    "deploy",
    "human_edit",
    "protected_aliases",
    "resolve_alias",
    "set_alias",
    "show_alias",
]

DEFAULT_PROTECTED: Final = "production"
"""Protected aliases when ``FOREBEAR_PROTECTED_ALIASES`` is not set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasRecord:
    """One move of an alias: where it pointed from ``set_at`` on, who moved it and why."""

    name: str
    digest: str
    set_at: str
    actor: str | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        """The DESIGN.md shape: ``{"name", "digest", "set_at", "actor", "reason"}``."""
        return {"name": self.name, "digest": self.digest, "set_at": self.set_at,
                "actor": self.actor, "reason": self.reason}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AliasRecord:
        return cls(name=row["name"], digest=row["digest"], set_at=row["set_at"],
                   actor=row.get("actor"), reason=row.get("reason"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """A recorded deployment: its run, the model it serves and the endpoint artifact."""

    run_id: str
    model: str
    target: str
    endpoint: str
    """The endpoint artifact's id, ``dataset:endpoint:<target>``."""

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "model": self.model, "target": self.target,
                "endpoint": self.endpoint}


@dataclass(frozen=True, slots=True, kw_only=True)
class HumanEdit:
    """A recorded human edit: its run, who, why, and the before and after artifacts."""

    run_id: str
    actor: str
    reason: str
    before: str
    after: str

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "actor": self.actor, "reason": self.reason,
                "before": self.before, "after": self.after}


def protected_aliases(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The protected alias names: ``FOREBEAR_PROTECTED_ALIASES`` (comma list) or the default."""
    env = os.environ if environ is None else environ
    raw = env.get("FOREBEAR_PROTECTED_ALIASES")
    text = DEFAULT_PROTECTED if raw is None else raw
    return frozenset(canonical_alias(part.strip()) for part in text.split(",") if part.strip())


def _clean(value: str | None, what: str, *, required: bool = False) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInputError(f"{what} is required", hint=f"give --{what} TEXT")
        return None
    if len(text) > MAX_NAME or "\x00" in text:
        raise InvalidInputError(f"{what} must be at most {MAX_NAME} characters, without NUL")
    return text


def _check_move(
    name: str, previous: str | None, target: str, *, protected: frozenset[str], force: bool,
    reason: str | None,
) -> None:
    if name not in protected or previous is None or previous == target:
        return
    if not force:
        raise ConflictError(
            f"alias {name!r} is protected: it points at {previous}",
            hint="move it deliberately with --force and --reason TEXT",
        )
    if not reason:
        raise ConflictError(
            f"moving protected alias {name!r} needs a reason",
            hint="say why with --reason TEXT",
        )


def set_alias(
    name: str,
    ref: str | os.PathLike[str],
    *,
    reason: str | None = None,
    actor: str | None = None,
    force: bool = False,
    kind: str = "model",
    store: Any = None,
    environ: Mapping[str, str] | None = None,
) -> AliasRecord:
    """Point alias ``name`` at the artifact ``ref`` names; return the move as recorded.

    ``ref`` is a REF (path, alias, digest or prefix); a file the store never saw is
    recorded first (as ``kind``). Moving a protected alias needs ``force`` and ``reason``
    (ConflictError otherwise).
    """
    session = session_for(store)
    alias = new_alias_name(name)
    why = _clean(reason, "reason")
    who = _clean(actor, "actor") or session.actor
    target = resolve_artifact(session, ref, kind=kind)
    if target.digest is None:
        raise InvalidInputError(
            f"{os.fspath(ref)!r} names {target.id}, which has no content digest",
            hint="an alias points at a digest: give a model or dataset file, or its digest",
        )
    protected = protected_aliases(environ)
    current = _current(session, alias)
    _check_move(alias, current, target.digest, protected=protected, force=force, reason=why)
    entries: list[dict[str, Any]] = []
    if not target.known:
        entries.append(_artifact_entry(session, target))
    entry: dict[str, Any] = {
        "type": "alias.set",
        "time": format_time(session.clock()),
        "name": alias,
        "target": target.digest,
        "actor": who,
    }
    if why:
        entry["reason"] = why
    if current is not None and current != target.digest:
        entry["previous"] = current
    if force and alias in protected:
        entry["forced"] = True
    entries.append(entry)
    _append_checked(session, entries, alias, protected=protected, force=force, reason=why)
    return AliasRecord(name=alias, digest=target.digest, set_at=entry["time"], actor=who,
                       reason=why)


def _current(session: Session, alias: str) -> str | None:
    resolve = getattr(session.store, "resolve_alias", None)
    return None if resolve is None else resolve(alias)


def _artifact_entry(session: Session, target: Target) -> dict[str, Any]:
    return {"type": "artifact", "time": format_time(session.clock()), "artifact": target.ref}


def _append_checked(
    session: Session, entries: list[dict[str, Any]], alias: str, *, protected: frozenset[str],
    force: bool, reason: str | None,
) -> None:
    """Append, re-checking the protected-alias rule inside the write transaction."""
    from forebear.store.sql import SqlJournal

    store = session.store
    if not isinstance(store, SqlJournal) or alias not in protected:
        store.append_batch(entries)
        return
    from forebear.store.aliases import previous_target

    new_target = entries[-1]["target"]

    def recheck(cur: Any, seqs: range) -> None:
        previous = previous_target(cur, alias, seqs[-1], placeholder=store.placeholder)
        _check_move(alias, previous, new_target, protected=protected, force=force, reason=reason)

    store.append_batch(entries, before_commit=recheck)


def _alias_reader(session: Session, method: str) -> Any:
    reader = getattr(session.store, method, None)
    if reader is None:
        raise NotFoundError(
            f"this store ({getattr(session.store, 'url', '?')}) cannot read aliases",
            hint="use a sqlite:// or postgresql:// store",
        )
    return reader


def show_alias(
    name: str, at: str | datetime | None = None, *, store: Any = None
) -> AliasRecord | None:
    """Where alias ``name`` points now, or pointed at time ``at``; None if it did not exist."""
    session = session_for(store)
    row = _alias_reader(session, "alias_record")(canonical_alias(name), at=at)
    return None if row is None else AliasRecord.from_row(row)


def resolve_alias(
    name: str, at: str | datetime | None = None, *, store: Any = None
) -> str | None:
    """The digest alias ``name`` points at now, or pointed at at time ``at``.

    None when it was not set then, or when ``name`` cannot be an alias at all.
    """
    session = session_for(store)
    row = _alias_reader(session, "alias_record")(name, at=at)
    return None if row is None else str(row["digest"])


def alias_history(name: str, *, store: Any = None) -> list[AliasRecord]:
    """Every move of alias ``name``, oldest first."""
    session = session_for(store)
    rows = _alias_reader(session, "alias_history")(canonical_alias(name))
    return [AliasRecord.from_row(row) for row in rows]


# -- deployments and human edits ----------------------------------------------------------


def _execution(
    session: Session, *, kind: str, name: str, actor: str, reason: str | None,
    params: Mapping[str, Any], inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    now = format_time(session.clock())
    entry: dict[str, Any] = {
        "type": "execution",
        "run_id": session.new_id(),
        "kind": kind,
        "name": name,
        "time": now,
        "started_at": now,
        "status": "succeeded",
        "actor": actor,
        "params": dict(params),
        "inputs": inputs,
        "outputs": outputs,
    }
    if reason:
        entry["reason"] = reason
    return entry


def deploy(
    ref: str | os.PathLike[str],
    *,
    target: str,
    actor: str | None = None,
    reason: str | None = None,
    url: str | None = None,
    params: Mapping[str, Any] | None = None,
    store: Any = None,
) -> Deployment:
    """Record that the model ``ref`` names was deployed to ``target`` (an endpoint name).

    Writes one ``deploy`` execution: model in (role ``model``), an ``endpoint`` artifact
    named ``target`` out (``url`` is its address, if known).
    """
    session = session_for(store)
    name = _clean(target, "target", required=True)
    assert name is not None
    if any(ch.isspace() for ch in name):
        raise InvalidInputError(f"deployment target {name!r} contains whitespace",
                                hint="name the endpoint without spaces, e.g. fraud-api-prod")
    model = resolve_artifact(session, ref, kind="model")
    endpoint = artifact_ref(digest=None, kind="endpoint", role="endpoint", name=name,
                            namespace="endpoint", uri=url)
    entry = _execution(
        session, kind="deploy", name=name, actor=_clean(actor, "actor") or session.actor,
        reason=_clean(reason, "reason"), params={"target": name, **dict(params or {})},
        inputs=[{**model.ref, "role": "model"}], outputs=[endpoint],
    )
    session.store.append(entry)
    return Deployment(run_id=entry["run_id"], model=model.id, target=name,
                      endpoint=endpoint["id"])


def human_edit(
    *,
    before: str | os.PathLike[str],
    after: str | os.PathLike[str],
    actor: str,
    reason: str,
    name: str = "human_edit",
    kind: str | None = None,
    params: Mapping[str, Any] | None = None,
    store: Any = None,
    signing_key: SigningKey | None = None,
) -> HumanEdit:
    """Record a manual edit by ``actor`` from ``before`` (a REF) to ``after`` (a path).

    One ``human_edit`` execution: before in (role ``before``), after out (role ``after``,
    its bytes kept in the blob store); ``after`` takes ``before``'s kind unless ``kind``.
    With ``signing_key`` (the person's own key, named after them) the entry carries their
    signature of the edit (``forebear.sdk.signing``).
    """
    session = session_for(store)
    who = _clean(actor, "actor", required=True)
    why = _clean(reason, "reason", required=True)
    assert who is not None and why is not None
    old = resolve_artifact(session, before, kind=kind or "data", what="--before")
    after_text = os.fspath(after)
    if not os.path.exists(after_text):
        raise NotFoundError(f"--after {after_text!r}: no such file",
                            hint="write the edited file first, then record the edit")
    new = hash_file_ref(session, after_text, kind=kind or old.ref.get("kind") or "data")
    if new.digest == old.digest:
        raise InvalidInputError("before and after have the same content",
                                hint="an edit must change something; check the paths")
    entry = _execution(
        session, kind="human_edit", name=name, actor=who, reason=why,
        params=dict(params or {}),
        inputs=[{**old.ref, "role": "before"}], outputs=[{**new.ref, "role": "after"}],
    )
    if signing_key is not None:  # refused (another person's key) before anything is kept
        from forebear.sdk.signing import sign_entry

        sign_entry(entry, signing_key)
    blobs = session.blobs
    if blobs is not None and new.path and os.path.isfile(new.path) and new.digest \
            and new.digest not in session.stored_blobs:
        session.stored_blobs.add(str(blobs.put_file(new.path)))
    session.store.append(entry)
    return HumanEdit(run_id=entry["run_id"], actor=who, reason=why, before=old.id, after=new.id)
