"""The blob store contract, run on every backend; then the local store's and layout's own rules.

To add a backend, add its name to ``BACKENDS`` and define two fixtures: ``<name>_blob_store``
(a fresh, empty store) and ``<name>_tamper`` (a function that overwrites a stored blob's
bytes behind the store's back).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from forebear.artifacts import base
from forebear.artifacts.base import BlobStore, open_blob_store, register_blob_store
from forebear.artifacts.layout import check_prefix, key_for, parse_key
from forebear.artifacts.local import LocalBlobStore
from forebear.artifacts.s3 import S3BlobStore
from forebear.errors import ConfigError, IntegrityError, InvalidInputError, NotFoundError
from forebear.hashing import Digest
from tests import s3

BACKENDS = ["local", "s3"]

Tamper = Callable[[Digest, bytes], None]
UNKNOWN = Digest("sha256", "0" * 64)


@pytest.fixture(params=BACKENDS)
def blob_store(request: pytest.FixtureRequest) -> BlobStore:
    """A fresh, empty store of each backend in turn."""
    store: BlobStore = request.getfixturevalue(f"{request.param}_blob_store")
    return store


@pytest.fixture
def tamper(request: pytest.FixtureRequest, blob_store: BlobStore) -> Tamper:
    """Overwrite a stored blob behind the store's back, in the current backend."""
    backend = request.node.callspec.params["blob_store"]
    function: Tamper = request.getfixturevalue(f"{backend}_tamper")
    return function


@pytest.fixture
def local_blob_store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def local_tamper(local_blob_store: LocalBlobStore) -> Tamper:
    def tamper(digest: Digest, data: bytes) -> None:
        path = Path(local_blob_store.path_for(digest))
        path.chmod(0o644)
        path.write_bytes(data)

    return tamper


@pytest.fixture
def s3_blob_store() -> Iterator[S3BlobStore]:
    """A store under a prefix of a fresh bucket of the moto server that `make test` runs."""
    bucket = s3.fresh_bucket()
    try:
        # A small multipart threshold, so the 20 MiB test goes through multipart.
        yield S3BlobStore(bucket, "team/blobs", client=s3.client(),
                          multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    finally:
        s3.delete_bucket(bucket)


@pytest.fixture
def s3_tamper(s3_blob_store: S3BlobStore) -> Tamper:
    def tamper(digest: Digest, data: bytes) -> None:
        s3_blob_store.client.put_object(
            Bucket=s3_blob_store.bucket, Key=s3_blob_store.key_for(digest), Body=data
        )

    return tamper


# -- the contract ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"hello", os.urandom(300_000)], ids=["empty", "small", "300k"]
)
def test_round_trip_bytes(blob_store: BlobStore, data: bytes) -> None:
    digest = blob_store.put_bytes(data)
    assert digest == Digest("sha256", hashlib.sha256(data).hexdigest())
    assert blob_store.exists(digest)
    assert blob_store.get_bytes(digest) == data
    with blob_store.open(digest) as stream:
        assert stream.read() == data
    assert blob_store.size(digest) == len(data)
    assert blob_store.verify(digest)
    assert list(blob_store.iter_digests()) == [digest]
    assert blob_store.key_for(digest).endswith(f"sha256/{digest.hex[:2]}/{digest.hex[2:]}")


def test_round_trip_file(blob_store: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights" * 1000)
    digest = blob_store.put_file(path)
    assert digest == Digest.of_bytes(path.read_bytes())
    assert blob_store.get_bytes(digest) == path.read_bytes()


def test_put_is_idempotent(blob_store: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"same")
    digests = {
        blob_store.put_bytes(b"same"),
        blob_store.put_file(path),
        blob_store.put_bytes(b"same"),
    }
    assert len(digests) == 1
    assert list(blob_store.iter_digests()) == list(digests)
    assert blob_store.get_bytes(digests.pop()) == b"same"


def test_iter_digests_lists_every_blob(blob_store: BlobStore) -> None:
    digests = {blob_store.put_bytes(str(i).encode()) for i in range(20)}
    assert set(blob_store.iter_digests()) == digests


@pytest.mark.parametrize("damage", ["same-size", "shorter", "longer"])
def test_reading_a_tampered_blob_fails(blob_store: BlobStore, tamper: Tamper, damage: str) -> None:
    data = b"the real weights" * 1000
    digest = blob_store.put_bytes(data)
    bad = {"same-size": b"X" + data[1:], "shorter": data[:-1], "longer": data + b"!"}[damage]
    tamper(digest, bad)
    with pytest.raises(IntegrityError, match=str(digest)):
        blob_store.get_bytes(digest)
    with pytest.raises(IntegrityError, match=str(digest)), blob_store.open(digest) as stream:
        while stream.read(1000):
            pass
    assert not blob_store.verify(digest)


def test_reader_stopping_at_the_expected_size_is_still_checked(
    blob_store: BlobStore, tamper: Tamper
) -> None:
    data = os.urandom(10_000)
    digest = blob_store.put_bytes(data)
    tamper(digest, data[:-1] + bytes([data[-1] ^ 1]))
    with blob_store.open(digest) as stream, pytest.raises(IntegrityError):
        stream.read(len(data))  # never asks for EOF


def test_unknown_digest(blob_store: BlobStore) -> None:
    assert not blob_store.exists(UNKNOWN)
    for call in (blob_store.open, blob_store.get_bytes, blob_store.size, blob_store.verify):
        with pytest.raises(NotFoundError):
            call(UNKNOWN)
    assert list(blob_store.iter_digests()) == []


def test_large_file_streams(blob_store: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "large"
    block = os.urandom(1 << 20)
    expected = hashlib.sha256()
    with path.open("wb") as f:
        for i in range(20):
            chunk = block[i:] + block[:i]  # 20 distinct MiB
            f.write(chunk)
            expected.update(chunk)
    digest = blob_store.put_file(path)
    assert digest.hex == expected.hexdigest()
    assert blob_store.size(digest) == 20 << 20
    seen = hashlib.sha256()
    with blob_store.open(digest) as stream:
        while chunk := stream.read(256 << 10):
            assert len(chunk) <= 256 << 10
            seen.update(chunk)
    assert seen.hexdigest() == digest.hex
    assert blob_store.verify(digest)


def test_concurrent_puts_of_the_same_content(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(2 << 20)
    path = tmp_path / "same"
    path.write_bytes(data)
    barrier = threading.Barrier(8)

    def put(i: int) -> Digest:
        barrier.wait()
        return blob_store.put_bytes(data) if i % 2 else blob_store.put_file(path)

    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(put, range(8)))
    assert digests == {Digest.of_bytes(data)}
    assert list(blob_store.iter_digests()) == list(digests)
    assert blob_store.get_bytes(digests.pop()) == data


# -- the registry ------------------------------------------------------------------------


def test_open_blob_store_local_urls(tmp_path: Path) -> None:
    for url in (str(tmp_path / "a"), f"file://{tmp_path / 'b'}", f"FILE://localhost{tmp_path}/c"):
        store = open_blob_store(url)
        assert isinstance(store, LocalBlobStore)
        assert isinstance(store, BlobStore)
    spaced = open_blob_store(f"file://{tmp_path}/with%20space")
    assert isinstance(spaced, LocalBlobStore)
    assert spaced.root == str(tmp_path / "with space")


@pytest.mark.parametrize(
    "url",
    ["", "gopher://host/x", "file://otherhost/path"],
    ids=["empty", "unknown-scheme", "remote-file-url"],
)
def test_open_blob_store_refuses(url: str) -> None:
    with pytest.raises((ConfigError, InvalidInputError)):
        open_blob_store(url)


def test_missing_backend_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(base._BACKENDS, "nope", "forebear.artifacts._no_such_backend")
    with pytest.raises(ConfigError, match=r"nope:// blob store is not available"):
        open_blob_store("nope://bucket/prefix")


def test_s3_without_boto3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` sees when missing
    with pytest.raises(ConfigError, match=r"pip install 'forebear\[s3\]'"):
        open_blob_store("s3://bucket/prefix")


def test_register_blob_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(base, "_BACKENDS", dict(base._BACKENDS))
    register_blob_store("mem", lambda url: LocalBlobStore(tmp_path / url.split("://")[1]))
    assert isinstance(open_blob_store("mem://x"), LocalBlobStore)


# -- the layout (pure) -------------------------------------------------------------------

DIGEST = Digest.of_bytes(b"abc")


def test_key_layout() -> None:
    assert key_for(DIGEST) == f"sha256/ba/{DIGEST.hex[2:]}"
    assert key_for(DIGEST, "team/models/") == f"team/models/sha256/ba/{DIGEST.hex[2:]}"
    assert parse_key(key_for(DIGEST)) == DIGEST
    assert parse_key(key_for(DIGEST, "p/q"), "p/q") == DIGEST
    blake = Digest.of_bytes(b"abc", "blake3")
    assert parse_key(key_for(blake)) == blake


@pytest.mark.parametrize(
    "key",
    [
        f"sha256/ba{DIGEST.hex[2:]}",
        f"sha256/bb/{DIGEST.hex[2:]}/",
        f"sha256/{DIGEST.hex}",
        f"/sha256/ba/{DIGEST.hex[2:]}",
        f"../sha256/ba/{DIGEST.hex[2:]}",
        f"sha256\\ba\\{DIGEST.hex[2:]}",
        f"sha256/BA/{DIGEST.hex[2:]}",
        f"sha256/ba/{DIGEST.hex[2:]}.tmp",
        f"sha256/ba/.tmp-{DIGEST.hex[8:]}",
        f"md5/ba/{DIGEST.hex[2:]}",
        f"x/sha256/ba/{DIGEST.hex[2:]}",
        "",
    ],
    ids=[
        "no-shard",
        "trailing-slash",
        "unsharded",
        "absolute",
        "dotdot",
        "backslashes",
        "uppercase",
        "suffix",
        "temp-file",
        "unknown-algorithm",
        "unexpected-prefix",
        "empty",
    ],
)
def test_parse_key_refuses(key: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_key(key)


@pytest.mark.parametrize("prefix", ["/abs", "a/../b", "..", "a//b", "a\\b", "a/./b", "a\nb"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidInputError):
        check_prefix(prefix)
    with pytest.raises(InvalidInputError):
        key_for(DIGEST, prefix)


def test_parse_key_with_prefix_needs_that_prefix() -> None:
    with pytest.raises(InvalidInputError):
        parse_key(key_for(DIGEST, "a"), "b")
    with pytest.raises(InvalidInputError):
        parse_key(key_for(DIGEST), "a")


# -- the local store's own rules ---------------------------------------------------------


def test_local_layout_and_read_only_blobs(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digest = store.put_bytes(b"abc")
    path = tmp_path / "blobs" / "sha256" / "ba" / digest.hex[2:]
    assert store.path_for(digest) == str(path)
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o222 == 0
    assert [p.name for p in (tmp_path / "blobs").rglob(".tmp-*")] == []


def test_local_put_repairs_a_blob_of_the_wrong_size(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digest = store.put_bytes(b"abc")
    path = Path(store.path_for(digest))
    path.chmod(0o644)
    path.write_bytes(b"ab")
    assert store.put_bytes(b"abc") == digest
    assert store.get_bytes(digest) == b"abc"


def test_local_refuses_a_symlinked_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(IntegrityError, match="symlink"):
        LocalBlobStore(tmp_path / "link")


def test_local_refuses_a_root_swapped_for_a_symlink(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "blobs").rename(tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tmp_path / "blobs")
    with pytest.raises(IntegrityError):
        store.put_bytes(b"abc")


@pytest.mark.parametrize("where", ["algorithm-dir", "shard-dir", "blob"])
def test_local_refuses_planted_symlinks(tmp_path: Path, where: str) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    outside = tmp_path / "outside"
    outside.mkdir()
    digest = Digest.of_bytes(b"abc")
    shard = tmp_path / "blobs" / "sha256" / "ba"
    if where == "algorithm-dir":
        os.symlink(outside, tmp_path / "blobs" / "sha256")
    elif where == "shard-dir":
        shard.parent.mkdir()
        os.symlink(outside, shard)
    else:
        shard.mkdir(parents=True)
        (outside / "abc").write_bytes(b"abc")
        os.symlink(outside / "abc", shard / digest.hex[2:])
    with pytest.raises(IntegrityError):
        store.put_bytes(b"abc")
    with pytest.raises(IntegrityError):
        store.get_bytes(digest)
    with pytest.raises(IntegrityError):
        store.exists(digest)
    with pytest.raises(IntegrityError):
        list(store.iter_digests())
    assert sorted(p.name for p in outside.iterdir()) == ([] if where != "blob" else ["abc"])


def test_local_iter_digests_skips_stray_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digest = store.put_bytes(b"abc")
    (tmp_path / "blobs" / "sha256" / "ba" / "notes.txt").write_bytes(b"")
    (tmp_path / "blobs" / "sha256" / "zz").mkdir()
    (tmp_path / "blobs" / "tmp").mkdir(exist_ok=True)
    (tmp_path / "blobs" / "tmp" / ".tmp-0123").write_bytes(b"")
    assert list(store.iter_digests()) == [digest]


def test_local_put_file_errors(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(NotFoundError):
        store.put_file(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="directory"):
        store.put_file(tmp_path)


def test_local_missing_root_without_create(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        LocalBlobStore(tmp_path / "nothing", create=False)
