"""The keys of a bundle and what they seal, pure: one scrypt derivation from the passphrase,
then (format 1.4, kdf `scrypt-hkdf`) two HKDF subkeys, one that encrypts secret values and
one that authenticates the whole bundle (a MAC over the manifest, which holds every record's
sha256 and their digest); each secret's associated data binds its record's other content
and its slot's mode. Bundles of 1.0-1.3 (kdf `scrypt`) used the scrypt key to encrypt, with
the record's kind and key as associated data, and are not authenticated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from pfx.errors import BundleError
from pfx.jsonline import dump_line
from pfx.model import Record

LEGACY_KDF = "scrypt"
KDF = "scrypt-hkdf"
SCHEME = "hmac-sha256"
_ENCRYPTION = b"pfx-bundle encryption key"
_AUTHENTICATION = b"pfx-bundle authentication key"
_MAC_DOMAIN = b"pfx-bundle manifest\n"
_SECRET_DOMAIN = b"pfx-bundle secret\n"
# The manifest line as the writer MACs it: `auth` (its first key, keys being sorted) null.
UNSEALED_HEAD = b'{"auth":null,'


@dataclass(frozen=True)
class Keys:
    """A bundle's keys from its passphrase: `authentication` is None for a legacy bundle."""

    encryption: bytes
    authentication: bytes | None = None


def derive_keys(passphrase: str, kdf: Mapping[str, str | int]) -> Keys:
    """The keys `kdf` (a manifest's secrets.kdf, already checked to be bounded) derives."""
    import base64

    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    salt = base64.b64decode(str(kdf["salt"]))
    n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    master = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())
    if kdf.get("name") == LEGACY_KDF:
        return Keys(master)
    return Keys(_subkey(master, _ENCRYPTION), _subkey(master, _AUTHENTICATION))


def _subkey(master: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def secret_aad(record: Record, keys: Keys) -> bytes:
    """The associated data of `record`'s ciphertext: legacy, its kind and key; from 1.4, its
    line as written with the slot's `ciphertext` null (kind, key, id, data, refs, and the
    slot's mode and fields), so a ciphertext cannot be moved or its record changed."""
    if keys.authentication is None:
        return orjson.dumps([record.kind, list(record.key)])
    slot = record.secrets.model_copy(update={"ciphertext": None}) if record.secrets else None
    bare = record.model_copy(update={"secrets": slot})
    return _SECRET_DOMAIN + dump_line(bare.model_dump(mode="json"))


def unsealed_hash(line: bytes, auth: Mapping[str, object] | None) -> bytes | None:
    """The sha256 of the manifest `line` as written before its `auth` was set (`auth` null),
    or None when the line does not open with `auth` as a canonical line does."""
    if auth is None:
        return hashlib.sha256(line).digest() if line.startswith(UNSEALED_HEAD) else None
    head = b'{"auth":' + orjson.dumps(dict(auth), option=orjson.OPT_SORT_KEYS) + b","
    if not line.startswith(head):
        return None
    digest = hashlib.sha256(UNSEALED_HEAD)
    with memoryview(line) as view:
        digest.update(view[len(head) :])
    return digest.digest()


def mac(keys: Keys, manifest_hash: bytes) -> str:
    """The MAC (hex) of a manifest whose unsealed line has sha256 `manifest_hash`."""
    if keys.authentication is None:
        raise ValueError("a legacy bundle's keys authenticate nothing")
    return hmac.new(keys.authentication, _MAC_DOMAIN + manifest_hash, hashlib.sha256).hexdigest()


def authenticate(given: str | None, manifest_hash: bytes | None, keys: Keys) -> None:
    """The manifest's MAC `given` is the one `keys` make; BundleError otherwise (the
    passphrase is known to be right: the bundle was changed after it was sealed)."""
    if given is None or manifest_hash is None or keys.authentication is None:
        raise BundleError("tampered bundle: its authentication is missing or not canonical")
    if not hmac.compare_digest(given, mac(keys, manifest_hash)):
        raise BundleError(
            "tampered bundle: it was changed after it was sealed (its authentication does "
            "not match the passphrase's)"
        )
