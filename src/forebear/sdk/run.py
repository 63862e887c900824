"""``forebear.run``: a tracked execution with no manual logging (``@forebear.track`` is
in ``forebear.sdk.track``).

A run writes two journal entries: ``execution.start`` when it begins (code and
environment anchors, parameters, actor) and ``execution.end`` when it ends (status,
metrics, every input and output, the error and traceback of a failed run). A crash
mid-run still leaves the started execution on record.

Durability: on the embedded SQLite store the start entry commits with
``synchronous=NORMAL`` (``SqliteStore.append_relaxed``): it survives a crash of the
process at once, and a power loss from the next durable commit on, at the latest the
run's own end entry, which commits with ``synchronous=FULL`` after every output blob is
durable (fsynced and renamed into place, its folder fsynced). Every head is signed.

Inside the run, files the process reads are inputs and files it writes are outputs
(``forebear.capture.files``), hashed when the run ends.

A metric history (``log_metrics(..., step=)``) goes into the end entry while it is short
(up to ``_INLINE_HISTORY`` bytes as JSON); a longer one (a loss logged every batch of a
long training) would make the entry too large to journal, so it is stored as a blob,
``{"metric_steps": [[key, step, value], ...]}`` in canonical JSON, and recorded as an
output of the run (kind ``metrics``, role ``metric_history``, named
``<run name>.metric-history.json``); the end entry keeps the last value of each metric.

A run records only between its start and its end: logging to a run never started, or
to one that has ended, is a ``UsageError`` (its values would silently never reach the
store). Inputs may be declared before the start (``forebear exec --input`` does).
"""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, SupportsFloat, SupportsIndex

from forebear._canonical import canonical_bytes
from forebear.capture.files import FileCapture, real_path, uncaptured
from forebear.capture.live import EXEC_MADE_ENV, EXEC_RUN_ENV, LiveWrites, process_list
from forebear.errors import ForebearError, InvalidInputError, NotFoundError, UsageError
from forebear.hashing import is_digest_text
from forebear.model.entries import artifact_ref
from forebear.model.ids import format_time
from forebear.sdk._capture_setup import new_capture, new_watch
from forebear.sdk._names import display_name, guess_kind
from forebear.sdk._resolve import query
from forebear.sdk._values import (
    append_as_unicode,
    clean_text,
    escape_surrogates,
    metric_key,
    metric_number,
    metric_step,
    safe_mapping,
    too_large,
)
from forebear.sdk.anchors import code_record, environment_record
from forebear.sdk.artifact import Artifact
from forebear.sdk.session import Session, session_for

# The active runs, innermost last. A context variable, not a thread-local: asyncio tasks
# each get their own copy, so two tracked coroutines run with gather() are siblings under
# the run that started them, never one nested in the other.
_active: ContextVar[tuple[Run, ...]] = ContextVar("forebear_active_runs", default=())

# Runs watching the working tree now, in any thread. A file that a run nested in another
# (or running beside it) records as its output is that run's: the outer one's watch sees
# it appear too, but leaves it to its maker unless it changed again since, as the audit
# hook already does (only the innermost capture records an open).
_watching: weakref.WeakSet[Run] = weakref.WeakSet()  # a run never ended is not kept alive
_watching_lock = threading.Lock()
# Runs capturing now, in any thread. A file that one of them was seen writing (by its
# audit hook) is that run's, even while it is still going: another run that ends first
# must not claim it because its watch saw it appear.
_capturing: weakref.WeakSet[Run] = weakref.WeakSet()


def _written_by(captures: list[FileCapture]) -> set[str]:
    """What ``captures`` were seen writing (so far, or in all if they have stopped)."""
    found: set[str] = set()
    for capture in captures:
        found |= capture.written()
    return found


def _tell_exec(paths: Iterable[str]) -> None:
    """Append ``paths`` to the exec run's list of files its nested runs made, if any."""
    where = os.environ.get(EXEC_MADE_ENV)
    lines = "".join(f"{path}\n" for path in paths)
    if not where or not lines:
        return
    try:
        fd = os.open(where, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, lines.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)
    except OSError:
        pass  # the exec run may claim them too; the run's own record is what matters


def _published() -> LiveWrites | None:
    """This process's list of published writes (``forebear.capture.live``), or None
    where one cannot be made (no temporary folder to write to)."""
    try:
        return process_list()
    except OSError:
        return None


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def current_run() -> Run | None:
    """The innermost active run of this thread (or asyncio task), if any."""
    stack = _active.get()
    return stack[-1] if stack else None


def end_on_exit(
    end: Callable[..., None],
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """End a tracked block from its ``__exit__``: the status, error and traceback it left.

    An exception is ``failed``, and so is ``sys.exit`` with a non-zero code (as a command
    under ``forebear exec`` that exits so is); ``KeyboardInterrupt``, a generator closed
    before its end and a cancelled task are ``aborted``; ``sys.exit(0)`` is a success.
    Recording never masks the user's exception.
    """
    if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
        end("succeeded")
        return
    stopped: tuple[type[BaseException], ...] = (KeyboardInterrupt, GeneratorExit)
    asyncio = sys.modules.get("asyncio")  # a task can only be cancelled if it is loaded
    if asyncio is not None:
        stopped += (asyncio.CancelledError,)
    status = "aborted" if isinstance(exc, stopped) else "failed"
    said = str(exc)
    try:
        end(status, error=f"{type(exc).__name__}: {said}" if said else type(exc).__name__,
            traceback_text="".join(traceback.format_exception(exc_type, exc, tb)))
    except Exception as record_error:
        sys.stderr.write(f"forebear: could not record the failed run: {record_error}\n")


class Run:
    """One tracked execution; use it as a context manager (see ``forebear.run``)."""

    def __init__(
        self,
        name: str,
        *,
        kind: str = "run",
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        store: Any = None,
        actor: str | None = None,
        reason: str | None = None,
        capture: bool = True,
        watch: str | os.PathLike[str] | bool | None = True,
        code: bool = True,
        environment: bool = True,
        entry_point: str | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise InvalidInputError("a run needs a name", hint='forebear.run("train", ...)')
        self.params: dict[str, Any] = safe_mapping(params, "params", 'params={"lr": 0.1}')
        self.tags: dict[str, Any] = safe_mapping(tags, "tags", 'tags={"team": "fraud"}')
        self.name = name
        self.kind = kind
        self.session: Session = session_for(store)
        self.run_id = self.session.new_id()
        self.actor = actor or self.session.actor
        self.reason = reason
        self.metrics: dict[str, float | str] = {}
        self.status = "running"
        self._late_params: dict[str, Any] = {}
        self._metric_steps: list[list[Any]] = []
        self._inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self._outputs: dict[tuple[str, str], dict[str, Any]] = {}
        self._produced_paths: set[str] = set()
        self._used_paths: set[str] = set()
        self._made_elsewhere: dict[str, tuple[int, int, int] | None] = {}
        self._live: LiveWrites | None = None  # this process's published writes (start())
        self._watch_since = 0
        self._rewritten_paths: set[str] = set()  # read, then overwritten by the run
        self._capture = new_capture(self.session) if capture else None
        watch_dir = os.getcwd() if watch is True else (None if watch in (False, None) else watch)
        self._watch = new_watch(os.fspath(watch_dir), self.session.ignore_globs) \
            if watch_dir else None
        self._want_code = code
        self._want_env = environment
        self._entry_point = entry_point
        self.child_environment: dict[str, Any] | None = None
        self.parent: Run | None = None
        self._started = False
        self._ended = False
        self.exit_code: int | None = None

    # -- lifecycle ----------------------------------------------------------------
    def __enter__(self) -> Run:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end_on_exit(self.end, exc_type, exc, tb)

    def start(self) -> None:
        """Write the ``execution.start`` entry (done by ``with``)."""
        if self._ended:
            raise UsageError(f"run {self.name!r} has ended and cannot start again",
                             hint="start a new one: with forebear.run(...) as run:")
        if self._started:
            return
        stack = _active.get()
        self.parent = stack[-1] if stack else None
        session = self.session
        entry: dict[str, Any] = {
            "type": "execution.start",
            "run_id": self.run_id,
            "kind": self.kind,
            "name": self.name,
            "time": format_time(session.clock()),
            "actor": self.actor,
            "params": self.params,
            "tags": self.tags,
        }
        if self.reason:
            entry["reason"] = self.reason
        if self.parent is not None:
            entry["parent_run_id"] = self.parent.run_id
        elif os.environ.get(EXEC_RUN_ENV):  # a run in a command `forebear exec` started
            entry["parent_run_id"] = os.environ[EXEC_RUN_ENV]
        if self._want_code:
            record = code_record(session, entry=self._entry_point)
            if record:
                entry["code"] = record
        if self._want_env:
            entry["environment"] = environment_record(session)
        # The start entry needs to outlive a crash of this process, not a power loss: the
        # run's end entry commits durably (fsync) and carries it along. A store that has
        # no relaxed append commits it durably.
        append = getattr(session.store, "append_relaxed", None) or session.store.append
        try:
            append_as_unicode(append, entry)
        except InvalidInputError as exc:
            raise too_large(entry, exc) from None
        self._started = True
        _active.set((*stack, self))
        if self._watch is not None:
            # Watching first, then the snapshot: a run that ends in between hands this one
            # the files it made, which the snapshot may have missed.
            with _watching_lock:
                _watching.add(self)
            self._watch_since = time.time_ns()
            if self._capture is not None:
                self._live = _published()
            self._watch.start()
        if self._capture is not None:
            self._capture.start()
            with _watching_lock:
                _capturing.add(self)

    def end(
        self,
        status: str = "succeeded",
        *,
        error: str | None = None,
        traceback_text: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Write the ``execution.end`` entry (done by ``with``)."""
        if self._ended:
            return
        if not self._started:
            raise UsageError(f"run {self.name!r} was never started: there is nothing to end",
                             hint="use `with forebear.run(...) as run:`")
        self._ended = True
        stack = _active.get()
        if self in stack:
            _active.set(tuple(run for run in stack if run is not self))
        captured = self._capture.stop() if self._capture is not None else None
        if captured is not None:
            self.record_found(reads=captured.reads, writes=captured.writes,
                              read_at=captured.read_at, rewritten=captured.rewritten)
        if self._watch is not None:
            # What the run recorded already (produced, or captured just above) is its.
            changed = [p for p in self._watch.changed() if p not in self._produced_paths]
            # One step: stop being told of others' files, and take the runs capturing
            # now. A run ending beside this one either handed its files over before
            # (they are in `elsewhere`) or is still among `capturing`, whose capture
            # answers what it wrote even once stopped. Files another run's own watch
            # found (a native writer's) are in neither until that run hands them over:
            # two runs ending at that moment may both record such a file.
            with _watching_lock:
                _watching.discard(self)
                elsewhere, self._made_elsewhere = self._made_elsewhere, {}
                capturing = [run._capture for run in _capturing
                             if run is not self and run._capture is not None]
            theirs = _written_by(capturing) if changed and capturing else set()
            found = [path for path in changed if path not in theirs
                     and (path not in elsewhere or _stamp(path) != elsewhere[path])]
            if self._live is not None and found:
                # What another process was seen writing meanwhile (a sibling trial in a
                # process pool) is its own run's, not this one's.
                found = self._live.mine(found, since=self._watch_since)
            self.record_found(writes=found)
        self._hand_outputs_to_watchers()
        _tell_exec(self._produced_paths)
        steps, history = self._metric_history()
        if history is not None:
            self._outputs[(history["id"], "metric_history")] = history
        self.status = status
        entry: dict[str, Any] = {
            "type": "execution.end",
            "run_id": self.run_id,
            "status": status,
            "time": format_time(self.session.clock()),
        }
        if self._late_params:
            entry["params"] = self._late_params
        if self.child_environment is not None:
            entry["environment"] = self.child_environment
        if self.metrics:
            entry["metrics"] = self.metrics
        if steps:
            entry["metric_steps"] = steps
        if self.tags:
            entry["tags"] = self.tags
        inputs, outputs = _without_copies(self._inputs, self._outputs)
        if inputs:
            entry["inputs"] = inputs
        if outputs:
            # Said of each output whose bytes went to the blob store, so that `verify
            # --blobs` can tell a blob gone missing from one never stored (a directory,
            # store_blob=False, no blob store).
            refused = {str(d) for d, _ in getattr(self.session.blobs, "refused", ())}
            stored = self.session.stored_blobs - refused
            entry["outputs"] = [{**ref, "stored": True} if ref["digest"] in stored else ref
                                for ref in outputs]
        # A NUL (from a program's output) is shown as U+FFFD: the journal refuses NULs, and
        # losing the run's end over one character of its error would be worse.
        if error is not None:
            entry["error"] = clean_text(error[:4096])
        if traceback_text is not None:
            entry["traceback"] = clean_text(traceback_text[-65536:])
        if exit_code is not None:
            entry["exit_code"] = exit_code
            self.exit_code = exit_code
        try:
            append_as_unicode(self.session.store.append, entry)
        except InvalidInputError as exc:
            # What the run logged cannot be journaled. Its start is on record: end it as
            # failed, saying why, rather than leave it "running" forever; then raise.
            why = too_large(entry, exc)
            self.status = "failed"
            self.session.store.append({
                "type": "execution.end", "run_id": self.run_id, "status": "failed",
                "time": entry["time"],
                "error": clean_text(f"forebear could not record this run's end: {why}")[:4096],
            })
            if why is exc:
                raise
            raise why from None

    def _metric_history(self) -> tuple[list[list[Any]] | None, dict[str, Any] | None]:
        """The end entry's ``metric_steps``, or for a history too long for it the ref of
        the blob that holds it instead (see the module docstring)."""
        steps = self._metric_steps
        if len(steps) <= _INLINE_POINTS:  # short enough whatever its keys: not measured
            return steps or None, None
        try:
            data = canonical_bytes({"metric_steps": steps})
        except InvalidInputError:  # a key that is not Unicode, written out as journaled
            data = canonical_bytes({"metric_steps": escape_surrogates(steps)})
        if len(data) <= _INLINE_HISTORY:
            return steps, None
        blobs, digest = self.session.blobs, None
        if blobs is not None:
            try:
                digest = str(blobs.put_bytes(data))
            except (ForebearError, OSError) as exc:
                sys.stderr.write(f"forebear: could not store the metric history: {exc}\n")
        if digest is not None:
            self.session.stored_blobs.add(digest)
            return None, Artifact(digest=digest, kind="metrics",
                                  name=f"{self.name}.metric-history.json", size=len(data),
                                  role="metric_history").to_ref()
        if len(data) <= _NO_BLOB_HISTORY:  # no blob for it: in the entry, while it fits
            return steps, None
        sys.stderr.write(f"forebear: the metric history of run {self.name!r} "
                         f"({len(steps):,} points) is too long for its record and has no "
                         "blob store to go to: only each metric's last value is kept\n")
        return None, None

    def _hand_outputs_to_watchers(self) -> None:
        """Tell the runs watching the tree now which files this one made (see _watching),
        and stop being one of the runs capturing, in one step (see end())."""
        with _watching_lock:
            if not self._produced_paths or not any(run is not self for run in _watching):
                _capturing.discard(self)  # nobody to tell: no stat per output
                return
        # A run that starts watching from here on snapshots these files as they are.
        made = {path: _stamp(path) for path in self._produced_paths}
        with _watching_lock:
            for run in _watching:
                if run is not self:
                    run._made_elsewhere.update(made)
            _capturing.discard(self)

    def record_found(
        self,
        *,
        reads: Iterable[str] = (),
        writes: Iterable[str] = (),
        read_at: Mapping[str, int] | None = None,
        rewritten: Mapping[str, str | None] | None = None,
    ) -> None:
        """Record files found rather than declared (captured, watched, reported by a child).

        Paths are real paths. Reads are inputs, writes outputs; a file the run already
        recorded is not recorded again, and a file that vanished before the run ended is
        skipped. ``read_at`` and ``rewritten`` are ``forebear.capture.files.Captured``'s:
        a read file modified after it was first read is an input known by name only (its
        bytes now are not what was read), and a file read and then overwritten is an
        input with the digest it had when read as well as an output.
        """
        written = list(writes)
        skip = set(written)
        produced, used = self._produced_paths, self._used_paths
        read_at = read_at or {}
        rewritten = rewritten or {}
        cwd = os.getcwd()
        for path, digest in rewritten.items():
            self._rewritten_paths.add(path)
            if path not in produced and path not in used:
                self._use_as_read(path, digest, cwd)
        # A file that vanished before the run ended is no lineage: _VANISHED is skipped.
        with uncaptured():  # hashing them is forebear's reading, not any run's
            for path in reads:
                if path not in skip and path not in produced and path not in used:
                    try:  # already a real path: no second realpath (10,000 inputs)
                        self._use_file(path, role="input", kind=guess_kind(path), cwd=cwd,
                                       read_at=read_at.get(path))
                    except _VANISHED:
                        continue
        for path in written:
            # A file the run used is not its output too (an input that another process
            # changed meanwhile, seen by the watch), unless the run itself rewrote it.
            if path not in produced and (path not in used or path in self._rewritten_paths):
                try:
                    self._produce(path, kind=guess_kind(path))
                except _VANISHED:
                    continue

    def _use_as_read(self, path: str, digest: str | None, cwd: str) -> None:
        """An input whose bytes changed since the run read it: by the digest taken then,
        or, without one, by name only."""
        self._used_paths.add(path)
        kind = guess_kind(path)
        if digest is not None:
            ref = Artifact(digest=digest, kind=kind, name=display_name(path, cwd), uri=path,
                           role="input").to_ref()
        else:
            ref = _by_name(path, kind, "was rewritten after this run read it", "input")
        self._inputs[(ref["id"], "input")] = ref

    # -- recording ----------------------------------------------------------------
    def use(
        self,
        ref: str | os.PathLike[str],
        *,
        role: str = "input",
        kind: str | None = None,
        name: str | None = None,
        copy: bool | None = None,
    ) -> Artifact:
        """Record an input: a file or directory path, a digest, or an alias name.

        Inputs may be declared before the run starts; they are recorded when it ends.
        """
        self._check_open("run.use()", before_start=True)
        text = os.fspath(ref)
        if os.path.exists(text):
            return self._use_file(os.path.realpath(text), role=role, kind=kind, name=name,
                                  copy=copy)
        # A digest or an alias: the artifact as recorded (its kind and name), never the
        # alias's name, which is mutable and not the artifact's.
        digest = text if is_digest_text(text) else self._resolve_alias(text)
        known_kind, known_name = self._recorded(digest)
        artifact = Artifact(digest=digest, kind=kind or known_kind or "data",
                            name=name or known_name, role=role)
        self._inputs[(artifact.id, role)] = artifact.to_ref()
        return artifact

    def _recorded(self, digest: str) -> tuple[str | None, str | None]:
        """The kind and name the store has for ``digest`` (None, None when it cannot say)."""
        rows = query(self.session.store, "SELECT kind, name FROM artifact WHERE digest = ?",
                     (digest,))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def _use_file(
        self, path: str, *, role: str, kind: str | None = None, name: str | None = None,
        copy: bool | None = None, cwd: str | None = None, read_at: int | None = None,
    ) -> Artifact:
        """``use`` of a file or directory whose real path is ``path``; ``read_at``, when
        the run first read it (``time.time_ns``), if it was captured."""
        self._used_paths.add(path)
        # Inputs are data unless their suffix says model (a base model loaded to tune).
        kind = kind or ("model" if guess_kind(path) == "model" else "data")
        artifact, mtime_ns = self._hash_stat(path, kind=kind, role=role, name=name, cwd=cwd)
        if read_at is not None and mtime_ns > read_at:
            # Modified after the run read it (by another process: the run's own writes
            # make it an output): the digest now is of bytes the run never saw. The stat
            # comes after the hashing, so an unchanged mtime means unchanged bytes. A
            # file system clock is coarse, but never ahead of the write it stamps, so a
            # later mtime is a real change; a change within the clock tick of the read
            # (a few ms) keeps an mtime no later than the read and is not seen.
            ref = _by_name(path, artifact.kind, "changed after this run read it", role)
            self._inputs[(ref["id"], role)] = ref
            return Artifact(digest=None, kind=artifact.kind, name=ref["name"], uri=path,
                            role=role)
        limit = self.session.copy_inputs_below
        should_copy = copy if copy is not None else (
            limit > 0 and (artifact.size or 0) <= limit
        )
        if should_copy and os.path.isfile(path):
            self._store_blob(path, artifact.digest)
        self._inputs[(artifact.id, role)] = artifact.to_ref()
        return artifact

    def use_external(
        self,
        uri: str,
        *,
        digest: str,
        revision: str | None = None,
        role: str = "fine_tune",
        kind: str = "model",
        name: str | None = None,
        store: str | None = None,
    ) -> Artifact:
        """Record a model from elsewhere (a hub URI + digest + revision) as an input.

        It becomes an ordinary upstream node, its origin in ``meta`` (see
        ``forebear.sdk.transfer``); ``role`` is a derivation role such as ``fine_tune``.
        """
        from forebear.sdk.transfer import external_ref

        self._check_open("run.use_external()", before_start=True)

        ref = external_ref(uri, digest=digest, revision=revision, role=role, kind=kind,
                           name=name, store=store)
        self._inputs[(ref["id"], role)] = ref
        return Artifact(digest=digest, kind=kind, name=ref["name"], uri=uri, role=role)

    def produce(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str | None = None,
        role: str = "output",
        name: str | None = None,
        store_blob: bool = True,
    ) -> Artifact:
        """Record an output file or directory; a file's bytes go to the blob store.

        ``kind`` defaults to what the file's suffix says (``.pt``, ``.pkl``: a model;
        ``.csv``, ``.parquet``: data; see ``forebear.sdk._names``), else ``artifact``.
        """
        self._check_open("run.produce()")
        chosen = kind or guess_kind(os.fspath(path))
        return self._produce(path, kind=chosen, role=role, name=name, store_blob=store_blob)

    def _produce(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str = "artifact",
        role: str = "output",
        name: str | None = None,
        store_blob: bool = True,
    ) -> Artifact:
        """``produce``, also while the run ends (files found by capture and watch)."""
        with uncaptured():  # forebear's own opens of the output are not the run's
            full = real_path(os.fspath(path))
            try:
                st = os.stat(full)
            except OSError:
                raise NotFoundError(
                    f"cannot record output {os.fspath(path)!r}: no such file",
                    hint="write the file before calling run.produce()",
                ) from None
            self._produced_paths.add(full)
            blobs = self.session.blobs
            regular = stat.S_ISREG(st.st_mode)
            if store_blob and regular and blobs is not None and st.st_size <= _SMALL_OUTPUT \
                    and getattr(blobs, "algorithm", None) == "sha256":
                artifact = self._store_small(full, blobs, kind=kind, role=role, name=name)
            else:
                artifact = self._hash(full, kind=kind, role=role, name=name)
                if store_blob and regular:
                    self._store_blob(full, artifact.digest)
        self._outputs[(artifact.id, role)] = artifact.to_ref()
        return artifact

    def _store_small(
        self, path: str, blobs: Any, *, kind: str, role: str, name: str | None
    ) -> Artifact:
        """A small output read once: its bytes are hashed and stored from memory.

        ``put_bytes`` hashes them (the digest recorded is that of the bytes stored) and
        checks for the blob before writing, so an unchanged output costs no write.
        """
        with open(path, "rb", buffering=0) as f:
            data = f.read(_SMALL_OUTPUT + 1)
        if len(data) > _SMALL_OUTPUT:  # it grew since the stat: stream it instead
            artifact = self._hash(path, kind=kind, role=role, name=name)
            self._store_blob(path, artifact.digest)
            return artifact
        digest = str(blobs.put_bytes(data))
        self.session.stored_blobs.add(digest)
        return Artifact(digest=digest, kind=kind, name=name or display_name(path), uri=path,
                        size=len(data), role=role)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Add parameters (recorded when the run ends)."""
        self._check_open("run.log_params()")
        safe = safe_mapping(params, "run.log_params()",
                             'run.log_params({"lr": 0.1}) or run.log_param("lr", 0.1)')
        self.params.update(safe)
        self._late_params.update(safe)

    def log_param(self, key: str, value: Any) -> None:
        """Add one parameter."""
        self.log_params({key: value})

    def log_metrics(
        self, metrics: Mapping[str, SupportsFloat], *, step: SupportsIndex | float | None = None
    ) -> None:
        """Record metric values; with ``step``, each value is also kept in the history.

        A value that is not a finite number (a diverged loss) is recorded, never refused:
        JSON has no NaN or Infinity, so it is kept as the string ``"NaN"``,
        ``"Infinity"`` or ``"-Infinity"``. Something that is not a number at all is an
        InvalidInputError, and so is a ``step`` that is not a whole number: nothing is
        recorded from a call that is refused.
        """
        self._check_open("run.log_metrics()")
        if not isinstance(metrics, Mapping):
            raise InvalidInputError(
                "run.log_metrics(): expected a mapping of names to numbers, not "
                f"{type(metrics).__name__}",
                hint='run.log_metrics({"loss": 0.5}) or run.log_metric("loss", 0.5)')
        at = None if step is None else metric_step(step)
        values = [(metric_key(key), metric_number(key, value)) for key, value in
                  metrics.items()]
        for key, number in values:
            self.metrics[key] = number
            if at is not None:
                self._metric_steps.append([key, at, number])

    def log_metric(
        self, key: str, value: SupportsFloat, *, step: SupportsIndex | float | None = None
    ) -> None:
        """Record one metric value."""
        self.log_metrics({key: value}, step=step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Attach tags (free-form labels) to the run."""
        self._check_open("run.set_tags()")
        self.tags.update(safe_mapping(tags, "run.set_tags()",
                                       'run.set_tags({"team": "fraud"}) or '
                                       'run.set_tag("team", "fraud")'))

    def set_tag(self, key: str, value: Any) -> None:
        """Attach one tag."""
        self.set_tags({key: value})

    # -- helpers ------------------------------------------------------------------
    def _check_open(self, call: str, *, before_start: bool = False) -> None:
        """Refuse ``call`` on a run that would never record it: one that has ended, or
        (unless ``before_start``) one never started."""
        if self._ended:
            raise UsageError(f"run {self.name!r} has ended: {call} would not be recorded",
                             hint="start a new one: with forebear.run(...) as run:")
        if not self._started and not before_start:
            raise UsageError(
                f"run {self.name!r} was never started: {call} would not be recorded",
                hint="use `with forebear.run(...) as run:` (or call run.start() first)")

    def _hash(
        self, path: str, *, kind: str, role: str, name: str | None, cwd: str | None = None
    ) -> Artifact:
        return self._hash_stat(path, kind=kind, role=role, name=name, cwd=cwd)[0]

    def _hash_stat(
        self, path: str, *, kind: str, role: str, name: str | None, cwd: str | None = None
    ) -> tuple[Artifact, int]:
        """The artifact of ``path`` and its mtime_ns, stat()ed after it was hashed."""
        cache = self.session.hash_cache
        if cache is not None:
            digest = cache.digest(path)
        else:
            from forebear.hashing import hash_path

            digest = hash_path(path)
        st = os.stat(path)
        size = st.st_size if stat.S_ISREG(st.st_mode) else None
        return Artifact(
            digest=str(digest),
            kind=kind,
            name=name or display_name(path, cwd),
            uri=path,
            size=size,
            role=role,
        ), st.st_mtime_ns

    def _store_blob(self, path: str, digest: str | None) -> None:
        blobs = self.session.blobs
        if blobs is None or digest is None or digest in self.session.stored_blobs:
            return
        stored = str(blobs.put_file(path))
        self.session.stored_blobs.add(stored)

    def _resolve_alias(self, name: str) -> str:
        resolve = getattr(self.session.store, "resolve_alias", None)
        target = resolve(name) if resolve is not None else None
        if target is None:
            raise NotFoundError(
                f"{name!r} is not a file, a digest or an alias",
                hint="give a path that exists, a sha256:<hex> digest, or an alias name",
            )
        return str(target)


def _by_name(path: str, kind: str, why: str, role: str) -> dict[str, Any]:
    """The ref of an input whose bytes as read are unknown: known by its path alone, as
    an OpenLineage dataset without a digest is (id ``dataset:file:<path>``); said on
    stderr, since its lineage stops there."""
    sys.stderr.write(f"forebear: {display_name(path)} {why}: recorded by name, without a"
                     " digest\n")
    return artifact_ref(digest=None, kind=kind, role=role, name=path, uri=path,
                        namespace="file")


def _without_copies(
    inputs: Mapping[tuple[str, str], dict[str, Any]],
    outputs: Mapping[tuple[str, str], dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The refs of a run's end entry: an output with the digest of one of its inputs
    (a byte-identical copy, an empty file from an empty file) is not something the run
    made, and an edge to it would close a cycle (input -> run -> input). It is kept as
    a further place of that input instead: a ref to the same artifact and role, whose
    ``uri`` adds the copy's path to the artifact's URIs and makes no new edge."""
    used = list(inputs.values())
    if not outputs:
        return used, []
    by_id = {ref["id"]: ref for ref in used}
    made: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []
    for ref in outputs.values():
        same = by_id.get(ref["id"])
        if same is None:
            made.append(ref)
        elif ref.get("uri") and ref["uri"] != same.get("uri") \
                and all(copy["uri"] != ref["uri"] for copy in copies):
            copies.append({**same, "name": ref.get("name"), "uri": ref["uri"]})
    return used + copies, made


# Outputs up to this size are read once into memory, hashed and stored from there.
_SMALL_OUTPUT = 256 * 1024
# A metric history of up to this many points goes into the end entry unmeasured (a point
# is at most ~1 KiB, its key at most MAX_NAME characters); a longer one, up to this many
# bytes as JSON. Beyond, it is a blob (see the module docstring): well under the journal's
# 4 MiB entry limit, so the rest of the record (inputs, outputs, params) always fits.
_INLINE_POINTS = 1000
_INLINE_HISTORY = 1024 * 1024
# Without a blob store (or when storing the blob failed), a longer history is kept in
# the entry while it can fit at all; beyond, only each metric's last value is.
_NO_BLOB_HISTORY = 3 * 1024 * 1024
# What a captured or watched file that vanished before the run ended raises.
_VANISHED = (OSError, InvalidInputError, NotFoundError)


def run(name: str, **options: Any) -> Run:
    """A tracked execution: ``with forebear.run("train", kind="train", params={...}) as r:``.

    Options: ``kind``, ``params``, ``tags``, ``store`` (URL, path or store), ``actor``,
    ``reason``, ``capture`` (automatic file capture, default on), ``watch`` (a directory
    whose new or changed files are outputs; default the working directory), ``code`` and
    ``environment`` (record the anchors, default on).

    The run records from its start to its end, which ``with`` marks; a run that was
    never started, or has ended, refuses ``log_*``, ``set_tag*`` and ``produce``.
    """
    return Run(name, **options)
