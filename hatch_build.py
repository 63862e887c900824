"""Builds ``forebear.capture._audit``, the file capture's audit hook in C, when it can.

A C compiler and the Python headers are all it needs (no build dependency). Without
them, or on a platform where this plain ``cc -shared`` does not apply, the wheel is
built without it and capture uses its pure-Python hook: the same records, slower.
An editable install builds it in place, beside its source.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/forebear/capture/_audit.c")


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("FOREBEAR_NO_EXTENSION"):
            return
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        source = Path(self.root) / SOURCE
        if version == "editable":
            target = source.with_name("_audit" + suffix)
        else:  # beside the wheel being built, removed in finalize()
            Path(self.directory).mkdir(parents=True, exist_ok=True)
            self._built = Path(tempfile.mkdtemp(prefix="forebear-build-", dir=self.directory))
            target = self._built / ("_audit" + suffix)
        if not _compile(source, target):
            return
        if version != "editable":
            build_data["force_include"][str(target)] = f"forebear/capture/_audit{suffix}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        built = getattr(self, "_built", None)
        if built is not None:
            shutil.rmtree(built, ignore_errors=True)


def _compile(source: Path, target: Path) -> bool:
    if sys.platform == "win32":
        return False
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    include = sysconfig.get_paths()["include"]
    extra = ["-undefined", "dynamic_lookup"] if sys.platform == "darwin" else []
    command = [*compiler, "-O2", "-fPIC", "-shared", f"-I{include}", *extra,
               str(source), "-o", str(target)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        print(f"forebear: no C compiler ({exc}); file capture uses its Python hook",
              file=sys.stderr)
        return False
    if done.returncode != 0:
        print("forebear: could not build the C audit hook; file capture uses its Python "
              f"hook:\n{done.stderr.strip()}", file=sys.stderr)
        return False
    return True
