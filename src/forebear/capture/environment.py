"""The environment anchor: the interpreter, the platform and every installed package.

Its identity is the digest of a deterministic text manifest. Only what decides how the
code behaves belongs in it: Python version and implementation, OS name, CPU
architecture, CUDA toolkit version, container image digest (when known) and the
``name==version`` of each installed distribution. Host noise is left out so that two
runs in the same environment share one digest: hostname, times, paths, the kernel
release (a container's kernel is its host's), GPU models and driver versions (the same
image runs on different nodes). Those still appear in ``to_record()``.

Capture must never fail a training run: ``environment_anchor`` never raises, and what it
cannot detect is None. The package scan is cached per process, keyed by ``sys.path`` and
the modification times of its entries, so a ``pip install`` mid-process is still seen.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from forebear.errors import InvalidInputError

__all__ = [
    "MANIFEST_HEADER",
    "EnvironmentAnchor",
    "environment_anchor",
    "installed_packages",
    "parse_manifest",
    "parse_manifest_header",
]

MANIFEST_HEADER = "# forebear environment manifest v1"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CUDA = re.compile(r"[0-9][0-9A-Za-z.+-]{0,31}")
_CONTAINERENV = "/run/.containerenv"
_NVIDIA_SMI_TIMEOUT = 2.0
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvironmentAnchor:
    """The software environment a run used; ``digest`` is its identity."""

    python: str
    implementation: str
    system: str
    release: str
    machine: str
    packages: tuple[str, ...]
    image_digest: str | None = None
    cuda: str | None = None
    gpus: tuple[str, ...] | None = None
    gpu_driver: str | None = None

    @property
    def platform(self) -> str:
        """OS name and release, such as ``Linux 6.1.0-18-amd64``."""
        return f"{self.system} {self.release}".strip()

    def manifest(self) -> bytes:
        """The identity-bearing text: a ``key: value`` header, a blank line, then one
        ``name==version`` per line, sorted. Optional keys appear only when known."""
        header = {
            "python": self.python,
            "implementation": self.implementation,
            "system": self.system,
            "machine": self.machine,
            "cuda": self.cuda,
            "image": self.image_digest,
        }
        lines = [MANIFEST_HEADER]
        lines += [f"{k}: {_one_line(v)}" for k, v in header.items() if v is not None]
        lines.append("")
        lines += sorted(self.packages, key=lambda line: (line.partition("==")[0], line))
        return ("\n".join(lines) + "\n").encode()

    @property
    def digest(self) -> str:
        """``sha256:`` of the manifest."""
        return "sha256:" + hashlib.sha256(self.manifest()).hexdigest()

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe summary; the full package list lives in the manifest blob.

        ``name`` (``python-3.11.7-<12 hex of the digest>``) is what lineage shows for the
        environment artifact, the same from the SDK and from ``forebear exec``.
        """
        digest = self.digest
        return {
            "digest": digest,
            "name": f"python-{self.python}-{digest[7:19]}",
            "python": self.python,
            "implementation": self.implementation,
            "platform": self.platform,
            "machine": self.machine,
            "image_digest": self.image_digest,
            "cuda": self.cuda,
            "gpus": None if self.gpus is None else list(self.gpus),
            "gpu_driver": self.gpu_driver,
            "package_count": len(self.packages),
        }


def environment_anchor(
    *, environ: Mapping[str, str] | None = None, probe_gpus: bool = True
) -> EnvironmentAnchor:
    """Anchor the running interpreter's environment. Never raises.

    The image digest comes from ``FOREBEAR_IMAGE_DIGEST`` (``sha256:<hex>``, or a pinned
    reference ``name@sha256:<hex>``), else from Podman's ``/run/.containerenv``; a tag is
    never taken. GPUs come from ``nvidia-smi`` when it is on PATH (once per process, 2 s
    timeout; ``probe_gpus=False`` skips it), the CUDA version from ``CUDA_VERSION``.
    """
    import platform

    env = os.environ if environ is None else environ
    no_gpus: tuple[tuple[str, ...] | None, str | None] = (None, None)
    gpus, driver = _safe(lambda: _gpus(env) if probe_gpus else no_gpus, no_gpus, "GPUs")
    cuda = env.get("CUDA_VERSION", "").strip()
    return EnvironmentAnchor(
        python=platform.python_version(),
        implementation=sys.implementation.name,
        system=_one_line(platform.system()),
        release=_one_line(platform.release()),
        machine=_one_line(platform.machine()),
        packages=_safe(installed_packages, (), "installed packages"),
        image_digest=_safe(lambda: _image_digest(env, _CONTAINERENV), None, "image digest"),
        cuda=cuda if _CUDA.fullmatch(cuda) else None,
        gpus=gpus,
        gpu_driver=driver,
    )


def installed_packages() -> tuple[str, ...]:
    """Installed distributions as sorted ``name==version``, names normalized (PEP 503);
    where a name is installed twice on ``sys.path``, the one imported (first) wins."""
    key = tuple((entry, _mtime(entry)) for entry in sys.path)
    return _scan(key)


def parse_manifest(data: bytes) -> dict[str, str]:
    """Package name -> version from a manifest made by `EnvironmentAnchor.manifest`."""
    packages: dict[str, str] = {}
    for line in _sections(data)[1]:
        name, sep, version = line.partition("==")
        if not sep or not name or not version:
            raise InvalidInputError(
                f"not a name==version line in an environment manifest: {line!r}",
                hint="give the bytes of a manifest that forebear wrote",
            )
        packages[name] = version
    return packages


def parse_manifest_header(data: bytes) -> dict[str, str]:
    """The manifest's header (python, implementation, system, machine, cuda, image)."""
    header: dict[str, str] = {}
    for line in _sections(data)[0]:
        key, sep, value = line.partition(": ")
        if not sep:
            raise InvalidInputError(
                f"not a key: value line in an environment manifest header: {line!r}",
                hint="give the bytes of a manifest that forebear wrote",
            )
        header[key] = value
    return header


# -- internals -------------------------------------------------------------------------


def _log() -> Any:
    import logging  # lazily: only on failure paths

    return logging.getLogger(__name__)


def _safe(probe: Callable[[], _T], default: _T, what: str) -> _T:
    try:
        return probe()
    except Exception:  # a lineage tracker must never be why a training run dies
        _log().warning("forebear: could not detect the %s", what, exc_info=True)
        return default


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _sections(data: bytes) -> tuple[list[str], list[str]]:
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InvalidInputError("an environment manifest must be UTF-8") from exc
    if not lines or lines[0] != MANIFEST_HEADER:
        raise InvalidInputError(
            "not a forebear environment manifest",
            hint=f"a manifest starts with {MANIFEST_HEADER!r}",
        )
    blank = lines.index("") if "" in lines else len(lines)
    body = [line for line in lines[blank + 1 :] if line and not line.startswith("#")]
    return lines[1:blank], body


def _mtime(entry: str) -> int:
    try:
        return os.stat(entry or ".").st_mtime_ns
    except OSError:
        return -1


@functools.lru_cache(maxsize=8)
def _scan(key: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    import importlib.metadata

    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=[entry for entry, _ in key]):
        name, version = _name_version(dist)
        if name and version:
            found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), version)
    return tuple(f"{name}=={version}" for name, version in sorted(found.items()))


def _name_version(dist: Any) -> tuple[str | None, str | None]:
    # Reading two headers by hand is ~15x faster than dist.metadata, which parses the
    # whole file (long description included) as an email message.
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in _headers(text.splitlines()):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "name" and name is None:
            name = value.strip()
        elif key == "version" and version is None:
            version = value.strip()
    if not name or not version or any(c.isspace() for c in name + version):
        return None, None
    return name, version


def _headers(lines: Iterable[str]) -> Iterable[str]:
    for line in lines:
        if not line.strip():
            return
        yield line


def _image_digest(environ: Mapping[str, str], containerenv: str) -> str | None:
    raw = environ.get("FOREBEAR_IMAGE_DIGEST")
    if raw is not None:
        value = raw.strip().rpartition("@")[2].lower()
        if _DIGEST.fullmatch(value):
            return value
        _log().warning(
            "forebear: FOREBEAR_IMAGE_DIGEST ignored: %r is not sha256:<64 hex>", raw[:100]
        )
    try:  # Podman, for --privileged containers: imageid="<64 hex>"
        with open(containerenv, encoding="utf-8", errors="replace") as fh:
            text = fh.read(65536)
    except OSError:
        return None
    match = re.search(r'^imageid="(?:sha256:)?([0-9a-f]{64})"', text, re.MULTILINE)
    return f"sha256:{match.group(1)}" if match else None


def _gpus(environ: Mapping[str, str]) -> tuple[tuple[str, ...] | None, str | None]:
    import shutil

    exe = shutil.which("nvidia-smi", path=environ.get("PATH"))
    return (None, None) if exe is None else _nvidia_smi(exe)


@functools.cache
def _nvidia_smi(exe: str) -> tuple[tuple[str, ...] | None, str | None]:
    import subprocess

    try:
        done = subprocess.run(
            [exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=_NVIDIA_SMI_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if done.returncode:
        return None, None
    names: list[str] = []
    drivers: set[str] = set()
    for line in done.stdout.decode(errors="replace").splitlines():
        name, _, driver = line.rpartition(",")
        if name.strip():
            names.append(_one_line(name))
            drivers.add(driver.strip())
    return (tuple(names) or None), (", ".join(sorted(drivers)) or None)
