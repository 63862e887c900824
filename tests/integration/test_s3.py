"""The S3 blob store's own rules, against the moto server that `make test` runs.

The blob contract suite (tests/contract/test_blobs.py) already runs on S3; these are the
URL, upload, reference-only and migration parts that only S3 has.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forebear.artifacts.base import open_blob_store
from forebear.artifacts.local import LocalBlobStore
from forebear.artifacts.s3 import S3BlobStore, reference, still_matches
from forebear.cli import main
from forebear.errors import ConfigError, IntegrityError, InvalidInputError, NotFoundError
from forebear.hashing import Digest
from forebear.store.registry import init_store
from tests import s3


@pytest.fixture
def bucket() -> Iterator[str]:
    name = s3.fresh_bucket(versioned=True)
    try:
        yield name
    finally:
        s3.delete_bucket(name)


def _keys(bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", ()))


class _Counting:
    """A client proxy that counts calls, to see which requests a put makes."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if callable(attr):
            self.calls.append(name)
        return attr


def test_a_url_with_options_opens_a_working_store(bucket: str) -> None:
    url = f"s3://{bucket}/team/models?endpoint_url={s3.endpoint()}&region=us-east-1"
    store = open_blob_store(url)
    assert isinstance(store, S3BlobStore)
    digest = store.put_bytes(b"weights")
    assert _keys(bucket) == [f"team/models/sha256/{digest.hex[:2]}/{digest.hex[2:]}"]
    assert store.get_bytes(digest) == b"weights"


def test_endpoint_and_credentials_come_from_the_aws_settings(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint())
    store = open_blob_store(f"s3://{bucket}")
    digest = store.put_bytes(b"x")
    assert _keys(bucket) == [f"sha256/{digest.hex[:2]}/{digest.hex[2:]}"]


@pytest.mark.parametrize(
    "url",
    ["s3://Bad_Bucket/p", "s3://ab/p", "s3://bucket/../other", "s3://bucket/a//b",
     "s3://bucket/p?colour=blue", "s3://bucket/p?versionId=3", "s3://user@bucket/p",
     "s3:///p"],
    ids=["uppercase", "short", "dotdot", "empty-segment", "unknown-option", "version",
         "userinfo", "no-bucket"],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises((InvalidInputError, ConfigError)):
        open_blob_store(url)


def test_a_missing_bucket_is_a_clear_error() -> None:
    store = S3BlobStore("forebear-no-such-bucket", client=s3.client())
    with pytest.raises(ConfigError, match="does not exist"):
        store.put_bytes(b"x")


def test_uploads_leave_no_temporary_objects(bucket: str, tmp_path: Path) -> None:
    store = S3BlobStore(bucket, "p", client=s3.client(), multipart_threshold=5 << 20,
                        multipart_chunksize=5 << 20)
    path = tmp_path / "big"
    path.write_bytes(os.urandom(11 << 20))  # three parts
    digest = store.put_file(path)
    with path.open("rb") as f:
        assert store.put_stream(f) == digest
    assert _keys(bucket) == [store.key_for(digest)]
    assert store.verify(digest)


def test_a_stored_file_is_not_uploaded_again(bucket: str, tmp_path: Path) -> None:
    client = _Counting(s3.client())
    store = S3BlobStore(bucket, client=client)
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights" * 1000)
    store.put_file(path)
    assert "upload_fileobj" in client.calls
    client.calls.clear()
    store.put_file(path)
    assert client.calls == ["head_object"]


def test_a_file_that_changes_during_upload_is_refused(bucket: str, tmp_path: Path) -> None:
    store = S3BlobStore(bucket, client=s3.client())
    path = tmp_path / "growing"
    path.write_bytes(b"before")
    upload = store.client.upload_fileobj

    def upload_while_changing(reader: Any, *args: Any, **kwargs: Any) -> None:
        path.write_bytes(b"after!")  # same size: only the hash can tell
        upload(reader, *args, **kwargs)

    store.client = _Counting(store.client)
    object.__setattr__(store.client, "upload_fileobj", upload_while_changing)
    with pytest.raises(IntegrityError, match="changed while"):
        store.put_file(path)
    assert [k for k in _keys(bucket) if "/tmp/" in k or k.startswith("tmp/")] == []


def test_reference_hashes_an_existing_object_in_place(bucket: str) -> None:
    client = s3.client()
    first = client.put_object(Bucket=bucket, Key="datasets/imagenet.tar", Body=b"v1 bytes")
    ref = reference(f"s3://{bucket}/datasets/imagenet.tar", client=client)
    assert ref == {
        "uri": f"s3://{bucket}/datasets/imagenet.tar",
        "digest": str(Digest.of_bytes(b"v1 bytes")),
        "etag": first["ETag"].strip('"'),
        "version_id": first["VersionId"],
        "size": 8,
    }
    assert still_matches(ref, client=client)
    client.put_object(Bucket=bucket, Key="datasets/imagenet.tar", Body=b"v2 bytes!")
    latest = reference(f"s3://{bucket}/datasets/imagenet.tar", client=client)
    assert latest["digest"] != ref["digest"]
    assert not still_matches({**ref, "version_id": None}, client=client)
    assert still_matches(ref, client=client)  # that version is still there, unchanged
    pinned = reference(
        f"s3://{bucket}/datasets/imagenet.tar?versionId={ref['version_id']}", client=client
    )
    assert pinned == ref


def test_reference_errors(bucket: str) -> None:
    client = s3.client()
    with pytest.raises(NotFoundError):
        reference(f"s3://{bucket}/missing", client=client)
    assert not still_matches({"uri": f"s3://{bucket}/missing", "etag": "x", "size": 1},
                             client=client)
    for url in (f"s3://{bucket}/", f"s3://{bucket}/a/../b", "s3:/x", "http://h/x"):
        with pytest.raises(InvalidInputError):
            reference(url, client=client)


def test_migrate_copies_the_blobs_to_s3(
    bucket: str, project_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store_dir = init_store(project_dir)
    local = LocalBlobStore(store_dir / "blobs")
    digests = {local.put_bytes(f"blob {i}".encode()) for i in range(5)}
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint())
    target = project_dir / "copy.db"
    url = f"s3://{bucket}/lineage"
    assert main(["migrate", "--to", f"sqlite:///{target}", "--blobs-to", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blobs_copied"] == 5
    assert set(open_blob_store(url).iter_digests()) == digests
    assert main(["migrate", "--to", f"sqlite:///{target}", "--blobs-to", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blobs_copied"] == 0


def test_a_server_whose_bucket_is_gone_answers_503_not_a_client_error(
    tmp_path: Path,
) -> None:
    from forebear.server.app import close_app, create_app, state_of
    from forebear.store.registry import open_store
    from tests.serverkit import Api

    name = s3.fresh_bucket()
    store = open_store(str(init_store(tmp_path)))
    app = create_app(store, blobs=S3BlobStore(name, "p", client=s3.client()))
    try:
        token = state_of(app).tokens.create("write")[1]
        s3.delete_bucket(name)  # deleted, or a policy changed, after the server started
        data = b"weights"
        answer = Api(app, token).put(
            "/api/v1/blobs/sha256:" + hashlib.sha256(data).hexdigest(), content=data)
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == "blob_store_unavailable" and "does not exist" in error["message"]
        # A download too: S3's HEAD says a bare 404 for a missing bucket, not "no blob".
        answer = Api(app, token).get("/api/v1/blobs/sha256:" + hashlib.sha256(data).hexdigest())
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "blob_store_unavailable"
    finally:
        close_app(app)
        store.close()


def test_serve_and_migrate_check_the_bucket_before_they_start(tmp_path: Path) -> None:
    from tests.serverkit import clean_env, cli

    env = clean_env(AWS_ENDPOINT_URL=s3.endpoint())
    cli("init", str(tmp_path), env=env)
    url = "s3://forebear-no-such-bucket/p"
    served = cli("serve", "--port", "0", "--blob-store", url, env=env, cwd=tmp_path,
                 check=False)
    assert served.returncode == 2, served.stderr
    assert served.stderr.startswith("error: the bucket s3://forebear-no-such-bucket does not "
                                    "exist"), served.stderr
    target = tmp_path / "copy.db"
    moved = cli("migrate", "--to", f"sqlite:///{target}", "--blobs-to", url, env=env,
                cwd=tmp_path, check=False)
    assert moved.returncode == 2, moved.stderr
    assert moved.stderr.startswith("error: the bucket s3://forebear-no-such-bucket"), (
        moved.stderr)
    assert not target.exists()  # nothing half-migrated
