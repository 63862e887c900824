"""Known answers, round trips and refusals for forebear.journal.checkpoint.

Vectors are facts from golang.org/x/mod/sumdb/note (``note_test.go``: the PeterNeumann and
EnochRoot keys and signatures); the rules come from C2SP signed-note and tlog-checkpoint.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import pickle
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from forebear.errors import CheckpointError, SigningKeyError
from forebear.journal import keys as keys_mod
from forebear.journal.checkpoint import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    open_checkpoint,
    open_note,
    sign,
    sign_note,
)
from forebear.journal.keys import (
    ED25519,
    Ed25519,
    SignatureAlgorithm,
    SigningKey,
    Verifier,
    get_algorithm,
    register_algorithm,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

PETER = SigningKey.parse(PETER_SKEY)
KEY = SigningKey.generate("log.example/forebear")
OTHER = SigningKey.generate("witness.example/w1")
ROOT = hashlib.sha256(b"root").digest()
ORIGIN = "log.example/forebear"


def _signed(body: str, *keys: SigningKey) -> str:
    """A note whose signature is valid over ``body``, so only body rules can reject it."""
    return sign_note(body, list(keys) or [KEY])


# -- known answers ---------------------------------------------------------------------------


def test_key_ids_match_published_vectors() -> None:
    peter, enoch = Verifier.parse(PETER_VKEY), Verifier.parse(ENOCH_VKEY)
    assert peter.key_id.hex() == "c74f20a3"
    assert enoch.key_id.hex() == "af0cfe78"
    # SHA-256(name || 0x0A || 0x01 || public key)[:4], computed independently.
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + peter.public_key).digest()[:4]
    assert peter.key_id == expected
    assert peter.algorithm == ED25519 and len(peter.public_key) == 32


def test_private_key_string_round_trips_and_matches_its_verifier() -> None:
    assert PETER.encode() == PETER_SKEY
    assert PETER.verifier().encode() == PETER_VKEY
    assert PETER.verifier() == Verifier.parse(PETER_VKEY)
    assert Verifier.parse(PETER_VKEY).encode() == PETER_VKEY


def test_sign_note_matches_published_signature() -> None:
    assert sign_note(TEXT, [PETER]) == TEXT + "\n" + PETER_SIG


def test_open_note_with_published_signatures() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    peter, enoch = Verifier.parse(PETER_VKEY), Verifier.parse(ENOCH_VKEY)
    assert open_note(note, [peter]) == TEXT  # EnochRoot unknown: ignored
    assert open_note(note, [enoch]) == TEXT
    assert open_note(note, [peter, enoch, enoch]) == TEXT
    with pytest.raises(CheckpointError, match="not signed by any known key"):
        open_note(note, [])


def test_published_mangled_signature_is_rejected() -> None:
    bad = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(CheckpointError, match=r"PeterNeumann\+c74f20a3 does not verify"):
        open_note(bad, [Verifier.parse(PETER_VKEY)])


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
    ids=["no-sigs", "blank-only", "no-final-newline", "control", "bad-name", "extra-line"],
)
def test_published_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(CheckpointError):
        open_note(note, [Verifier.parse(PETER_VKEY)])


def test_invalid_utf8_note_is_rejected() -> None:
    note = b"\xff" + (TEXT + "\n" + PETER_SIG).encode()
    with pytest.raises(CheckpointError, match="UTF-8"):
        open_note(note, [Verifier.parse(PETER_VKEY)])
    assert open_note((TEXT + "\n" + PETER_SIG).encode(), [Verifier.parse(PETER_VKEY)]) == TEXT


def _manglings(text: str) -> list[str]:
    out = [text[i:j] for i in range(len(text) + 1) for j in range(i + 1, len(text) + 1)]
    out.remove(text)
    out += [text[:i] + chr(ord(text[i]) + 1) + text[i + 1 :] for i in range(len(text))]
    return out


def test_mangled_verifier_keys_are_rejected() -> None:
    for bad in [
        *_manglings(PETER_VKEY),
        # From note_test.go: wrong key length and unknown algorithm, key IDs adjusted.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(CheckpointError):
            Verifier.parse(bad)


def test_mangled_private_keys_are_rejected() -> None:
    for bad in _manglings(PETER_SKEY):
        with pytest.raises(SigningKeyError):
            SigningKey.parse(bad)


def test_checkpoint_known_answer() -> None:
    checkpoint = Checkpoint(origin="example.com/log", size=5, root=bytes(range(32)))
    body = "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert checkpoint.body() == body
    note = sign(checkpoint, [PETER])
    assert note == (
        body + "\n\u2014 PeterNeumann x08go4kNBXT6y6X2qwrNwDNDYuNG8++gsArCBL+L88LFA0vu/Oih+IHF9hub"
        "iI60dpcVznwclzQ1eit6JcwPtXlGywc=\n"
    )
    # The signature is plain Ed25519 over the body bytes, key ID first.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]
    raw = Ed25519PrivateKey.from_private_bytes(seed).sign(body.encode())
    assert note.endswith(base64.b64encode(bytes.fromhex("c74f20a3") + raw).decode() + "\n")
    assert open_checkpoint(note, [Verifier.parse(PETER_VKEY)]) == checkpoint


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1234, 2**63 - 1])
def test_round_trip(size: int) -> None:
    checkpoint = Checkpoint(origin=ORIGIN, size=size, root=ROOT)
    note = sign(checkpoint, [KEY])
    assert note == checkpoint.body() + f"\n\u2014 {KEY.name} " + note.split(" ")[-1]
    assert open_checkpoint(note, [KEY.verifier()], origin=ORIGIN) == checkpoint


def test_round_trip_with_cosigners_and_extensions() -> None:
    checkpoint = Checkpoint(origin=ORIGIN, size=7, root=ROOT, extensions=("ext one", "two"))
    note = sign(checkpoint, [KEY, OTHER])
    assert note.count("\n\u2014 ") == 2
    for verifiers in ([KEY.verifier()], [OTHER.verifier()], [OTHER.verifier(), KEY.verifier()]):
        assert open_checkpoint(note, verifiers) == checkpoint


def test_signature_covers_exactly_the_body() -> None:
    checkpoint = Checkpoint(origin=ORIGIN, size=3, root=ROOT)
    line = sign(checkpoint, [KEY]).splitlines()[-1]
    raw = base64.b64decode(line.split(" ")[-1])
    assert raw[:4] == KEY.key_id
    assert KEY.verifier().verify(checkpoint.body().encode(), raw[4:])
    assert not KEY.verifier().verify((checkpoint.body() + "\n").encode(), raw[4:])
    assert not OTHER.verifier().verify(checkpoint.body().encode(), raw[4:])


def test_sign_refuses_to_write_an_oversized_note() -> None:
    with pytest.raises(CheckpointError, match="larger"):
        sign_note("x" * MAX_NOTE_BYTES + "\n", [KEY])


def test_sign_refuses_bad_key_sets() -> None:
    checkpoint = Checkpoint(origin=ORIGIN, size=1, root=ROOT)
    with pytest.raises(CheckpointError, match="at least one"):
        sign(checkpoint, [])
    with pytest.raises(CheckpointError, match="twice"):
        sign(checkpoint, [KEY, KEY])
    keys = [SigningKey.generate(f"k{i}") for i in range(MAX_SIGNATURES + 1)]
    with pytest.raises(CheckpointError, match="at most"):
        sign(checkpoint, keys)


# -- rejections (REFERENCES.md row 26) -------------------------------------------------------


def _note(**kw: object) -> str:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 10, "root": ROOT, **kw}
    return sign(Checkpoint(**fields), [KEY])  # type: ignore[arg-type]


def _good_body(size: str = "10", root: str | None = None) -> str:
    return f"{ORIGIN}\n{size}\n{root or base64.b64encode(ROOT).decode()}\n"


REJECTIONS: dict[str, tuple[Callable[[], str], str]] = {
    "crlf": (lambda: _note().replace("\n", "\r\n"), "CRLF"),
    "missing-final-newline": (lambda: _note()[:-1], "newline"),
    "ascii-hyphen": (lambda: _note().replace("\u2014", "-"), "em dash"),
    "en-dash": (lambda: _note().replace("\u2014", "\u2013"), "em dash"),
    "nul": (lambda: _note().replace(ORIGIN, ORIGIN + "\x00"), "control character"),
    "tab": (lambda: _note().replace(ORIGIN, ORIGIN + "\t"), "control character"),
    "escape": (lambda: "\x1b[31m" + _note(), "control character"),
    "leading-zeros": (lambda: _signed(_good_body("010")), "leading zeros"),
    "zero-padded-zero": (lambda: _signed(_good_body("00")), "leading zeros"),
    "negative": (lambda: _signed(_good_body("-1")), "negative"),
    "plus-sign": (lambda: _signed(_good_body("+1")), "not a decimal"),
    "unicode-digit": (lambda: _signed(_good_body("\u0661")), "not a decimal"),
    "underscore": (lambda: _signed(_good_body("1_000")), "not a decimal"),
    "too-large": (lambda: _signed(_good_body(str(2**63))), "exceeds"),
    "too-many-digits": (lambda: _signed(_good_body("1" * 40)), "exceeds"),
    "url-safe-root": (
        lambda: _signed(_good_body(root=base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode())),
        "standard padded base64",
    ),
    "unpadded-root": (
        lambda: _signed(_good_body(root=base64.b64encode(ROOT).decode().rstrip("="))),
        "standard padded base64",
    ),
    "non-canonical-root": (
        lambda: _signed(_good_body(root=base64.b64encode(ROOT).decode()[:-2] + "B=")),
        "standard padded base64",
    ),
    "31-byte-root": (lambda: _signed(_good_body(root=base64.b64encode(ROOT[:31]).decode())), "31"),
    "33-byte-root": (
        lambda: _signed(_good_body(root=base64.b64encode(ROOT + b"!").decode())),
        "33",
    ),
    "empty-root": (lambda: _signed(f"{ORIGIN}\n10\n\n"), "empty line"),
    "two-lines": (lambda: _signed(f"{ORIGIN}\n10\n"), "origin, tree size and root"),
    "empty-extension": (lambda: _signed(_good_body() + "\next\n"), "empty line"),
    "no-blank-line": (lambda: _note().replace("\n\n", "\n"), "blank line"),
    "seventeen-signatures": (
        lambda: _note() + _note().splitlines(keepends=True)[-1] * MAX_SIGNATURES,
        "at most 16",
    ),
    "over-size-limit": (lambda: _note().replace(ORIGIN, "x" * MAX_NOTE_BYTES, 1), "larger"),
    "one-megabyte": (lambda: _note() + ("\u2014 y " + "A" * 995 + "\n") * 1000, "larger"),
    "lone-surrogate": (lambda: _note().replace(ORIGIN, ORIGIN + "\ud800"), "UTF-8"),
    "bad-signature-base64": (lambda: _note()[:-3] + "!=\n", "malformed signature"),
    "short-signature": (lambda: _note().rsplit(" ", 1)[0] + " AAAA\n", "malformed signature"),
    "space-in-signer-name": (
        lambda: _note().replace(f"\u2014 {KEY.name} ", f"\u2014 {KEY.name} x "),
        "malformed signature",
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejections(case: str) -> None:
    make, match = REJECTIONS[case]
    with pytest.raises(CheckpointError, match=match) as info:
        open_checkpoint(make(), [KEY.verifier()])
    assert "\n" not in str(info.value)


def test_sixteen_signatures_are_accepted() -> None:
    keys = [KEY, *(SigningKey.generate(f"w{i}.example") for i in range(MAX_SIGNATURES - 1))]
    note = sign(Checkpoint(origin=ORIGIN, size=1, root=ROOT), keys)
    assert open_checkpoint(note, [keys[-1].verifier()]).size == 1


def test_unknown_signers_are_ignored() -> None:
    note = sign(Checkpoint(origin=ORIGIN, size=4, root=ROOT), [OTHER, KEY])
    impostor_name = SigningKey.generate(KEY.name).verifier()  # same name, other key id
    assert open_checkpoint(note, [KEY.verifier()]).size == 4
    assert open_checkpoint(note, [impostor_name, KEY.verifier()]).size == 4
    with pytest.raises(CheckpointError, match="not signed by any known key"):
        open_checkpoint(note, [impostor_name])


def test_known_signer_with_bad_signature_rejects_the_note() -> None:
    note = sign(Checkpoint(origin=ORIGIN, size=4, root=ROOT), [KEY, OTHER])
    lines = note.splitlines(keepends=True)
    raw = bytearray(base64.b64decode(lines[-1].split(" ")[-1]))
    raw[-1] ^= 1
    lines[-1] = f"\u2014 {OTHER.name} {base64.b64encode(bytes(raw)).decode()}\n"
    tampered = "".join(lines)
    assert open_checkpoint(tampered, [KEY.verifier()]).size == 4  # OTHER unknown: ignored
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(tampered, [KEY.verifier(), OTHER.verifier()])


def test_tampered_body_is_rejected() -> None:
    note = _note(size=10).replace("\n10\n", "\n11\n")
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(note, [KEY.verifier()])


def test_origin_mismatch_is_rejected() -> None:
    with pytest.raises(CheckpointError, match="not the expected origin"):
        open_checkpoint(_note(), [KEY.verifier()], origin="log.example/other")


@pytest.mark.parametrize(
    "kw",
    [
        {"size": -1},
        {"size": 2**63},
        {"size": True},
        {"root": ROOT[:31]},
        {"root": "00" * 32},
        {"origin": ""},
        {"origin": "a\nb"},
        {"origin": "a\rb"},
        {"extensions": ("",)},
    ],
    ids=repr,
)
def test_checkpoint_values_are_validated(kw: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, **kw}
    with pytest.raises(CheckpointError):
        Checkpoint(**fields)  # type: ignore[arg-type]


# -- key files -----------------------------------------------------------------------------


def test_key_file_round_trip_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    old = os.umask(0)  # the file must not inherit a permissive umask
    try:
        KEY.save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == KEY.encode() + "\n"
    assert SigningKey.load(path) == KEY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing.key"]  # no temp files left


def test_save_keeps_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    KEY.save(path)
    with pytest.raises(SigningKeyError, match="already exists"):
        OTHER.save(path)
    assert SigningKey.load(path) == KEY
    OTHER.save(path, overwrite=True)
    assert SigningKey.load(path) == OTHER


def test_save_into_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot write"):
        KEY.save(tmp_path / "nope" / "signing.key")


def test_load_missing_key(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="does not exist") as info:
        SigningKey.load(tmp_path / "signing.key")
    assert "FOREBEAR_KEY" in str(info.value)  # the hint names the fix


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o620, 0o602, 0o640, 0o644, 0o660])
def test_load_refuses_a_key_open_to_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "signing.key"
    KEY.save(path)
    path.chmod(mode)
    with pytest.raises(SigningKeyError, match="open to other users") as info:
        SigningKey.load(path)
    assert f"chmod 600 {path}" in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage\n",
        b"\xff\xfe\x00",
        PETER_SKEY[:-4].encode(),
        PETER_SKEY.replace("c74f20a3", "c74f20a4").encode(),
        PETER_SKEY.replace("+AYEK", "+AoEK").encode(),  # unknown algorithm byte
        (PETER_SKEY + "\n\n").encode(),
        (PETER_SKEY + " \n").encode(),
        PETER_VKEY.encode(),
    ],
    ids=[
        "empty",
        "garbage",
        "binary",
        "truncated",
        "wrong-key-id",
        "unknown-algorithm",
        "two-newlines",
        "trailing-space",
        "public-key",
    ],
)
def test_load_refuses_a_corrupt_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "signing.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(SigningKeyError, match=r"signing key .* (corrupt|not a key file)") as info:
        SigningKey.load(path)
    assert "\n" not in str(info.value)


def test_load_accepts_a_go_note_key_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_text(PETER_SKEY)
    path.chmod(0o600)
    assert SigningKey.load(path) == PETER


def test_repr_does_not_show_the_private_key() -> None:
    secret = base64.b64encode(PETER.private_key).decode()
    assert secret not in repr(PETER)
    assert repr(PETER.private_key) not in repr(PETER)
    assert "PeterNeumann" in repr(PETER)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\nb"], ids=repr)
def test_key_names_follow_c2sp(name: str) -> None:
    with pytest.raises(SigningKeyError, match="key name"):
        SigningKey.generate(name)
    with pytest.raises(CheckpointError, match="key name"):
        Verifier(name=name, algorithm=ED25519, public_key=PETER.public_key)


def test_key_bytes_are_checked() -> None:
    with pytest.raises(SigningKeyError, match="32 bytes"):
        SigningKey(name="k", algorithm=ED25519, private_key=b"\x00" * 31)
    with pytest.raises(CheckpointError, match="32 bytes"):
        Verifier(name="k", algorithm=ED25519, public_key=b"\x00" * 33)
    with pytest.raises(SigningKeyError, match="unknown signature type"):
        SigningKey.generate("k", algorithm=0x7A)


def test_keys_pickle_and_copy() -> None:
    for obj in (PETER, PETER.verifier()):
        assert pickle.loads(pickle.dumps(obj)) == obj
        assert copy.deepcopy(obj) == obj
    clone = pickle.loads(pickle.dumps(PETER))
    assert clone.sign(b"m") == PETER.sign(b"m")


def test_verify_returns_false_on_garbage() -> None:
    verifier = KEY.verifier()
    assert not verifier.verify(b"msg", b"")
    assert not verifier.verify(b"msg", b"\x00" * 64)
    assert verifier.verify(b"msg", KEY.sign(b"msg"))


# -- the algorithm registry ----------------------------------------------------------------


class _ToyAlgorithm(SignatureAlgorithm):
    """Not a signature scheme: public key == private key. Tests the plumbing only."""

    type_byte = 0xFF
    label = "toy"

    def generate(self) -> bytes:
        return os.urandom(16)

    def public_key(self, private_key: bytes) -> bytes:
        if len(private_key) != 16:
            raise ValueError("a toy key has 16 bytes")
        return private_key

    def signer(self, private_key: bytes) -> Callable[[bytes], bytes]:
        return lambda text: hashlib.sha256(private_key + text).digest()

    def verifier(self, public_key: bytes) -> Callable[[bytes, bytes], bool]:
        self.public_key(public_key)
        return lambda text, sig: hashlib.sha256(public_key + text).digest() == sig


def test_ed25519_is_registered() -> None:
    assert isinstance(get_algorithm(ED25519), Ed25519)
    assert get_algorithm(0x7A) is None


def test_a_registered_algorithm_signs_beside_ed25519(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(keys_mod._ALGORITHMS, 0xFF, raising=False)  # undone after the test
    register_algorithm(_ToyAlgorithm)
    toy = SigningKey.generate("toy.example/cosigner", algorithm=0xFF)
    verifier = Verifier.parse(toy.verifier().encode())
    assert verifier == toy.verifier()
    assert base64.b64decode(verifier.encode().split("+", 2)[2])[0] == 0xFF
    checkpoint = Checkpoint(origin=ORIGIN, size=9, root=ROOT)
    note = sign(checkpoint, [KEY, toy])
    assert open_checkpoint(note, [verifier]) == checkpoint
    assert open_checkpoint(note, [KEY.verifier(), verifier]) == checkpoint


def test_a_type_byte_cannot_be_taken_twice() -> None:
    class Clash(_ToyAlgorithm):
        type_byte = ED25519

    with pytest.raises(ValueError, match="taken"):
        register_algorithm(Clash)
    assert isinstance(get_algorithm(ED25519), Ed25519)
