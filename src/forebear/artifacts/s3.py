"""The S3 blob store: ``s3://bucket/prefix``, objects at ``<prefix>/sha256/ab/cdef...``.

Any S3-compatible object store works (AWS, MinIO, Ceph, moto). The endpoint, region and
credentials come from the usual AWS settings (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``, profiles, instance roles, ...), or from the URL's query:
``s3://bucket/prefix?endpoint_url=http://minio:9000&region=eu-west-1&profile=ml
&addressing_style=path``. The bucket must exist: provisioning it is the operator's job.

**Writes.** An object's key is its digest, so nothing may ever sit under a key that its
bytes do not hash to, even for a moment. Bytes already in memory (``put_bytes``) are
hashed and then written straight to their key. A file or stream is uploaded *once*, to
a temporary key ``<prefix>/tmp/<uuid>``, hashed while boto3 reads it (multipart above
``multipart_threshold``, parts sent in parallel); then the object is copied inside S3
to its final key and the temporary one deleted. ``put_file`` hashes the file first, so
a blob that is already stored is never uploaded again, and a file that changes while it
is uploaded is refused. An interrupted upload can leave a temporary object behind: give
the bucket a lifecycle rule that expires ``<prefix>/tmp/`` (and aborts incomplete
multipart uploads) after a day; docs/deployment.md shows one.

**Reads** are verified: ``open`` streams the object through the shared verifying
reader, which raises IntegrityError before a mismatched end is handed out.

**References.** ``reference("s3://bucket/key")`` hashes an existing object without
copying it and returns its digest, ETag, version id and size, for reference-only
artifacts (datasets too large to copy); ``still_matches`` tells whether the object
behind such a reference is unchanged.

boto3 is imported only when an ``s3://`` URL is opened.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from forebear.artifacts.base import ByteSource, open_regular_file, verifying_reader
from forebear.artifacts.layout import check_prefix, key_for, parse_key
from forebear.errors import (
    AuthError,
    ConfigError,
    ForebearError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    TransportError,
)
from forebear.hashing import ALGORITHMS, Digest, StrPath, new_hasher

__all__ = ["S3BlobStore", "from_url", "reference", "still_matches"]

_CHUNK = 1 << 20
_MiB = 1 << 20
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_OPTIONS = {"endpoint_url", "endpoint", "region", "profile", "addressing_style"}
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_BUCKET_RECHECK = 10.0  # seconds between two checks that a bucket answering 404 exists
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "ExpiredToken", "InvalidToken"}


def _boto3() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "the s3:// blob store needs boto3, which is not installed",
            hint="pip install 'forebear[s3]'",
        ) from None
    return boto3


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    addressing_style: str | None = None,
    max_pool_connections: int = 32,
) -> Any:
    """An S3 client; what is not given comes from the usual AWS settings."""
    boto3 = _boto3()
    from botocore.config import Config  # type: ignore[import-untyped]

    s3_options = {"addressing_style": addressing_style} if addressing_style else {}
    try:
        session = boto3.session.Session(profile_name=profile)
        return session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                s3=s3_options,
                retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=max_pool_connections,
            ),
        )
    except Exception as exc:  # botocore raises many unrelated types for bad settings
        raise ConfigError(f"cannot set up the S3 client: {exc}") from None


def _split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(bucket, path, options) of ``s3://bucket/path?option=value``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise InvalidInputError(f"not an s3:// URL: {url!r}", hint="use s3://bucket/prefix")
    if parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise InvalidInputError(f"unexpected parts in {url!r}", hint="use s3://bucket/prefix")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidInputError(f"invalid S3 bucket name {bucket!r} in {url!r}")
    options: dict[str, str] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in _OPTIONS and name != "versionId":
            raise ConfigError(
                f"unknown option {name!r} in {url!r}",
                hint=f"use any of {', '.join(sorted(_OPTIONS))}",
            )
        options[name] = values[-1]
    return bucket, parts.path.lstrip("/"), options


def _client_options(options: Mapping[str, str]) -> dict[str, Any]:
    return {
        "endpoint_url": options.get("endpoint_url") or options.get("endpoint"),
        "region": options.get("region"),
        "profile": options.get("profile"),
        "addressing_style": options.get("addressing_style"),
    }


def _is_boto(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in ("botocore", "boto3", "s3transfer")


def _translate(exc: Exception, where: str) -> BaseException:
    """The one place botocore errors become forebear errors; others pass unchanged."""
    if not _is_boto(exc):
        return exc
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return NotFoundError(f"no object {where}")
        if code == "NoSuchBucket":
            return ConfigError(f"the bucket of {where} does not exist", hint="create it first")
        if code in _DENIED:
            return AuthError(
                f"S3 refused access to {where} ({code})",
                hint="check AWS_ACCESS_KEY_ID / AWS_PROFILE and the bucket policy",
            )
        return TransportError(f"S3 error at {where}: {code or exc}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            f"no AWS credentials to reach {where}",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
        )
    return TransportError(f"S3 at {where} cannot be reached: {exc}")


class _HashingReader:
    """Hands boto3 the bytes of ``source`` while hashing them; it is read exactly once.

    It has no ``seek``, so boto3 reads it sequentially (buffering each part, which is
    what it re-sends on a retry): every byte passes through the hash once, in order.
    """

    def __init__(self, source: ByteSource, algorithm: str) -> None:
        self._source = source
        self._hasher = new_hasher(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size if size is not None and size >= 0 else -1)
        self._hasher.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def digest(self) -> Digest:
        return Digest(self._algorithm, self._hasher.hexdigest())


class S3BlobStore:
    """Blobs as objects under ``s3://bucket/prefix`` (see the module docstring)."""

    algorithm = "sha256"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        addressing_style: str | None = None,
        multipart_threshold: int = 8 * _MiB,
        multipart_chunksize: int = 8 * _MiB,
        max_concurrency: int = 4,
    ) -> None:
        """A store in ``bucket`` under ``prefix``; ``client`` overrides the AWS settings."""
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise InvalidInputError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = check_prefix(prefix)
        self.client = client or make_client(
            endpoint_url=endpoint_url, region=region, profile=profile,
            addressing_style=addressing_style,
        )
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> S3BlobStore:
        """A store from ``s3://bucket/prefix[?endpoint_url=...&region=...&profile=...]``."""
        bucket, prefix, options = _split_url(url)
        if "versionId" in options:
            raise ConfigError(f"a blob store URL takes no versionId: {url!r}")
        return cls(bucket, prefix, **_client_options(options), **kwargs)

    def __repr__(self) -> str:
        return f"S3BlobStore('s3://{self.bucket}/{self.prefix}')"

    _bucket_seen = float("-inf")  # when check() last found the bucket (time.monotonic)

    def check(self) -> None:
        """Raise a ForebearError naming the fix unless the bucket can be reached now.

        A server or a migration checks its blob store before it starts, so that a wrong
        bucket name or missing credentials are found then, not at the first upload.
        """
        where = f"s3://{self.bucket}"
        try:
            # Listing under the prefix needs only what the servers' policy grants
            # (docs/deployment.md), where HeadBucket would need ListBucket on the bucket.
            self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1,
                                        Prefix=f"{self.prefix}/" if self.prefix else "")
        except Exception as exc:
            error = _translate(exc, where)
            if isinstance(error, ConfigError | NotFoundError):
                error = ConfigError(f"the bucket {where} does not exist",
                                    hint="create it first, or correct the blob store URL")
            raise error from None

    def key_for(self, digest: Digest) -> str:
        """The blob's object key, ``[<prefix>/]sha256/ab/cdef...``."""
        return key_for(digest, self.prefix)

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, key: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, Key=key, **kwargs)
        except ForebearError:
            raise
        except Exception as exc:
            raise _translate(exc, self._where(key)) from None

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._call(key, "head_object")
        except NotFoundError:
            # A HEAD answer has no body: S3 says a bare 404 for a missing bucket too, which
            # must not pass for a missing blob. Asked again at most every few seconds.
            now = time.monotonic()
            if now - self._bucket_seen > _BUCKET_RECHECK:
                self.check()
                self._bucket_seen = now
            return None
        return head

    # -- reading -------------------------------------------------------------------------

    def open(self, digest: Digest) -> BinaryIO:
        """The blob as a stream, verified as it is read; see ``BlobStore.open``."""
        key = self.key_for(digest)
        try:
            response = self._call(key, "get_object")
        except NotFoundError:
            raise NotFoundError(f"no blob {digest} in s3://{self.bucket}/{self.prefix}") from None
        return verifying_reader(response["Body"], digest, size=int(response["ContentLength"]))

    def get_bytes(self, digest: Digest) -> bytes:
        """The whole blob, verified."""
        with self.open(digest) as stream:
            return stream.read()

    def exists(self, digest: Digest) -> bool:
        """Whether the blob is stored (content not checked)."""
        return self._head(self.key_for(digest)) is not None

    def size(self, digest: Digest) -> int:
        """The blob's size in bytes."""
        head = self._head(self.key_for(digest))
        if head is None:
            raise NotFoundError(f"no blob {digest} in s3://{self.bucket}/{self.prefix}")
        return int(head["ContentLength"])

    def verify(self, digest: Digest) -> bool:
        """Re-hash the stored object (streaming it) and compare it with its name."""
        key = self.key_for(digest)
        try:
            body = self._call(key, "get_object")["Body"]
        except NotFoundError:
            raise NotFoundError(f"no blob {digest} in s3://{self.bucket}/{self.prefix}") from None
        hasher = new_hasher(digest.algorithm)
        try:
            while chunk := body.read(_CHUNK):
                hasher.update(chunk)
        finally:
            body.close()
        return hasher.hexdigest() == digest.hex

    def iter_digests(self) -> Iterator[Digest]:
        """Every stored digest, in key order; temporary and stray objects are skipped."""
        paginator = self.client.get_paginator("list_objects_v2")
        for algorithm in ALGORITHMS:
            start = f"{self.prefix}/{algorithm}/" if self.prefix else f"{algorithm}/"
            try:
                for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                    for item in page.get("Contents", ()):
                        try:
                            yield parse_key(item["Key"], self.prefix)
                        except InvalidInputError:
                            continue
            except ForebearError:
                raise
            except Exception as exc:
                raise _translate(exc, self._where(start)) from None

    # -- writing -------------------------------------------------------------------------

    def _present(self, key: str, size: int) -> bool:
        # A wrong size means a damaged object: the caller overwrites it, which repairs it.
        head = self._head(key)
        return head is not None and int(head["ContentLength"]) == size

    def put_bytes(self, data: bytes) -> Digest:
        """Store ``data`` under its digest; a no-op if it is already there."""
        digest = Digest.of_bytes(data, self.algorithm)
        key = self.key_for(digest)
        if not self._present(key, len(data)):
            # The digest is of exactly these bytes, so they may go straight to their key.
            self._call(key, "put_object", Body=data)
        return digest

    def put_file(self, path: StrPath) -> Digest:
        """Store the file at ``path``; it is hashed first, and not uploaded if present."""
        with open_regular_file(path) as source:
            info = os.fstat(source.fileno())
            expected = Digest(self.algorithm, hashlib.file_digest(source, "sha256").hexdigest())
            if self._present(self.key_for(expected), info.st_size):
                return expected
            source.seek(0)
            digest = self.put_stream(source)
        if digest != expected:
            raise IntegrityError(
                f"{os.fspath(path)} changed while it was being stored",
                hint="store it again once nothing is writing to it",
            )
        return digest

    def put_stream(self, source: ByteSource) -> Digest:
        """Upload ``source`` to its end (once, multipart when large); return its digest."""
        tmp = f"{self.prefix}/tmp/{uuid.uuid4().hex}" if self.prefix else f"tmp/{uuid.uuid4().hex}"
        reader = _HashingReader(source, self.algorithm)
        try:
            self.client.upload_fileobj(reader, self.bucket, tmp, Config=self._transfer)
        except Exception as exc:
            raise _translate(exc, self._where(tmp)) from None
        try:
            digest = reader.digest()
            key = self.key_for(digest)
            if not self._present(key, reader.size):
                try:
                    # A managed copy: server-side, and multipart past 5 GiB.
                    self.client.copy(
                        {"Bucket": self.bucket, "Key": tmp}, self.bucket, key,
                        Config=self._transfer,
                    )
                except Exception as exc:
                    raise _translate(exc, self._where(key)) from None
        finally:
            self._call(tmp, "delete_object")
        return digest


def from_url(url: str) -> S3BlobStore:
    """The registry's entry point: ``s3://bucket/prefix[?options]``."""
    return S3BlobStore.from_url(url)


def _object_url(url: str) -> tuple[str, str, dict[str, str]]:
    bucket, key, options = _split_url(url)
    if not key or key.endswith("/"):
        raise InvalidInputError(f"{url!r} names no object", hint="use s3://bucket/path/to/object")
    if any(part in (".", "..") for part in key.split("/")):
        raise InvalidInputError(f"{url!r} has '.' or '..' in its key")
    return bucket, key, options


def reference(url: str, *, client: Any = None, algorithm: str = "sha256") -> dict[str, Any]:
    """Hash the existing object at ``url`` by streaming it; nothing is copied.

    ``url`` is ``s3://bucket/key`` (``?versionId=...`` pins a version; the client options
    of ``from_url`` are accepted too). Returns ``{"uri", "digest", "etag", "version_id",
    "size"}`` of the very version that was read, ``version_id`` being None in a bucket
    without versioning.
    """
    bucket, key, options = _object_url(url)
    client = client or make_client(**_client_options(options))
    extra = {"VersionId": options["versionId"]} if options.get("versionId") else {}
    where = f"s3://{bucket}/{key}"
    try:
        response = client.get_object(Bucket=bucket, Key=key, **extra)
    except Exception as exc:
        raise _translate(exc, where) from None
    hasher = new_hasher(algorithm)
    size = 0
    body = response["Body"]
    try:
        while chunk := body.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    except Exception as exc:
        raise _translate(exc, where) from None
    finally:
        body.close()
    if size != int(response["ContentLength"]):
        raise IntegrityError(f"{where} ended after {size} of {response['ContentLength']} bytes")
    return {
        "uri": where,
        "digest": str(Digest(algorithm, hasher.hexdigest())),
        "etag": str(response.get("ETag", "")).strip('"') or None,
        "version_id": response.get("VersionId"),
        "size": size,
    }


def still_matches(ref: Mapping[str, Any], *, client: Any = None) -> bool:
    """Whether the object behind a ``reference`` still has its ETag, size (and version).

    A cheap HEAD, not a re-hash: call ``reference`` again and compare digests for that.
    """
    bucket, key, options = _object_url(str(ref["uri"]))
    client = client or make_client(**_client_options(options))
    extra = {"VersionId": ref["version_id"]} if ref.get("version_id") else {}
    try:
        head = client.head_object(Bucket=bucket, Key=key, **extra)
    except Exception as exc:
        error = _translate(exc, f"s3://{bucket}/{key}")
        if isinstance(error, NotFoundError):
            return False
        raise error from None
    return (
        str(head.get("ETag", "")).strip('"') == (ref.get("etag") or "")
        and int(head["ContentLength"]) == int(ref["size"])
    )
