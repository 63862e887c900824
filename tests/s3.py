"""S3 for tests: a new bucket per store, on the moto server that `make test` starts.

``scripts/services.sh start`` runs moto in server mode and exports its endpoint as
FOREBEAR_TEST_S3_ENDPOINT (in ``.services/env``). Without it the S3 tests fail with the
fix, never skip.
"""

from __future__ import annotations

import functools
import os
import uuid
from typing import Any

import pytest


def endpoint() -> str:
    """The moto endpoint; fails the test (with the fix) when there is none."""
    url = os.environ.get("FOREBEAR_TEST_S3_ENDPOINT")
    if not url:
        pytest.fail(
            "FOREBEAR_TEST_S3_ENDPOINT is not set: run the suite with `make test`, which starts "
            "moto and PostgreSQL (or `sh scripts/services.sh start && . .services/env`)",
            pytrace=False,
        )
    return url


def client() -> Any:
    """A boto3 S3 client for the test endpoint (one, shared: boto3 clients are thread-safe)."""
    return _client(endpoint())


@functools.cache
def _client(url: str) -> Any:
    from forebear.artifacts.s3 import make_client

    return make_client(endpoint_url=url, region="us-east-1")


def fresh_bucket(*, versioned: bool = False) -> str:
    """Create an empty bucket with a unique name; return the name."""
    s3 = client()
    name = f"forebear-test-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def delete_bucket(name: str) -> None:
    """Delete a test bucket with every object (and object version) in it."""
    s3 = client()
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed})
    s3.delete_bucket(Bucket=name)
