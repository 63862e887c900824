"""Signing keys and verifiers for checkpoints, in the C2SP signed-note key formats.

Signature types are pluggable: a :class:`SignatureAlgorithm` subclass decorated with
:func:`register_algorithm` under its C2SP type byte (``0x01`` is Ed25519) serves keys,
verifiers and notes alike, which leaves room for ML-DSA cosignatures. ``cryptography`` is
imported only when a key is used, so ``import forebear`` stays fast.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from forebear.errors import CheckpointError, SigningKeyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "ED25519",
    "Ed25519",
    "SignatureAlgorithm",
    "SigningKey",
    "Verifier",
    "get_algorithm",
    "register_algorithm",
]

ED25519 = 0x01
"""C2SP signature type byte of Ed25519."""

_PRIVATE_PREFIX = "PRIVATE+KEY+"
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


def name_problem(name: object) -> str | None:
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


def b64decode(text: str) -> bytes | None:
    """Strict standard base64 (RFC 4648 section 4): padded, canonical, no URL-safe alphabet."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def b64(raw: bytes) -> str:
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
        problem = name_problem(self.name) or _key_bytes_problem(self, "public_key")
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
        raw = b64decode(key_b64)
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
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.algorithm]) + self.public_key)}"

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
        problem = name_problem(self.name) or _key_bytes_problem(self, "private_key")
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
        raw = b64(bytes([self.algorithm]) + self.private_key)
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{raw}"

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        """Read a private key string as :meth:`encode` writes it."""
        name, _, rest = text.removeprefix(_PRIVATE_PREFIX).partition("+")
        key_id_hex, _, key_b64 = rest.partition("+")
        raw = b64decode(key_b64)
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
        if len(data) > 64 * 1024:
            raise SigningKeyError(f"signing key {path} is not a key file (too large)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SigningKeyError(f"signing key {path} is not a key file (not UTF-8)") from None
        line = text[:-1] if text.endswith("\n") else text
        try:
            key = cls.parse(line)
        except SigningKeyError as exc:
            raise SigningKeyError(f"signing key {path} is corrupt: {exc.message}") from None
        # Checked once the file is known to be a key: for a data file given by mistake,
        # "chmod 600" would be the wrong fix.
        if os.name == "posix" and mode & 0o077:
            raise SigningKeyError(
                f"signing key {path} is open to other users (mode {mode:04o})",
                hint=f"chmod 600 {path}",
            )
        return key


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
