"""A repository's remote URL, read from its git config, with credentials stripped.

The config file is parsed here rather than with ``git config``: one process fewer per
captured run, and the URL is all the code anchor needs from it.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["read_config", "redact_url", "remote_url"]


def redact_url(url: str) -> str:
    """Strip credentials from a remote URL.

    http(s)/ftp(s): the whole userinfo goes (the "user" is often a token), and so do
    the query and fragment. Other URLs (ssh://, git+ssh://) keep the user name, as in
    ``ssh://git@host/x``, and lose any password. scp-like ``user@host:path`` and local
    paths are kept, minus a ``:password`` before the ``@``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        userinfo, at, hostpath = url.partition("@")
        if at and ":" in userinfo and "/" not in userinfo:
            return f"{userinfo.partition(':')[0]}@{hostpath}"
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority and ":" in authority and "@" in rest:
        # an unescaped "/" in a password (base64 tokens): rather cut too much than leak it
        authority, _, tail = rest.partition("@")
        authority += "@" + tail.partition("/")[0]
        path = tail.partition("/")[2]
        slash = "/" if "/" in tail else ""
    userinfo, at, hostport = authority.rpartition("@")
    if scheme.lower() in {"http", "https", "ftp", "ftps"}:
        path = path.partition("?")[0].partition("#")[0]
        return f"{scheme}://{hostport}{slash}{path}"
    if at:
        authority = f"{userinfo.partition(':')[0]}@{hostport}"
    return f"{scheme}://{authority}{slash}{path}"


def read_config(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) from a git config file, in file order; subsections are
    kept in the section as ``remote.origin``. Includes are not followed."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            m = re.match(r'\[\s*([\w.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]', line)
            if m is None:
                section = ""
                continue
            name, sub = m.group(1), m.group(2)
            if sub is not None:
                section = name.lower() + "." + re.sub(r"\\(.)", r"\1", sub)
            else:  # the old [remote.origin] spelling, whose subsection is lowercased
                section = name.lower()
            continue
        key, eq, value = line.partition("=")
        entries.append((section, key.strip().lower(), _config_value(value) if eq else "true"))
    return entries


def _config_value(raw: str) -> str:
    out: list[str] = []
    quoted = False
    chars = iter(raw.strip())
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"n": "\n", "t": "\t", "b": "\b"}.get(nxt, nxt))
        elif ch == '"':
            quoted = not quoted
        elif ch in "#;" and not quoted:
            break
        else:
            out.append(ch)
    return "".join(out).strip()


def remote_url(config: list[tuple[str, str, str]]) -> str | None:
    """The ``origin`` remote's URL (else the first remote's), credentials stripped."""
    urls: dict[str, str] = {}
    for section, key, value in config:
        if section.startswith("remote.") and key == "url":
            urls.setdefault(section.removeprefix("remote."), value)
    url = urls.get("origin") or next(iter(urls.values()), None)
    return None if url is None else redact_url(url)
