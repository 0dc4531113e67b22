"""Record hashes, pure: what a record *is*, so two exports of an unchanged server compare equal.

A record's hash is its bundle line's sha256 (the manifest already holds it), except for a
record with encrypted secret values: every export encrypts with a fresh salt and nonce, so
its ciphertext is replaced by a fingerprint of the values, an HMAC-SHA256 under a key derived
from the passphrase and the repository's salt, before hashing. Secrets are never compared by
ciphertext, and the index never holds a plain hash of a secret value. Hashes are the first 32
hex characters (128 bits) of the sha256.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import orjson

from pfx import __version__
from pfx.bundle import Bundle, encode_record
from pfx.records import RecordLines
from pfx.repository.model import Changes, RecordHash, SnapshotEntry, SnapshotSecrets
from pfx.sealing import Keys
from pfx.secrets import SCRYPT, open_key, unseal

HASH_CHARS = 32
FINGERPRINT = "hmac-sha256:"
# Domain separation: the fingerprint key is never the key of any bundle.
_DOMAIN = b"pfx-repository-fingerprint\0"


def fingerprint_key(passphrase: str, salt: bytes) -> bytes:
    """The key secret values are fingerprinted under (scrypt, as bundles derive theirs)."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    n, r, p = SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]
    return Scrypt(salt=_DOMAIN + salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def record_hashes(bundle: Bundle, passphrase: str | None, salt: bytes) -> list[RecordHash]:
    """The hash of every record of a verified bundle, in bundle order.

    Without a passphrase an encrypted record is hashed as written (its ciphertext): it then
    differs from every other export, which costs a snapshot, never a lost change.
    """
    return list(_hashes(bundle, passphrase, salt))


def fingerprinted(bundle: Bundle, passphrase: str | None) -> bool:
    """Whether record_hashes fingerprints this bundle's encrypted values."""
    return bool(passphrase) and bundle.manifest.secrets.encrypted > 0


def snapshot_entry(
    bundle: Bundle,
    passphrase: str | None,
    *,
    id: str,
    size: int,
    parent: str | None = None,
    changes: Changes | None = None,
) -> SnapshotEntry:
    """The index entry of a snapshot, from its verified bundle alone: what a backup publishes
    and what `check --repair` rebuilds are one function, so they cannot drift apart."""
    m = bundle.manifest
    s = m.secrets
    return SnapshotEntry(
        id=id,
        time=m.created,
        source=m.source,
        counts=m.counts,
        records=len(m.hashes),
        digest=m.digest,
        size=size,
        secrets=SnapshotSecrets(
            mode=s.mode,
            withheld=s.withheld,
            encrypted=s.encrypted,
            plaintext=s.plaintext,
            fingerprinted=fingerprinted(bundle, passphrase),
        ),
        include=list(m.selection.include) if m.selection else None,
        exclude=list(m.selection.exclude) if m.selection else None,
        parent=parent,
        changes=changes,
        pfx_version=__version__,
    )


def _hashes(bundle: Bundle, passphrase: str | None, salt: bytes) -> Iterator[RecordHash]:
    records = bundle.records
    manifest = bundle.manifest
    keys: tuple[Keys, bytes] | None = None
    if fingerprinted(bundle, passphrase):
        assert passphrase is not None
        keys = (open_key(manifest.secrets, passphrase), fingerprint_key(passphrase, salt))
    for i, digest in enumerate(manifest.hashes):
        if isinstance(records, RecordLines):
            head = records.head(i)
            kind, key = head.kind, head.key
            encrypted = b'"encrypted"' in records.line(i)
        else:
            kind, key, encrypted = records[i].kind, records[i].key, True
        if encrypted and keys is not None:
            record = records[i]
            if record.secrets is not None and record.secrets.mode == "encrypted":
                values = unseal(record, keys[0])
                # Bound to the record's identity: one value in two blocks fingerprints apart.
                who = orjson.dumps([record.kind, list(record.key)])
                mark = hmac.new(keys[1], who + b"\0", hashlib.sha256)
                mark.update(orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
                slot = record.secrets.model_copy(
                    update={"ciphertext": FINGERPRINT + mark.hexdigest()}
                )
                line = encode_record(record.model_copy(update={"secrets": slot}))
                digest = hashlib.sha256(line).hexdigest()
        yield RecordHash(kind, tuple(key), digest[:HASH_CHARS], i)
