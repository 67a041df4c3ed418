"""Signatures: Ed25519 keys that only their holder has (docs/interface-standard.md, section 4).

* An enterprise signs every reading batch and production output with its own private key; the
  registry record of the enterprise carries the matching public keys, each with a validity period
  and possibly a revocation. The platform holds no secret that can sign for an enterprise.
* The registry authority signs every registry record; workers hold only its public key. So a
  public key reaches the worker only through a record the authority signed.

Signed bytes are the message encoded with an empty signature field; ``unsigned_message`` splices
that out of the encoded message so the worker does not re-encode per batch.

Private keys live in PEM (PKCS#8) files of mode 0600 in directories of mode 0700, made on first
use: the simulator's and the demo's enterprises under ``<state_dir>/secrets/enterprise-keys/``,
the local registry authority in ``<state_dir>/secrets/registry-authority.pem`` (+ ``.pub``).
Nothing in the repository signs anything the platform accepts.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

if TYPE_CHECKING:
    from ecmon.settings import Settings

ALGORITHM = "ed25519"
SIGNATURE_LEN = 64
PUBLIC_KEY_LEN = 32

# ------------------------------------------------------------------------------ sign and verify


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public key, as the registry record carries them."""
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(body: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """The 64-byte Ed25519 signature of ``body``."""
    return private_key.sign(body)


@lru_cache(maxsize=65_536)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    # Loading a key costs about as much as a verify; a worker sees the same few keys again and again.
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(body: bytes, public_key: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the Ed25519 signature of ``body`` under the raw ``public_key``."""
    if len(public_key) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        _public_key(public_key).verify(signature, body)
    except (InvalidSignature, ValueError):
        return False
    return True


# ------------------------------------------------------------------------------ the example key

#: The key pair of the interface standard's example batch (``ecmon/interface_example.py``). It is
#: derived from this public text so that vendors can check their encoder against fixed bytes; the
#: platform never accepts it (``public_key_for`` refuses it whatever a registry record says, and the
#: example USCC is not registered).
EXAMPLE_PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(
    hashlib.sha256(b"ecmon interface standard EXAMPLE key: public, never accepted by the platform").digest())
EXAMPLE_PUBLIC_KEY = public_key_raw(EXAMPLE_PRIVATE_KEY)


# ------------------------------------------------------------------------------ keys in registry records


def key_entry(record: dict[str, Any], key_id: str) -> dict[str, Any] | None:
    """The ``public_keys`` entry named ``key_id`` of a registry record, if any."""
    entry: dict[str, Any]
    for entry in record.get("public_keys") or ():
        if entry["key_id"] == key_id:
            return entry
    return None


def format_ms(ms: int) -> str:
    """UTC ISO 8601 with milliseconds, as details and `ecmon keys list` show times."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def key_problem(record: dict[str, Any], key_id: str, at_ms: int, example_key_ok: bool = False) -> str | None:
    """Why signatures of ``key_id`` do not count at ``at_ms`` under this registry record; None if they do.
    ``example_key_ok`` only for offline checks of the published test vectors (`ecmon validate`): the platform
    never passes it."""
    entry = key_entry(record, key_id)
    if entry is None:
        return f"key {key_id} is not among the enterprise's registered public keys"
    if entry.get("algorithm", ALGORITHM) != ALGORITHM or len(entry["public_key"]) != PUBLIC_KEY_LEN:
        return f"key {key_id} is not a {PUBLIC_KEY_LEN}-byte {ALGORITHM} public key"
    if entry["public_key"] == EXAMPLE_PUBLIC_KEY and not example_key_ok:
        return f"key {key_id} is the interface standard's example key, never accepted"
    revoked = entry.get("revoked_at")
    if revoked is not None and revoked <= at_ms:
        return f"key {key_id} revoked at {format_ms(revoked)}"
    until = entry.get("valid_until")
    if at_ms < entry["valid_from"] or (until is not None and at_ms >= until):
        window = f"{format_ms(entry['valid_from'])} to {format_ms(until) if until is not None else 'open end'}"
        return f"key {key_id} not valid at {format_ms(at_ms)} (valid {window})"
    return None


def public_key_for(record: dict[str, Any], key_id: str, at_ms: int) -> bytes | None:
    """The raw public key named ``key_id`` if it is valid and not revoked at ``at_ms``, else None."""
    if key_problem(record, key_id, at_ms) is not None:
        return None
    entry = key_entry(record, key_id)
    assert entry is not None  # key_problem names a missing key
    public_key: bytes = entry["public_key"]
    return public_key


def signature_problem(raw: bytes, record: dict[str, Any], key_id: str, at_ms: int,
                      prefix: tuple[str, ...] | None = None, example_key_ok: bool = False) -> str | None:
    """Why the encoded message ``raw``, signed with ``key_id``, is not accepted under the enterprise's
    registry ``record`` at Kafka record time ``at_ms``; None when its signature verifies."""
    problem = key_problem(record, key_id, at_ms, example_key_ok)
    if problem is not None:
        return problem
    try:
        unsigned, signature = unsigned_message(raw, prefix or READING_BATCH_PREFIX)
    except (ValueError, IndexError):
        return "the signature field cannot be read"
    if not verify(unsigned, key_entry(record, key_id)["public_key"], signature):  # type: ignore[index]
        return f"signature does not verify with key {key_id}"
    return None


# ------------------------------------------------------------------------------ key files


def _private_dir(directory: Path) -> None:
    """Make ``directory`` and any missing parent with mode 0700 (mkdir's mode covers only the last one)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)  # mkdir's mode is masked by the umask


def save_private_key(path: Path, private_key: Ed25519PrivateKey) -> None:
    """Write a PEM PKCS#8 file readable by its owner only (directory 0700, file 0600), never over another."""
    _private_dir(path.parent)
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    try:
        return load_private_key(path)
    except FileNotFoundError:
        pass
    key = generate_private_key()
    try:
        save_private_key(path, key)
    except FileExistsError:  # another process made it first: use theirs
        return load_private_key(path)
    return key


_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_key_id(key_id: str) -> str:
    """Key ids name files: letters, digits, '.', '_', '-', at most 128 characters."""
    if not _KEY_ID.match(key_id):
        raise ValueError(f"key id {key_id!r} must be 1-128 letters, digits, '.', '_' or '-'")
    return key_id


class EnterpriseKeys:
    """Private keys of the enterprises a gateway (or the simulator) signs for, one file per key.

    ``<root>/<uscc>/<key_id>.pem``; ``<root>/<uscc>/current`` names the key the gateway signs with
    (a rotation changes it). Made on first use, so a fresh state directory gets fresh keys.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[tuple[str, str], Ed25519PrivateKey] = {}

    def path(self, uscc: str, key_id: str) -> Path:
        return self.root / check_key_id(uscc) / f"{check_key_id(key_id)}.pem"

    def private_key(self, uscc: str, key_id: str) -> Ed25519PrivateKey:
        """The key ``key_id`` of ``uscc``, generated on first use."""
        key = self._loaded.get((uscc, key_id))
        if key is None:
            key = self._loaded[(uscc, key_id)] = _load_or_create(self.path(uscc, key_id))
        return key

    def public_key(self, uscc: str, key_id: str) -> bytes:
        return public_key_raw(self.private_key(uscc, key_id))

    def create(self, uscc: str, key_id: str) -> Ed25519PrivateKey:
        """A new key; fails if ``key_id`` exists (a key id names one key for good)."""
        key = generate_private_key()
        save_private_key(self.path(uscc, key_id), key)
        self._loaded[(uscc, key_id)] = key
        return key

    def current_key_id(self, uscc: str, default: str) -> str:
        try:
            return check_key_id((self.root / uscc / "current").read_text().strip())
        except FileNotFoundError:
            return default

    def set_current(self, uscc: str, key_id: str) -> None:
        self.path(uscc, key_id)  # validates both names
        tmp = self.root / uscc / "current.tmp"
        tmp.write_text(key_id + "\n")
        tmp.replace(self.root / uscc / "current")

    def key_ids(self, uscc: str) -> list[str]:
        return sorted(p.stem for p in (self.root / uscc).glob("*.pem"))


@lru_cache(maxsize=8)
def enterprise_keys(state_dir: Path) -> EnterpriseKeys:
    """The key store of the simulator's and the demo's enterprises in ``state_dir``."""
    return EnterpriseKeys(state_dir / "secrets" / "enterprise-keys")


# ------------------------------------------------------------------------------ the registry authority


def authority_key_path(state_dir: Path) -> Path:
    return state_dir / "secrets" / "registry-authority.pem"


def registry_authority(state_dir: Path) -> Ed25519PrivateKey:
    """The local registry authority's private key (made on first use, with its ``.pub`` beside it)."""
    path = authority_key_path(state_dir)
    key = _load_or_create(path)
    pub = path.with_suffix(".pub")
    if not pub.exists():
        tmp = pub.with_suffix(".pub.tmp")
        try:
            tmp.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
            tmp.replace(pub)
        except OSError:  # a key mounted read-only (a container secret): the readers get the public key elsewhere
            pass
    return key


class MissingAuthorityKey(RuntimeError):
    pass


def ensure_registry_authority(settings: Settings) -> None:
    """Make the local registry authority's key pair unless the settings name a deployment's public key."""
    if not settings.registry_authority_public_key and settings.registry_authority_public_key_file is None:
        registry_authority(settings.state_dir)


def registry_authority_public_key(settings: Settings) -> bytes:
    """The raw public key registry records must be signed with, from the settings (hex) or the key file."""
    if settings.registry_authority_public_key:
        try:
            raw = bytes.fromhex(settings.registry_authority_public_key)
        except ValueError:
            raw = b""
        if len(raw) != PUBLIC_KEY_LEN:
            raise MissingAuthorityKey("ECMON_REGISTRY_AUTHORITY_PUBLIC_KEY must be the 64 hex digits of the "
                                      "registry authority's Ed25519 public key")
        return raw
    path = settings.registry_authority_public_key_path
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise MissingAuthorityKey(
            f"the registry authority's public key {path} is missing: run `ecmon stack up` (local stack), or set "
            "ECMON_REGISTRY_AUTHORITY_PUBLIC_KEY (hex) or ECMON_REGISTRY_AUTHORITY_PUBLIC_KEY_FILE (PEM)") from None
    except ValueError as exc:
        raise MissingAuthorityKey(f"{path} is not a PEM public key ({exc}); restore the registry authority's "
                                  "public key file") from None
    if not isinstance(key, Ed25519PublicKey):
        raise MissingAuthorityKey(f"{path} is not an Ed25519 public key; restore the registry authority's key file")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _v3_enterprise_record() -> Any:
    from ecmon import codec  # the codec loads every schema: not needed by most users of this module

    for sv in codec.catalog().by_fingerprint.values():
        if sv.short_name == "enterprise_record" and sv.version == 3:
            return sv
    raise RuntimeError("avro/v3/enterprise_record.avsc is missing")


def registry_signed_bytes(record: dict[str, Any]) -> bytes:
    """What the registry authority signs: the record encoded as v3 with an empty registry_signature."""
    from ecmon import codec

    return codec.encode("enterprise_record", {**record, "registry_signature": b""}, schema=_v3_enterprise_record())


_last_issued_ms = 0


def issue_time_ms() -> int:
    """Now in epoch ms, strictly later than every earlier answer of this process: two records the authority
    signs in one millisecond (a registration and an immediate rotation) must still be ordered, since the
    follower refuses a record not issued after the newest it accepted (stale_registry_record)."""
    global _last_issued_ms
    _last_issued_ms = max(int(time.time() * 1000), _last_issued_ms + 1)
    return _last_issued_ms


def sign_registry_record(record: dict[str, Any], authority: Ed25519PrivateKey,
                         issued_at: int | None = None) -> dict[str, Any]:
    """The record with ``issued_at`` (now, unless given) and the registry authority's signature over both."""
    issued = {**record, "issued_at": issue_time_ms() if issued_at is None else issued_at}
    return {**issued, "registry_signature": sign(registry_signed_bytes(issued), authority)}


def verify_registry_record(record: bytes | dict[str, Any], authority_public_key: bytes) -> bool:
    """Whether the registry record (encoded message or decoded record) carries a valid authority signature."""
    if isinstance(record, (bytes, bytearray)):
        from ecmon import codec

        try:
            _, record = codec.decode(bytes(record), expected="enterprise_record")
        except codec.CodecError:
            return False
    signature = record.get("registry_signature") or b""
    try:
        body = registry_signed_bytes(record)
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    return verify(body, authority_public_key, signature)


# ------------------------------------------------------------------------------ the unsigned message


def _skip_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read one zig-zag varint at ``pos``; returns (value, next position)."""
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


#: The fields before ``signature`` ("s" string or bytes, "l" long), fixed by the interface standard.
READING_BATCH_PREFIX = ("s", "s", "s", "l", "l", "s")  # uscc, gateway_id, batch_id, sequence, sent_at, key_id
PRODUCTION_OUTPUT_PREFIX = ("s", "s", "s", "l", "s")  # uscc, gateway_id, batch_id, sent_at, key_id


def unsigned_message(data: bytes, prefix: tuple[str, ...] = READING_BATCH_PREFIX) -> tuple[bytes, bytes]:
    """Split an encoded reading batch into (the message with an empty signature, the signature).

    Splicing the bytes spares the worker a full re-encode per batch. It relies on the field
    order of ReadingBatch (uscc, gateway_id, batch_id, sequence, sent_at, key_id, signature, ...),
    which the interface standard fixes for every version; ``prefix`` names another record's fields
    before its signature (PRODUCTION_OUTPUT_PREFIX).
    """
    pos = 10  # after the single-object header
    for kind in prefix:
        value, pos = _skip_varint(data, pos)
        if kind == "s":
            pos += value
    sig_start = pos
    length, pos = _skip_varint(data, pos)
    if length < 0 or pos + length > len(data):
        raise ValueError("signature field overruns the message")
    signature = data[pos : pos + length]
    return data[:sig_start] + b"\x00" + data[pos + length :], signature
