"""Checkpoints: signed statements of the journal's size and Merkle root (C2SP signed notes).

A checkpoint is a `tlog-checkpoint`_ body (origin, tree size, base64 root hash) signed as a
`signed note`_, the format of Go's checksum database and transparency-dev witnesses::

    forebear.local/0190...\\n                 origin
    1234\\n                                   tree size, decimal, no leading zeros
    <base64 of the 32-byte root>\\n
    \\n
    — <key name> <base64(4-byte key id || signature)>\\n   (one line per signer)

Signatures cover the body up to and including the root line's newline. Parsing is strict:
the text must be valid UTF-8 without control characters other than ``\\n``; signatures from
unknown keys are ignored, a known key's bad signature rejects the whole note, and at least
one known key must have signed.

Signature types are pluggable: a :class:`SignatureAlgorithm` subclass decorated with
:func:`register_algorithm` under its C2SP type byte (``0x01`` is Ed25519) serves keys,
verifiers and notes alike, which leaves room for ML-DSA cosignatures. ``cryptography`` is
imported only when a key is used, so ``import forebear`` stays fast.

.. _tlog-checkpoint: https://c2sp.org/tlog-checkpoint
.. _signed note: https://c2sp.org/signed-note
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from forebear.errors import CheckpointError, SigningKeyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "ED25519",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Ed25519",
    "SignatureAlgorithm",
    "SigningKey",
    "Verifier",
    "get_algorithm",
    "open_checkpoint",
    "open_note",
    "register_algorithm",
    "sign",
    "sign_note",
]

ED25519 = 0x01
"""C2SP signature type byte of Ed25519."""

MAX_SIGNATURES = 16
"""Most signature lines a note may carry; C2SP requires accepting at least 16."""

MAX_NOTE_BYTES = 256 * 1024
"""Largest note accepted: 16 post-quantum signatures (~5 kB each) fit with room to spare."""

MAX_TREE_SIZE = 2**63 - 1
HASH_SIZE = 32
_EM_DASH = "\u2014"
_SIG_PREFIX = _EM_DASH + " "
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX_ID = re.compile(r"[0-9a-f]{8}")


# -- signature algorithms ----------------------------------------------------------------


class SignatureAlgorithm(ABC):
    """One C2SP note signature type: key generation, signing and verification.

    Subclass, set :attr:`type_byte` and :attr:`label`, and decorate with
    :func:`register_algorithm`. The note text is handed over as is; a type that signs a
    derived message (as ``tlog-cosignature`` does) builds it inside :meth:`signer` and
    :meth:`verifier`.
    """

    type_byte: ClassVar[int]
    label: ClassVar[str]

    @abstractmethod
    def generate(self) -> bytes:
        """Return a new private key in this type's stored form."""

    @abstractmethod
    def public_key(self, private_key: bytes) -> bytes:
        """Return the public key of ``private_key``; ValueError if it is malformed."""

    @abstractmethod
    def signer(self, private_key: bytes) -> Callable[[bytes], bytes]:
        """Return a function that signs note text with ``private_key``."""

    @abstractmethod
    def verifier(self, public_key: bytes) -> Callable[[bytes, bytes], bool]:
        """Return ``check(text, signature)``; ValueError if ``public_key`` is malformed."""

    def key_id(self, name: str, public_key: bytes) -> bytes:
        """The 4-byte key ID: SHA-256(name || 0x0A || type byte || public key)[:4]."""
        data = name.encode("utf-8") + b"\n" + bytes([self.type_byte]) + public_key
        return hashlib.sha256(data).digest()[:4]


_ALGORITHMS: dict[int, SignatureAlgorithm] = {}
_A = TypeVar("_A", bound=type[SignatureAlgorithm])


def register_algorithm(cls: _A) -> _A:
    """Class decorator: make a :class:`SignatureAlgorithm` usable under its type byte."""
    alg = cls()
    if not 0 <= alg.type_byte <= 0xFF:
        raise ValueError(f"signature type byte {alg.type_byte} is not a byte")
    taken = _ALGORITHMS.get(alg.type_byte)
    if taken is not None and type(taken) is not cls:
        raise ValueError(f"signature type {alg.type_byte:#04x} is taken by {taken.label}")
    _ALGORITHMS[alg.type_byte] = alg
    return cls


def get_algorithm(type_byte: int) -> SignatureAlgorithm | None:
    """The registered algorithm for a C2SP type byte, or None."""
    return _ALGORITHMS.get(type_byte)


@register_algorithm
class Ed25519(SignatureAlgorithm):
    """Ed25519 (RFC 8032) over the note text; private keys are 32-byte seeds."""

    type_byte = ED25519
    label = "Ed25519"

    def generate(self) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.generate().private_bytes_raw()

    def public_key(self, private_key: bytes) -> bytes:
        return self._private(private_key).public_key().public_bytes_raw()

    def signer(self, private_key: bytes) -> Callable[[bytes], bytes]:
        return self._private(private_key).sign

    def verifier(self, public_key: bytes) -> Callable[[bytes, bytes], bool]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if len(public_key) != 32:
            raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
        key = Ed25519PublicKey.from_public_bytes(public_key)

        def check(text: bytes, signature: bytes) -> bool:
            try:
                key.verify(signature, text)
            except InvalidSignature:
                return False
            return True

        return check

    @staticmethod
    def _private(seed: bytes) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if len(seed) != 32:
            raise ValueError(f"an Ed25519 private key has 32 bytes, not {len(seed)}")
        return Ed25519PrivateKey.from_private_bytes(seed)


# -- keys --------------------------------------------------------------------------------


def _name_problem(name: object) -> str | None:
    """Why ``name`` is not a C2SP key name (non-empty, no spaces, no '+'), or None."""
    if not isinstance(name, str) or not name:
        return "a key name must be a non-empty string"
    if "+" in name or any(c.isspace() or c < " " for c in name):
        return f"key name {name!r} contains a space, a control character or '+'"
    return None


def _unknown_type(type_byte: object) -> str:
    shown = f"{type_byte:#04x}" if isinstance(type_byte, int) else repr(type_byte)
    return f"unknown signature type {shown}"


def _key_bytes_problem(key: object, attr: str) -> str | None:
    """Normalise a key's bytes field (bytearray, memoryview) to bytes, or say why not."""
    value = getattr(key, attr)
    if not isinstance(value, (bytes, bytearray, memoryview)):
        return f"{attr} must be bytes, not {type(value).__name__}"
    object.__setattr__(key, attr, bytes(value))
    return None


def _b64decode(text: str) -> bytes | None:
    """Strict standard base64 (RFC 4648 section 4): padded, canonical, no URL-safe alphabet."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Verifier:
    """A public note key: checks signatures by the key called ``name``."""

    name: str
    algorithm: int
    public_key: bytes
    key_id: bytes = field(init=False, compare=False)
    _check: Callable[[bytes, bytes], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = _name_problem(self.name) or _key_bytes_problem(self, "public_key")
        alg = _ALGORITHMS.get(self.algorithm)
        if problem is None and alg is None:
            problem = _unknown_type(self.algorithm)
        if problem is None and alg is not None:
            try:
                object.__setattr__(self, "_check", alg.verifier(self.public_key))
            except ValueError as exc:
                problem = str(exc)
            else:
                object.__setattr__(self, "key_id", alg.key_id(self.name, self.public_key))
        if problem is not None:
            raise CheckpointError(f"invalid verifier key: {problem}")

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read ``<name>+<hex key id>+<base64(type byte || public key)>``."""
        name, _, rest = text.partition("+")
        key_id_hex, _, key_b64 = rest.partition("+")
        raw = _b64decode(key_b64)
        if not _HEX_ID.fullmatch(key_id_hex) or not raw:
            raise CheckpointError(
                f"invalid verifier key {text[:80]!r}",
                hint="copy the key as `forebear checkpoint` prints it: <name>+<key id>+<key>",
            )
        verifier = cls(name=name, algorithm=raw[0], public_key=raw[1:])
        if verifier.key_id.hex() != key_id_hex:
            raise CheckpointError(
                f"verifier key {name}+{key_id_hex} does not match its key ID",
                hint="copy the whole key again",
            )
        return verifier

    def __reduce__(self) -> tuple[type[Verifier], tuple[str, int, bytes]]:
        # The cached check function does not pickle; the three fields rebuild it.
        return (type(self), (self.name, self.algorithm, self.public_key))

    def encode(self) -> str:
        """The verifier key string ``<name>+<hex key id>+<base64(type || public key)>``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.algorithm]) + self.public_key)}"

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (without the key ID) is this key's signature of ``msg``."""
        try:
            return self._check(msg, sig)
        except (ValueError, TypeError):
            return False


@dataclass(frozen=True)
class SigningKey:
    """A private note key: signs checkpoints as ``name``. Its repr never shows the secret."""

    name: str
    algorithm: int
    private_key: bytes = field(repr=False)
    public_key: bytes = field(init=False, repr=False, compare=False)
    key_id: bytes = field(init=False, compare=False)
    _sign: Callable[[bytes], bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = _name_problem(self.name) or _key_bytes_problem(self, "private_key")
        alg = _ALGORITHMS.get(self.algorithm)
        if problem is None and alg is None:
            problem = _unknown_type(self.algorithm)
        if problem is None and alg is not None:
            try:
                public = alg.public_key(self.private_key)
                object.__setattr__(self, "_sign", alg.signer(self.private_key))
            except ValueError as exc:
                problem = str(exc)
            else:
                object.__setattr__(self, "public_key", public)
                object.__setattr__(self, "key_id", alg.key_id(self.name, public))
        if problem is not None:
            raise SigningKeyError(f"invalid signing key: {problem}")

    @classmethod
    def generate(cls, name: str, algorithm: int = ED25519) -> SigningKey:
        """A new random key called ``name`` (a schema-less URL is recommended)."""
        alg = _ALGORITHMS.get(algorithm)
        if alg is None:
            raise SigningKeyError(_unknown_type(algorithm))
        return cls(name=name, algorithm=algorithm, private_key=alg.generate())

    def verifier(self) -> Verifier:
        """The public half, to check this key's signatures."""
        return Verifier(name=self.name, algorithm=self.algorithm, public_key=self.public_key)

    def sign(self, msg: bytes) -> bytes:
        """This key's signature of ``msg`` (without the key ID)."""
        return self._sign(msg)

    def __reduce__(self) -> tuple[type[SigningKey], tuple[str, int, bytes]]:
        # The cached signer does not pickle; the three fields rebuild it.
        return (type(self), (self.name, self.algorithm, self.private_key))

    def encode(self) -> str:
        """The private key string ``PRIVATE+KEY+<name>+<hex id>+<base64(type || key)>``.

        The format of golang.org/x/mod/sumdb/note, so keys move between the two.
        """
        raw = _b64(bytes([self.algorithm]) + self.private_key)
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{raw}"

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        """Read a private key string as :meth:`encode` writes it."""
        name, _, rest = text.removeprefix(_PRIVATE_PREFIX).partition("+")
        key_id_hex, _, key_b64 = rest.partition("+")
        raw = _b64decode(key_b64)
        if not text.startswith(_PRIVATE_PREFIX) or not _HEX_ID.fullmatch(key_id_hex) or not raw:
            raise SigningKeyError("not a PRIVATE+KEY+<name>+<key id>+<key> string")
        key = cls(name=name, algorithm=raw[0], private_key=raw[1:])
        if key.key_id.hex() != key_id_hex:
            raise SigningKeyError(f"signing key {name}+{key_id_hex} does not match its key ID")
        return key

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the key to ``path`` atomically, readable by its owner only (mode 0600).

        An existing file is kept unless ``overwrite``: losing a key orphans every
        checkpoint it signed.
        """
        path = Path(path)
        if not overwrite and path.exists():
            raise SigningKeyError(
                f"{path} already exists", hint="move it away first, or load it instead"
            )
        tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)  # whatever the umask did
                os.write(fd, (self.encode() + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SigningKeyError(
                f"cannot write the signing key to {path}: {exc.strerror or exc}",
                hint="check that the directory exists and is writable",
            ) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SigningKey:
        """Read a key file written by :meth:`save`; refuse one others may read or write."""
        path = Path(path)
        try:
            info = path.stat()
            data = path.read_bytes()
        except FileNotFoundError:
            raise SigningKeyError(f"signing key {path} does not exist") from None
        except OSError as exc:
            raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror}") from None
        mode = stat.S_IMODE(info.st_mode)
        if os.name == "posix" and mode & 0o077:
            raise SigningKeyError(
                f"signing key {path} is open to other users (mode {mode:04o})",
                hint=f"chmod 600 {path}",
            )
        if len(data) > 64 * 1024:
            raise SigningKeyError(f"signing key {path} is not a key file (too large)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SigningKeyError(f"signing key {path} is not a key file (not UTF-8)") from None
        line = text[:-1] if text.endswith("\n") else text
        try:
            return cls.parse(line)
        except SigningKeyError as exc:
            raise SigningKeyError(f"signing key {path} is corrupt: {exc.message}") from None


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; directories cannot be opened on Windows, where it is moot.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- notes -------------------------------------------------------------------------------


def sign_note(text: str, keys: Sequence[SigningKey]) -> str:
    """Sign ``text`` (ending in a newline) with every key in ``keys``: the signed note."""
    if not text.endswith("\n") or text == "\n":
        raise CheckpointError("note text must be non-empty and end with a newline")
    _check_characters(text)
    if not keys:
        raise CheckpointError("a note needs at least one signing key")
    if len(keys) > MAX_SIGNATURES:
        raise CheckpointError(f"a note carries at most {MAX_SIGNATURES} signatures")
    if len({(k.name, k.key_id) for k in keys}) != len(keys):
        raise CheckpointError("the same signing key is given twice")
    try:
        msg = text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError("note text is not valid UTF-8 (a lone surrogate)") from None
    lines = [f"{_SIG_PREFIX}{k.name} {_b64(k.key_id + k.sign(msg))}\n" for k in keys]
    note = text + "\n" + "".join(lines)
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:  # never write what open_note refuses
        raise CheckpointError(f"signed note would be larger than {MAX_NOTE_BYTES} bytes")
    return note


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> str:
    """Check a signed note's signatures against ``verifiers`` and return its text.

    Signatures by unknown keys are ignored; one bad signature by a known key, or no good
    one, raises :class:`~forebear.errors.CheckpointError`.
    """
    text, signatures = _split_note(note)
    _verify(text, signatures, verifiers)
    return text


def _verify(
    text: str, signatures: list[tuple[str, bytes, bytes]], verifiers: Sequence[Verifier]
) -> None:
    known: dict[tuple[str, bytes], set[Verifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_id), set()).add(v)
    msg = text.encode("utf-8")
    verified = 0
    for name, key_id, sig in signatures:
        candidates = known.get((name, key_id))
        if not candidates:
            continue  # C2SP: an unknown key's signature must be ignored
        if len(candidates) > 1:
            raise CheckpointError(f"two different verifier keys are called {name}+{key_id.hex()}")
        (verifier,) = candidates
        if not verifier.verify(msg, sig):
            raise CheckpointError(f"signature by {name}+{key_id.hex()} does not verify")
        verified += 1
    if not verified:
        signers = ", ".join(sorted({f"{n}+{k.hex()}" for n, k, _ in signatures}))
        raise CheckpointError(
            f"note is not signed by any known key (signed by {signers})",
            hint="check it with the verifier key of the store that signed it",
        )


def _split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Parse a note's framing: its text and its (name, key ID, signature) triples."""
    if isinstance(note, (bytes, bytearray)):
        if len(note) > MAX_NOTE_BYTES:
            raise CheckpointError(f"note is larger than {MAX_NOTE_BYTES} bytes")
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("note is not valid UTF-8") from None
    if len(note) > MAX_NOTE_BYTES:  # characters never outnumber UTF-8 bytes
        raise CheckpointError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError:
        raise CheckpointError("note is not valid UTF-8 (a lone surrogate)") from None
    if size > MAX_NOTE_BYTES:
        raise CheckpointError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    _check_characters(note)
    if not note.endswith("\n"):
        raise CheckpointError("note does not end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise CheckpointError("note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"note has {len(lines)} signatures; at most {MAX_SIGNATURES}")
    return text, [_parse_signature_line(line) for line in lines]


def _check_characters(text: str) -> None:
    if "\r" in text:
        raise CheckpointError("note has CRLF line endings; signed notes use \\n only")
    bad = _CONTROL.search(text)
    if bad is not None:
        raise CheckpointError(
            f"note contains control character U+{ord(bad.group()):04X} at offset {bad.start()}"
        )


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(_SIG_PREFIX):
        if line[:1] in ("-", "\u2013", "\u2212"):
            raise CheckpointError(
                f"signature line starts with {line[0]!r}, not the em dash U+2014: {line[:40]!r}"
            )
        raise CheckpointError(f"not a signature line: {line[:40]!r}")
    name, sep, sig_b64 = line[len(_SIG_PREFIX) :].partition(" ")
    problem = _name_problem(name)
    raw = _b64decode(sig_b64) if sep else None
    if problem is not None or raw is None or len(raw) < 5:
        raise CheckpointError(f"malformed signature line: {line[:60]!r}")
    return name, raw[:4], raw[4:]


# -- checkpoints -------------------------------------------------------------------------

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed head: ``size`` leaves whose RFC 6962 Merkle root is ``root``.

    ``extensions`` are the optional extra body lines of tlog-checkpoint; forebear writes
    none but keeps those it reads, as the signature covers them.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise CheckpointError("checkpoint origin must be one non-empty line")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size!r} is not in 0..2**63-1")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes")
        for line in self.extensions:
            if not isinstance(line, str) or not line or "\n" in line:
                raise CheckpointError("checkpoint extension lines must be non-empty single lines")
        _check_characters(self.body())

    def body(self) -> str:
        """The signed note text: origin, size and base64 root, one per line."""
        extra = "".join(line + "\n" for line in self.extensions)
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n{extra}"


def sign(checkpoint: Checkpoint, keys: Sequence[SigningKey]) -> str:
    """The signed note of ``checkpoint``, one signature line per key."""
    return sign_note(checkpoint.body(), keys)


def open_checkpoint(
    note: str | bytes, verifiers: Sequence[Verifier], *, origin: str | None = None
) -> Checkpoint:
    """Parse a signed checkpoint strictly and check it is signed by a known key.

    With ``origin``, the checkpoint must come from that log. Every failure raises
    :class:`~forebear.errors.CheckpointError` with a one-line reason.
    """
    text, signatures = _split_note(note)
    checkpoint = _parse_body(text)  # every cheap check before any signature is verified
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(
            f"checkpoint is from {checkpoint.origin!r}, not the expected origin {origin!r}"
        )
    _verify(text, signatures, verifiers)
    return checkpoint


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs origin, tree size and root hash lines")
    if any(not line for line in lines):
        raise CheckpointError("checkpoint has an empty line in its body")
    origin, size_text, root_text, *extensions = lines
    if not _SIZE.fullmatch(size_text):
        if size_text.startswith("-"):
            reason = "is negative"
        elif size_text.isascii() and size_text.isdigit():
            reason = "has leading zeros" if size_text[0] == "0" else "exceeds 2**63-1"
        else:
            reason = "is not a decimal number"
        raise CheckpointError(f"tree size {size_text[:30]!r} {reason}")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise CheckpointError(f"tree size {size_text} exceeds 2**63-1")
    root = _b64decode(root_text)
    if root is None:
        raise CheckpointError(f"root hash {root_text[:60]!r} is not standard padded base64")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"root hash has {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin=origin, size=size, root=root, extensions=tuple(extensions))
