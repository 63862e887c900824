"""Digests, file and tree hashing, and the hash cache."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import forebear
from forebear.errors import InvalidInputError, NotFoundError
from forebear.hashing import (
    TREE_HEADER,
    Digest,
    HashCache,
    hash_file,
    hash_path,
    hash_tree,
    tree_manifest,
)

SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
# From the BLAKE3 reference (test_vectors.json and the README's "abc" example).
BLAKE3_EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
BLAKE3_ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
HOUR_NS = 3600 * 10**9

OpenCache = Callable[..., HashCache]


@pytest.fixture
def open_cache() -> Iterator[OpenCache]:
    """``HashCache`` that is closed when the test ends."""
    caches: list[HashCache] = []

    def open_(*args: Any, **kwargs: Any) -> HashCache:
        caches.append(HashCache(*args, **kwargs))
        return caches[-1]

    yield open_
    for cache in caches:
        cache.close()


def _old(path: Path, age_ns: int = HOUR_NS) -> int:
    """Backdate ``path`` so the cache trusts it; return the new mtime_ns."""
    mtime = time.time_ns() - age_ns
    os.utime(path, ns=(mtime, mtime))
    return mtime


# -- known answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "data", "expected"),
    [
        ("sha256", b"", SHA256_EMPTY),
        ("sha256", b"abc", SHA256_ABC),
        ("blake3", b"", BLAKE3_EMPTY),
        ("blake3", b"abc", BLAKE3_ABC),
    ],
    ids=["sha256-empty", "sha256-abc", "blake3-empty", "blake3-abc"],
)
def test_known_answers(tmp_path: Path, algorithm: str, data: bytes, expected: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert Digest.of_bytes(data, algorithm) == Digest(algorithm, expected)
    assert hash_file(path, algorithm) == Digest(algorithm, expected)
    assert hash_path(path, algorithm) == Digest(algorithm, expected)


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_large_file_matches_in_memory_digest(tmp_path: Path, algorithm: str) -> None:
    data = os.urandom(3 << 20) + b"tail"  # past blake3's mmap and threading thresholds
    path = tmp_path / "big"
    path.write_bytes(data)
    assert hash_file(path, algorithm) == Digest.of_bytes(data, algorithm)
    if algorithm == "sha256":
        assert hash_file(path).hex == hashlib.sha256(data).hexdigest()


def test_hash_file_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        hash_file(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="directory"):
        hash_file(tmp_path)
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="unknown digest algorithm"):
        hash_file(tmp_path / "f", "md5")


def test_hash_file_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        hash_file(tmp_path / "fifo")


def test_import_does_not_load_blake3_or_sqlite() -> None:
    src = str(Path(forebear.__file__).parents[1])
    code = (
        "import sys, forebear.hashing\n"
        "assert 'blake3' not in sys.modules and 'sqlite3' not in sys.modules, sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": src}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# -- Digest ------------------------------------------------------------------------------


def test_digest_text_round_trip() -> None:
    text = f"sha256:{SHA256_ABC}"
    digest = Digest.parse(text)
    assert digest == Digest("sha256", SHA256_ABC)
    assert str(digest) == text
    assert digest.raw == bytes.fromhex(SHA256_ABC)
    assert len(digest.raw) == 32
    assert Digest.parse(f"blake3:{BLAKE3_ABC}").algorithm == "blake3"


def test_digest_is_a_frozen_hashable_value() -> None:
    a = Digest("sha256", SHA256_ABC)
    b = Digest.parse(f"sha256:{SHA256_ABC}")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Digest("blake3", SHA256_ABC)
    with pytest.raises(AttributeError):
        a.hex = SHA256_EMPTY  # type: ignore[misc]
    assert not hasattr(a, "__dict__")


def test_digests_are_ordered_by_text() -> None:
    digests = [
        Digest("sha256", SHA256_EMPTY),
        Digest("sha256", SHA256_ABC),
        Digest("blake3", BLAKE3_EMPTY),
        Digest("blake3", BLAKE3_ABC),
    ]
    assert [str(d) for d in sorted(digests)] == sorted(str(d) for d in digests)
    assert Digest("sha256", SHA256_ABC) < Digest("sha256", SHA256_EMPTY)
    assert Digest("blake3", BLAKE3_EMPTY) <= Digest("sha256", SHA256_ABC)


@pytest.mark.parametrize(
    "text",
    [
        f"SHA256:{SHA256_ABC}",
        f"sha256:{SHA256_ABC.upper()}",
        f"sha256:{SHA256_ABC[:-1]}",
        f"sha256:{SHA256_ABC}0",
        SHA256_ABC,
        f"md5:{SHA256_ABC}",
        f" sha256:{SHA256_ABC}",
        f"sha256:{SHA256_ABC}\n",
        f"sha256: {SHA256_ABC}",
        f"sha256:{SHA256_ABC[:-1]}g",
        f"sha256:{SHA256_ABC[:-1]}\u0663",  # an Arabic-Indic digit: \d would take it
        "sha256:",
        "",
    ],
    ids=[
        "uppercase-algorithm",
        "uppercase-hex",
        "short",
        "long",
        "bare-hex",
        "unknown-algorithm",
        "leading-space",
        "trailing-newline",
        "space-after-colon",
        "non-hex",
        "unicode-digit",
        "no-hex",
        "empty",
    ],
)
def test_digest_parse_refuses(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"expected 'sha256:<64 lowercase hex"):
        Digest.parse(text)


@pytest.mark.parametrize(
    ("algorithm", "hex_"),
    [("md5", SHA256_ABC), ("sha256", SHA256_ABC.upper()), ("sha256", "ab")],
    ids=["unknown-algorithm", "uppercase", "short"],
)
def test_digest_constructor_validates(algorithm: str, hex_: str) -> None:
    with pytest.raises(InvalidInputError):
        Digest(algorithm, hex_)


def test_digest_parse_refuses_non_strings() -> None:
    with pytest.raises(InvalidInputError):
        Digest.parse(b"sha256:" + SHA256_ABC.encode())  # type: ignore[arg-type]


# -- trees -------------------------------------------------------------------------------


def _make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


FILES = {"b.txt": b"bee", "a/x.bin": b"\x00\x01", "a/b/c.txt": b"", "a.txt": b"a"}


def test_tree_manifest_format(tmp_path: Path) -> None:
    root = _make_tree(tmp_path / "t", {"b": b"bee", "a/x": b"abc"})
    os.symlink("b", root / "link")
    expected = (
        TREE_HEADER
        + f"file sha256:{SHA256_ABC} a/x\n".encode()
        + f"file {Digest.of_bytes(b'bee')} b\n".encode()
        + f"link {Digest.of_bytes(b'b')} link\n".encode()
    )
    assert tree_manifest(root) == expected
    assert hash_tree(root) == Digest.of_bytes(expected)
    assert hash_path(root) == hash_tree(root)


def test_tree_digest_is_deterministic_across_creation_order(tmp_path: Path) -> None:
    one = _make_tree(tmp_path / "one", FILES)
    two = _make_tree(tmp_path / "two", dict(reversed(FILES.items())))
    assert tree_manifest(one) == tree_manifest(two)
    assert hash_tree(one) == hash_tree(two)
    assert hash_tree(one, "blake3") == hash_tree(two, "blake3") != hash_tree(one)


def test_tree_sorts_by_path_bytes(tmp_path: Path) -> None:
    # '-' (0x2d) sorts before '/' (0x2f): "a-b" precedes "a/b" although "a" is a directory.
    root = _make_tree(tmp_path / "t", {"a/b": b"1", "a-b": b"2", "a.b": b"3"})
    names = [line.rsplit(b" ", 1)[1] for line in tree_manifest(root).splitlines()[1:]]
    assert names == [b"a-b", b"a.b", b"a/b"]


@pytest.mark.parametrize(
    "change",
    ["rename", "move-to-subdir", "edit-content", "add-file", "remove-file", "add-empty-file"],
)
def test_tree_digest_sees_every_change(tmp_path: Path, change: str) -> None:
    root = _make_tree(tmp_path / "t", FILES)
    before = hash_tree(root)
    if change == "rename":
        (root / "b.txt").rename(root / "c.txt")
    elif change == "move-to-subdir":
        (root / "b.txt").rename(root / "a" / "b.txt")
    elif change == "edit-content":
        (root / "a" / "x.bin").write_bytes(b"\x00\x02")
    elif change == "add-file":
        (root / "new").write_bytes(b"n")
    elif change == "remove-file":
        (root / "a.txt").unlink()
    else:
        (root / "a" / "b" / "empty").write_bytes(b"")
    assert hash_tree(root) != before


def test_tree_ignores_empty_directories(tmp_path: Path) -> None:
    root = _make_tree(tmp_path / "t", FILES)
    before = hash_tree(root)
    (root / "empty" / "deeper").mkdir(parents=True)
    assert hash_tree(root) == before


def test_tree_records_symlinks_without_following_them(tmp_path: Path) -> None:
    outside = _make_tree(tmp_path / "outside", {"secret": b"s"})
    root = _make_tree(tmp_path / "t", {"f": b"f"})
    os.symlink(outside, root / "dir-link")
    manifest = tree_manifest(root)
    assert b"secret" not in manifest
    assert f"link {Digest.of_bytes(os.fsencode(outside))} dir-link\n".encode() in manifest
    before = hash_tree(root)
    (outside / "secret").write_bytes(b"changed")  # content behind a link is not covered
    assert hash_tree(root) == before
    (root / "dir-link").unlink()
    os.symlink(tmp_path, root / "dir-link")  # where it points is
    assert hash_tree(root) != before


def test_tree_refuses_newlines_and_special_files(tmp_path: Path) -> None:
    root = _make_tree(tmp_path / "t", {"bad\nname": b"x"})
    with pytest.raises(InvalidInputError, match="newline"):
        hash_tree(root)
    other = _make_tree(tmp_path / "u", {"f": b"x"})
    os.mkfifo(other / "fifo")
    with pytest.raises(InvalidInputError, match="neither"):
        hash_tree(other)


def test_tree_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        hash_tree(tmp_path / "missing")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="not a directory"):
        hash_tree(tmp_path / "f")


def test_empty_tree_is_just_the_header(tmp_path: Path) -> None:
    assert tree_manifest(tmp_path) == TREE_HEADER


# -- cache -------------------------------------------------------------------------------


def test_cache_returns_the_digest_and_persists_it(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    _old(path)
    db = tmp_path / ".forebear" / "hashcache.db"
    with HashCache(db) as cache:
        assert cache.digest(path) == Digest("sha256", SHA256_ABC)
        assert cache.digest(path, "blake3") == Digest("blake3", BLAKE3_ABC)
    assert db.is_file()


def test_cache_hit_does_not_rehash(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    mtime = _old(path)
    db = tmp_path / "cache.db"
    with HashCache(db) as cache:
        original = cache.digest(path)
    # Same size, same mtime, same inode, other bytes: only a cache hit returns the old digest.
    path.write_bytes(b"xyz")
    os.utime(path, ns=(mtime, mtime))
    with HashCache(db) as cache:  # a new instance: the hit comes from SQLite
        assert cache.digest(path) == original
        assert cache.digest(path) == original  # and then from memory
    assert HashCache(None).digest(path) == Digest.of_bytes(b"xyz")


def test_cache_sees_same_size_edit_with_new_mtime(tmp_path: Path, open_cache: OpenCache) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    mtime = _old(path)
    cache = open_cache(tmp_path / "cache.db")
    assert cache.digest(path) == Digest.of_bytes(b"abc")
    path.write_bytes(b"xyz")
    os.utime(path, ns=(mtime + 1, mtime + 1))  # one nanosecond later is enough
    assert cache.digest(path) == Digest.of_bytes(b"xyz")


def test_cache_sees_size_change_with_same_mtime(tmp_path: Path, open_cache: OpenCache) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    mtime = _old(path)
    cache = open_cache(tmp_path / "cache.db")
    cache.digest(path)
    path.write_bytes(b"abcd")
    os.utime(path, ns=(mtime, mtime))
    assert cache.digest(path) == Digest.of_bytes(b"abcd")


def test_cache_does_not_remember_racy_digests(tmp_path: Path, open_cache: OpenCache) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    mtime = os.stat(path).st_mtime_ns
    # The clock says the file was written this very moment: a write in the same clock
    # tick could keep mtime, so the digest must not be trusted later.
    cache = open_cache(tmp_path / "cache.db", clock=lambda: mtime)
    assert cache.digest(path) == Digest.of_bytes(b"abc")
    path.write_bytes(b"xyz")
    os.utime(path, ns=(mtime, mtime))
    assert cache.digest(path) == Digest.of_bytes(b"xyz")


def test_cache_handles_directories_per_file(tmp_path: Path, open_cache: OpenCache) -> None:
    root = _make_tree(tmp_path / "t", FILES)
    mtimes = {name: _old(root / name) for name in FILES}
    cache = open_cache(tmp_path / "cache.db")
    assert cache.digest(root) == hash_tree(root)
    assert cache.digest(root, "blake3") == hash_tree(root, "blake3")
    # A hit per file: content swapped behind unchanged stats is not re-read...
    (root / "b.txt").write_bytes(b"BEE")
    os.utime(root / "b.txt", ns=(mtimes["b.txt"],) * 2)
    assert cache.digest(root) != hash_tree(root)
    # ...while a file whose mtime moved is.
    os.utime(root / "b.txt", ns=(mtimes["b.txt"] + 1,) * 2)
    assert cache.digest(root) == hash_tree(root)


@pytest.mark.parametrize(
    "damage",
    [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 4000, b""],
    ids=["garbage", "bad-header-body", "empty"],
)
def test_cache_recreates_a_corrupt_file(tmp_path: Path, damage: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    mtime = _old(path)
    db = tmp_path / "cache.db"
    db.write_bytes(damage)
    with HashCache(db) as cache:
        assert cache.digest(path) == Digest.of_bytes(b"abc")
    # The recreated file works: it now holds the digest (a stale one proves the hit).
    path.write_bytes(b"xyz")
    os.utime(path, ns=(mtime, mtime))
    with HashCache(db) as cache:
        assert cache.digest(path) == Digest.of_bytes(b"abc")


def test_cache_survives_corruption_while_open(tmp_path: Path, open_cache: OpenCache) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    _old(path)
    db = tmp_path / "cache.db"
    cache = open_cache(db)
    db.write_bytes(b"\x00garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert cache.digest(path) == Digest.of_bytes(b"abc")
    assert open_cache(db).digest(path) == Digest.of_bytes(b"abc")


def test_cache_works_in_memory_when_the_file_cannot_be_created(
    tmp_path: Path, open_cache: OpenCache
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    cache = open_cache(blocker / "cache.db")
    assert cache.digest(path) == Digest.of_bytes(b"abc")


def test_cache_errors(tmp_path: Path, open_cache: OpenCache) -> None:
    cache = open_cache(None)
    with pytest.raises(NotFoundError):
        cache.digest(tmp_path / "missing")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InvalidInputError):
        cache.digest(tmp_path / "fifo")


def test_cache_is_thread_safe(tmp_path: Path, open_cache: OpenCache) -> None:
    paths = []
    for i in range(40):
        path = tmp_path / f"f{i}"
        path.write_bytes(os.urandom(1000 + i))
        _old(path)
        paths.append(path)
    expected = {path: hash_file(path) for path in paths}
    cache = open_cache(tmp_path / "cache.db")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                for path in paths:
                    assert cache.digest(path) == expected[path]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_cache_recheck_reads_none_of_the_file(
    tmp_path: Path, open_cache: OpenCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The speed of a recheck is bench_hashing's; what a test can hold is that a recheck
    # of an unchanged file costs a stat, never a read, however big the file.
    import forebear.hashing as hashing

    path = tmp_path / "big"
    with path.open("wb") as f:
        f.truncate(64 << 20)  # sparse: the size is what matters, not the bytes
    _old(path)
    cache = open_cache(tmp_path / "cache.db")
    first = cache.digest(path)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read again")

    monkeypatch.setattr(hashing, "_hash_regular_file", no_reading)
    assert cache.digest(path) == first
    with HashCache(tmp_path / "cache.db") as fresh:  # from the SQLite file too
        assert fresh.digest(path) == first


def test_a_read_only_cache_uses_what_is_remembered_and_writes_nothing(tmp_path: Path) -> None:
    import os
    import time

    from forebear.hashing import HashCache

    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 100)
    past = time.time_ns() - 60 * 10**9
    os.utime(data, ns=(past, past))
    missing = tmp_path / "none" / "cache.db"
    with HashCache(missing, read_only=True) as cache:
        digest = cache.digest(data)
    assert not missing.parent.exists()  # not created
    path = tmp_path / "cache.db"
    with HashCache(path) as cache:
        assert cache.digest(data) == digest
    before = path.read_bytes()
    other = tmp_path / "other.bin"
    other.write_bytes(b"y")
    os.utime(other, ns=(past, past))
    with HashCache(path, read_only=True) as cache:
        assert cache._load(("sha256", data.stat().st_dev, data.stat().st_ino)) is not None
        cache.digest(other)
    with HashCache(path) as cache:
        assert cache._load(("sha256", other.stat().st_dev, other.stat().st_ino)) is None
    assert path.read_bytes() == before
