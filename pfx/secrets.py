"""Secret values: withheld (default), encrypted under a passphrase, or in clear when asked.

Encryption is AES-256-GCM (the `cryptography` package) with a key derived from the
passphrase and a per-bundle salt (sealing.py: scrypt, then a subkey); each record's values
are one ciphertext whose associated data binds the record's other content and the slot's
mode, so ciphertexts cannot be moved between records nor their records changed.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from pfx.errors import SecretsError
from pfx.jsontypes import JSON, JSONObject
from pfx.model import Record, SecretSlot, SecretsMode, SecretsSummary
from pfx.sealing import KDF, Keys, derive_keys, secret_aad

MASK = "********"
CHECK_TEXT = b"pfx passphrase check"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}


@dataclass
class Sealer:
    """How this export treats secret values; holds the derived keys when a passphrase is
    given (to encrypt, and in every mode to authenticate the bundle)."""

    mode: SecretsMode
    keys: Keys | None = None
    salt: bytes | None = None

    @classmethod
    def create(cls, mode: SecretsMode, passphrase: str | None) -> Sealer:
        if mode == "encrypted" and not passphrase:
            raise SecretsError("--secrets encrypt needs a passphrase")
        if not passphrase:
            return cls(mode)
        salt = os.urandom(16)
        return cls(mode, derive_keys(passphrase, _kdf(salt)), salt)

    def summary(self, records: Iterable[Record]) -> SecretsSummary:
        counts = {"withheld": 0, "encrypted": 0, "plaintext": 0}
        for record in records:
            if record.secrets:
                counts[record.secrets.mode] += len(record.secrets.fields)
        kdf: dict[str, str | int] | None = None
        check = None
        if self.keys and self.salt:
            kdf = _kdf(self.salt)
            check = _b64(_encrypt(self.keys.encryption, CHECK_TEXT, b"pfx-check"))
        return SecretsSummary(mode=self.mode, kdf=kdf, check=check, **counts)


def _kdf(salt: bytes) -> dict[str, str | int]:
    return {"name": KDF, "salt": _b64(salt), **SCRYPT}


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
    except InvalidTag:
        raise SecretsError(
            "encrypted secrets do not decrypt: wrong passphrase or tampered bundle"
        ) from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seal_record(record: Record, item: JSONObject, paths: list[str], sealer: Sealer) -> Record:
    """`record` with its secret values treated per the sealer's mode (see module doc)."""
    present = [p for p in expand_paths(record.data, paths) if get_path(record.data, p) is not None]
    if not present:
        return record
    data = record.data
    if sealer.mode == "plaintext":
        return record.model_copy(update={"secrets": SecretSlot(mode="plaintext", fields=present)})
    values: dict[str, JSON] = {p: get_path(data, p) for p in present}
    masked = data
    for p in present:
        masked = set_path(masked, p, MASK)
    slot = SecretSlot(mode=sealer.mode, fields=present)
    if sealer.mode == "encrypted":
        assert sealer.keys is not None
        sealed = record.model_copy(update={"data": masked, "secrets": slot})
        blob = _encrypt(
            sealer.keys.encryption,
            orjson.dumps(values, option=orjson.OPT_SORT_KEYS),
            secret_aad(sealed, sealer.keys),
        )
        slot = SecretSlot(mode="encrypted", fields=present, ciphertext=_b64(blob))
    return record.model_copy(update={"data": masked, "secrets": slot})


def expand_paths(data: JSONObject, paths: list[str]) -> list[str]:
    """Concrete dotted paths for schema secret_fields, expanding `*` over dict keys."""
    out: list[str] = []
    for path in paths:
        out.extend(_expand(data, path.split("."), []))
    return sorted(set(out))


def _expand(node: JSON, parts: list[str], done: list[str]) -> list[str]:
    if not parts:
        return [".".join(done)]
    head, rest = parts[0], parts[1:]
    if not isinstance(node, dict):
        return []
    if head == "*":
        return [p for k in node for p in _expand(node[k], rest, [*done, k])]
    if head not in node:
        return []
    return _expand(node[head], rest, [*done, head])


def get_path(data: JSON, path: str) -> JSON:
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_path(data: JSONObject, path: str, value: JSON) -> JSONObject:
    """A copy of `data` with `path` set to `value` (copies along the path only)."""
    head, _, rest = path.partition(".")
    copy = dict(data)
    if not rest:
        copy[head] = value
    else:
        child = copy.get(head)
        copy[head] = set_path(child if isinstance(child, dict) else {}, rest, value)
    return copy


def unseal(record: Record, key: Keys) -> dict[str, JSON]:
    """The secret values of an encrypted record, by path; SecretsError if they do not decrypt."""
    if not record.secrets or record.secrets.mode != "encrypted" or not record.secrets.ciphertext:
        return {}
    try:
        blob = base64.b64decode(record.secrets.ciphertext, validate=True)
    except ValueError:
        raise SecretsError(f"{record.label}: encrypted secrets are damaged") from None
    try:
        plain = _decrypt(key.encryption, blob, secret_aad(record, key))
    except SecretsError:
        # open_key already proved the passphrase right: this ciphertext was altered or moved.
        raise SecretsError(
            f"{record.label}: encrypted secrets do not decrypt (tampered bundle)"
        ) from None
    values = orjson.loads(plain)
    if not isinstance(values, dict):
        raise SecretsError(f"{record.label}: encrypted secrets are damaged")
    return values


def open_key(summary: SecretsSummary, passphrase: str) -> Keys:
    """The bundle's keys from `passphrase`; SecretsError naming a wrong passphrase."""
    if not summary.kdf or not summary.check:
        raise SecretsError("bundle has no encrypted secrets")
    keys = derive_keys(passphrase, summary.kdf)
    try:
        _decrypt(keys.encryption, base64.b64decode(summary.check), b"pfx-check")
    except SecretsError:
        raise SecretsError("wrong passphrase for this bundle") from None
    return keys


def block_ref(record: Record) -> str:
    """The secrets-file name of a block document record: `<type slug>/<name>`."""
    return "/".join(record.key)


def field_name(path: str) -> str:
    """The user-facing name of a secret path: the block's own field, without `data.`."""
    return path.removeprefix("data.")


def env_name(record: Record, path: str) -> str:
    parts = [*record.key, field_name(path)]
    return "PFX_SECRET__" + "__".join(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in parts)
