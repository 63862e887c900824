"""The one exception tree of forebear.

Every error carries a ``hint`` that names the fix and an ``exit_code`` that the CLI
returns (2 for usage errors, 1 for everything else)::

    ForebearError
     ├── UsageError                     bad arguments or configuration        (exit 2)
     │    └── ConfigError               settings that cannot be used
     ├── StoreError                     the metadata store cannot be used
     │    ├── StoreNotFoundError        no .forebear/ found
     │    ├── NotAStoreError            a path or database that is not a store
     │    └── SchemaVersionError        the store was written by a newer forebear
     ├── NotFoundError (LookupError)    an unknown REF, digest, run or alias
     │    └── AmbiguousRefError         a prefix that matches several things
     ├── InvalidInputError (ValueError) malformed events, digests, names, proofs
     │    ├── ProofError                a Merkle proof that does not verify
     │    └── CheckpointError           a checkpoint that does not parse or verify
     ├── SigningKeyError                a missing or corrupt signing key
     ├── IntegrityError                 stored data that does not match its digest
     ├── ConflictError                  a write that contradicts the record (protected alias, ...)
     ├── AuthError                      a missing, wrong or insufficient token
     └── TransportError                 a remote store that cannot be reached
"""

from __future__ import annotations


class ForebearError(Exception):
    """Root of every error forebear raises on purpose."""

    exit_code: int = 1
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(ForebearError):
    """Bad arguments or configuration given by the user."""

    exit_code = 2


class ConfigError(UsageError):
    """Settings that cannot be used."""


class StoreError(ForebearError):
    """The metadata store cannot be used."""


class StoreNotFoundError(StoreError):
    """No ``.forebear/`` directory was found upward from the working directory."""

    exit_code = 2

    default_hint = "run `forebear init` here, or set FOREBEAR_STORE / --store"


class NotAStoreError(StoreError):
    """A path or database that exists but is not a forebear store."""

    exit_code = 2

    default_hint = "point --store at a store created by `forebear init`"


class SchemaVersionError(StoreError):
    """The store was written by a newer forebear than this one."""

    default_hint = "upgrade forebear (pip install -U forebear)"


class NotFoundError(ForebearError, LookupError):
    """An unknown REF, digest, run or alias."""


class AmbiguousRefError(NotFoundError):
    """A prefix that matches more than one thing."""

    def __init__(self, message: str, *, candidates: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "give more characters of the prefix")
        self.candidates = candidates


class InvalidInputError(ForebearError, ValueError):
    """Malformed input: events, digests, names, proofs."""


class ProofError(InvalidInputError):
    """A Merkle inclusion or consistency proof that does not verify."""


class CheckpointError(InvalidInputError):
    """A checkpoint (signed note) that does not parse or verify."""


class SigningKeyError(ForebearError):
    """A missing or corrupt signing key."""

    default_hint = "restore .forebear/signing.key, or point FOREBEAR_KEY at the key file"


class IntegrityError(ForebearError):
    """Stored data that does not match its digest or its journal."""

    default_hint = "run `forebear verify` to find the damaged entry"


class ConflictError(ForebearError):
    """A write that contradicts the record, such as moving a protected alias."""


class AuthError(ForebearError):
    """A missing, wrong or insufficient token."""

    default_hint = "pass a valid token with FOREBEAR_TOKEN or `Authorization: Bearer`"


class TransportError(ForebearError):
    """A remote store that cannot be reached."""


__all__ = [
    "AmbiguousRefError",
    "AuthError",
    "CheckpointError",
    "ConfigError",
    "ConflictError",
    "ForebearError",
    "IntegrityError",
    "InvalidInputError",
    "NotAStoreError",
    "NotFoundError",
    "ProofError",
    "SchemaVersionError",
    "SigningKeyError",
    "StoreError",
    "StoreNotFoundError",
    "TransportError",
    "UsageError",
]
