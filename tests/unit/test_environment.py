"""The environment anchor: stable identity, image digests, the manifest format."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import pytest

from forebear.capture import environment as envmod
from forebear.capture.environment import (
    MANIFEST_HEADER,
    EnvironmentAnchor,
    environment_anchor,
    installed_packages,
    parse_manifest,
    parse_manifest_header,
)
from forebear.errors import InvalidInputError

DIGEST = "sha256:" + "ab" * 32


def anchor(**environ: str) -> EnvironmentAnchor:
    return environment_anchor(environ={"PATH": "", **environ}, probe_gpus=False)


def test_same_process_same_digest() -> None:
    first, second = anchor(), anchor()
    assert first == second
    assert first.digest == second.digest
    assert first.digest == "sha256:" + hashlib.sha256(first.manifest()).hexdigest()


def test_describes_this_interpreter() -> None:
    found = anchor()
    assert found.python == ".".join(map(str, sys.version_info[:3]))
    assert found.implementation == sys.implementation.name
    assert found.system and found.machine and found.platform.startswith(found.system)
    names = [line.partition("==")[0] for line in found.packages]
    assert "pytest" in names and "hypothesis" in names
    assert names == sorted(names) and len(names) == len(set(names))


def test_package_names_are_normalized() -> None:
    for line in installed_packages():
        name, sep, version = line.partition("==")
        assert sep and version and name == name.lower()
        assert "_" not in name and "." not in name and "--" not in name


def test_new_distribution_on_sys_path_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = installed_packages()
    info = tmp_path / "Fancy_Pkg.Name-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Fancy_Pkg.Name\nVersion: 1.2.3\n\nName: not-a-header\n"
    )
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    after = installed_packages()
    assert set(after) - set(before) == {"fancy-pkg-name==1.2.3"}


def test_first_of_a_duplicate_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder, version in (("a", "2.0"), ("b", "1.0")):
        info = tmp_path / folder / f"dup_pkg-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Name: dup-pkg\nVersion: {version}\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "a"), str(tmp_path / "b"), *sys.path])
    assert "dup-pkg==2.0" in installed_packages()
    assert "dup-pkg==1.0" not in installed_packages()


def test_image_digest_from_environment() -> None:
    assert anchor(FOREBEAR_IMAGE_DIGEST=DIGEST).image_digest == DIGEST
    assert anchor(FOREBEAR_IMAGE_DIGEST=f" {DIGEST.upper()}\n").image_digest == DIGEST
    pinned = f"ghcr.io/org/train:1.0@{DIGEST}"
    assert anchor(FOREBEAR_IMAGE_DIGEST=pinned).image_digest == DIGEST


def test_image_digest_is_identity() -> None:
    plain, imaged = anchor(), anchor(FOREBEAR_IMAGE_DIGEST=DIGEST)
    assert plain.digest != imaged.digest
    assert f"image: {DIGEST}" in imaged.manifest().decode()


@pytest.mark.parametrize(
    "bad",
    ["latest", "ghcr.io/org/train:1.0", "sha256:abc", "sha512:" + "a" * 128, "", "\n" * 3],
    ids=["tag", "reference", "short", "sha512", "empty", "newlines"],
)
def test_bad_image_digest_is_ignored(bad: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=envmod.__name__):
        found = anchor(FOREBEAR_IMAGE_DIGEST=bad)
    assert found.image_digest is None
    assert found.digest == anchor().digest
    assert "FOREBEAR_IMAGE_DIGEST" in caplog.text


def test_podman_containerenv(tmp_path: Path) -> None:
    path = tmp_path / ".containerenv"
    path.write_text(f'engine="podman-5.0"\nimage="x:latest"\nimageid="{"cd" * 32}"\n')
    assert envmod._image_digest({}, str(path)) == "sha256:" + "cd" * 32
    assert envmod._image_digest({"FOREBEAR_IMAGE_DIGEST": DIGEST}, str(path)) == DIGEST
    path.write_text('engine="podman-5.0"\n')  # unprivileged containers say no more
    assert envmod._image_digest({}, str(path)) is None
    assert envmod._image_digest({}, str(tmp_path / "missing")) is None


def test_cuda_from_environment() -> None:
    assert anchor(CUDA_VERSION="12.1.1").cuda == "12.1.1"
    assert anchor(CUDA_VERSION="12.1\nimage: sha256:x").cuda is None
    assert anchor(CUDA_VERSION="12.1.1").digest != anchor(CUDA_VERSION="11.8.0").digest


def test_host_noise_is_not_identity() -> None:
    base = anchor()
    other_host = EnvironmentAnchor(
        python=base.python,
        implementation=base.implementation,
        system=base.system,
        release="0.0.0-another-kernel",
        machine=base.machine,
        packages=tuple(reversed(base.packages)),
        gpus=("NVIDIA A100-SXM4-80GB",),
        gpu_driver="535.104.05",
    )
    assert other_host.digest == base.digest


def test_manifest_round_trip() -> None:
    found = anchor(FOREBEAR_IMAGE_DIGEST=DIGEST, CUDA_VERSION="12.1.1")
    data = found.manifest()
    assert data.startswith(MANIFEST_HEADER.encode() + b"\n")
    assert parse_manifest(data) == dict(p.split("==", 1) for p in found.packages)
    assert parse_manifest_header(data) == {
        "python": found.python,
        "implementation": found.implementation,
        "system": found.system,
        "machine": found.machine,
        "cuda": "12.1.1",
        "image": DIGEST,
    }


def test_manifest_without_packages() -> None:
    empty = EnvironmentAnchor(
        python="3.11.0",
        implementation="cpython",
        system="Linux",
        release="",
        machine="x",
        packages=(),
    )
    assert parse_manifest(empty.manifest()) == {}
    assert parse_manifest_header(empty.manifest())["python"] == "3.11.0"


BAD_MANIFESTS = {
    "empty": b"",
    "no-header": b"numpy==1.0\n",
    "bad-package": MANIFEST_HEADER.encode() + b"\npython: 3.11\n\nnumpy 1.0\n",
    "not-utf8": b"\xff\xfe",
}


@pytest.mark.parametrize("data", BAD_MANIFESTS.values(), ids=BAD_MANIFESTS.keys())
def test_parse_rejects_garbage(data: bytes) -> None:
    with pytest.raises(InvalidInputError):
        parse_manifest(data)


def test_parse_header_rejects_garbage() -> None:
    with pytest.raises(InvalidInputError):
        parse_manifest_header(MANIFEST_HEADER.encode() + b"\npython 3.11\n\nnumpy==1.0\n")
    with pytest.raises(InvalidInputError):
        parse_manifest_header(b"python: 3.11\n")


def test_record_is_json_safe_summary() -> None:
    found = anchor(FOREBEAR_IMAGE_DIGEST=DIGEST)
    record = found.to_record()
    assert json.loads(json.dumps(record)) == record
    assert record["digest"] == found.digest
    assert record["package_count"] == len(found.packages)
    assert record["image_digest"] == DIGEST
    assert record["platform"] == found.platform
    assert record["name"] == f"python-{found.python}-{found.digest[7:19]}"


def test_fake_nvidia_smi(tmp_path: Path) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\necho 'NVIDIA A100-SXM4-80GB, 535.104.05'\necho 'NVIDIA A100, x, 535.104.05'\n"
    )
    smi.chmod(0o755)
    found = environment_anchor(environ={"PATH": str(tmp_path)})
    assert found.gpus == ("NVIDIA A100-SXM4-80GB", "NVIDIA A100, x")
    assert found.gpu_driver == "535.104.05"
    assert found.digest == anchor().digest
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "nvidia-smi").write_text("#!/bin/sh\nexit 9\n")
    (broken / "nvidia-smi").chmod(0o755)
    assert environment_anchor(environ={"PATH": str(broken)}).gpus is None


def test_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> tuple[str, ...]:
        raise RuntimeError("broken site-packages")

    monkeypatch.setattr(envmod, "installed_packages", explode)
    found = anchor()
    assert found.packages == () and found.python
