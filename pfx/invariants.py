"""What import relies on in a bundle beyond its checksums, pure: each kind's record shape,
ids and refs, secret slots, the source URL and the key derivation (schemas/FORMAT.md,
Invariants). bundle.py runs these on every read, so import never meets what they refuse.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

from pfx.errors import BundleError
from pfx.escaping import is_safe, safe_text
from pfx.ids import UUID
from pfx.jsontypes import JSON
from pfx.kinds import BY_NAME, kind_named
from pfx.model import Manifest, Record, SecretsSummary, Source
from pfx.sealing import KDF, LEGACY_KDF, SCHEME
from pfx.secrets import MASK, get_path

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "number": (int, float),
    "bool": (bool,),
    "object": (dict,),
    "array": (list,),
}
# The placeholder key export gives a ref to an id the source itself could not resolve.
MISSING = "<missing>"
# Kinds whose every key part Prefect's own schemas restrict to lowercase letters, digits,
# `-` (and `_` for variables): BlockTypeSlug, BlockDocumentName, VariableName
# (prefect/types/names.py). A control character there is no server's.
PLAIN_KEYS = frozenset({"block-type", "block-document", "variable"})
# How much of a secret each mode reveals: a slot may not reveal more than its manifest says.
REVEALS = {"withheld": 0, "encrypted": 1, "plaintext": 2}
# Query parameters that carry credentials in URLs (api_key=, token=, ...).
_CREDENTIAL = re.compile(r"key|token|secret|passw|auth|signature|credential", re.IGNORECASE)

# Bounds on scrypt parameters a reader accepts: a bundle chooses how hard its key is to
# derive, and without bounds a few bytes of manifest can ask for gigabytes and minutes
# (n = 2^23 took 34 s and 8.4 GB) or crash the KDF. pfx writes n = 2^15, r = 8, p = 1.
KDF_N = (2**10, 2**20)
KDF_R = (1, 32)
KDF_P = (1, 16)
# scrypt needs 128 * n * r bytes of memory and time in proportion to n * r * p.
KDF_MEMORY = 256 * 2**20
KDF_WORK = 2**24
SALT_BYTES = 16
# AES-GCM output: a 12-byte nonce and a 16-byte tag around the ciphertext.
SEALED_MIN = 12 + 16


def _is(value: JSON, spec: str) -> bool:
    base = spec.rstrip("?")
    if value is None:
        return spec.endswith("?") or base == "any"
    if base == "any":
        return True
    if base in ("int", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[base])


def check_record(record: Record, n: int) -> None:
    """One record against its kind's shape, its ids, refs and secret slot; `n` is its
    1-based number in the bundle, for messages."""
    kind = kind_named(record.kind)
    where = f"record {n} ({safe_text(record.label)})"
    if len(record.key) != kind.shape.key:
        raise BundleError(
            f"damaged bundle: {where} has a key of {len(record.key)} parts; "
            f"{kind.name} keys have {kind.shape.key}"
        )
    _check_key(record.kind, record.key, where)
    for name, spec in kind.shape.fields.items():
        value = get_path(record.data, name) if "." in name else record.data.get(name)
        if not _is(value, spec):
            present = value is not None or (name in record.data)
            what = f"not {spec.rstrip('?')}" if present else "missing"
            raise BundleError(f"damaged bundle: {where} data field {name!r} is {what}")
    if record.id is not None and not UUID.fullmatch(record.id):
        raise BundleError(f"damaged bundle: {where} has an id that is not a UUID")
    for ref in record.refs:
        target = BY_NAME.get(ref.kind)
        if target is None:
            raise BundleError(f"damaged bundle: {where} refers to unknown kind {ref.kind!r}")
        arity = 2 if ref.key[:1] == (MISSING,) else target.shape.key
        if len(ref.key) != arity:
            raise BundleError(
                f"damaged bundle: {where} refers to {ref.kind!r} {'/'.join(ref.key)!r}, "
                f"a key of {len(ref.key)} parts; {ref.kind} keys have {arity}"
            )
        if ref.id is not None and not UUID.fullmatch(ref.id):
            raise BundleError(f"damaged bundle: {where} ref at {ref.path!r} has a non-UUID id")
        if ref.key[:1] != (MISSING,):
            _check_key(ref.kind, ref.key, f"{where} ref at {ref.path!r}")
    _check_slot(record, where)


def _check_key(kind: str, key: tuple[str, ...], where: str) -> None:
    if kind in PLAIN_KEYS and not all(is_safe(part) for part in key):
        raise BundleError(
            f"damaged bundle: {where}: a {kind} key with a control character, which "
            "Prefect's schema forbids (no server lists one)"
        )


def _check_slot(record: Record, where: str) -> None:
    slot = record.secrets
    if slot is None:
        return
    if not slot.fields or not all(slot.fields):
        raise BundleError(f"damaged bundle: {where} has a secret slot without field paths")
    if slot.mode == "encrypted":
        if not slot.ciphertext:
            raise BundleError(f"damaged bundle: {where} has encrypted secrets but no data")
        if len(_b64(slot.ciphertext) or b"") < SEALED_MIN:
            raise BundleError(f"damaged bundle: {where} has encrypted secrets that are not base64")
    elif slot.ciphertext:
        raise BundleError(f"damaged bundle: {where} has ciphertext in {slot.mode} mode")
    if slot.mode != "plaintext":
        for path in slot.fields:
            if get_path(record.data, path) != MASK:
                raise BundleError(
                    f"damaged bundle: {where} field {path} is {slot.mode} but holds a value"
                )


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def check_source(source: Source) -> None:
    """No credentials in the source URL (userinfo, API keys in the query)."""
    try:
        parts = urlsplit(source.url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        raise BundleError("damaged bundle: manifest source.url is not a URL") from None
    if userinfo:
        raise BundleError("damaged bundle: manifest source.url holds credentials (user:password@)")
    named = sorted({k for k, _ in query if _CREDENTIAL.search(k)})
    if named:
        raise BundleError(
            f"damaged bundle: manifest source.url holds credentials (query {', '.join(named)})"
        )


def check_kdf(summary: SecretsSummary) -> None:
    """The key derivation is scrypt (then subkeys, from 1.4) with bounded parameters, salt
    and check in base64."""
    kdf = summary.kdf
    if kdf is None:
        return
    if kdf.get("name") not in (LEGACY_KDF, KDF):
        raise BundleError(
            f"damaged bundle: manifest secrets.kdf.name is {kdf.get('name')!r}; "
            f"pfx derives keys with {LEGACY_KDF!r} or {KDF!r} only"
        )
    values: dict[str, int] = {}
    for name, (low, high) in (("n", KDF_N), ("r", KDF_R), ("p", KDF_P)):
        value = kdf.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise BundleError(
                f"damaged bundle: manifest secrets.kdf.{name} is {value!r}; "
                f"pfx accepts scrypt {name} from {low} to {high}"
            )
        values[name] = value
    n, r, p = values["n"], values["r"], values["p"]
    if n & (n - 1):
        raise BundleError(f"damaged bundle: manifest secrets.kdf.n is {n}, not a power of two")
    if 128 * n * r > KDF_MEMORY or n * r * p > KDF_WORK:
        raise BundleError(
            f"damaged bundle: manifest secrets.kdf asks scrypt for n={n}, r={r}, p={p}: "
            f"more than pfx spends on a key ({KDF_MEMORY // 2**20} MiB, n*r*p <= 2^24)"
        )
    salt = kdf.get("salt")
    if not isinstance(salt, str) or len(_b64(salt) or b"") < SALT_BYTES:
        raise BundleError(
            f"damaged bundle: manifest secrets.kdf.salt is not base64 of {SALT_BYTES}+ bytes"
        )
    if summary.check is not None and len(_b64(summary.check) or b"") < SEALED_MIN:
        raise BundleError("damaged bundle: manifest secrets.check is not base64 of a ciphertext")


def check_totals(manifest: Manifest, counts: Counter[str], slots: dict[str, int]) -> None:
    """The manifest's counts per kind and of secret values per mode are the records'."""
    # Every kind present must be counted too, not only the kinds the manifest lists.
    for kind in sorted(manifest.counts.keys() | counts.keys()):
        count = manifest.counts.get(kind, 0)
        if counts.get(kind, 0) != count:
            raise BundleError(
                f"damaged bundle: manifest counts {count} {safe_text(kind)}, "
                f"found {counts.get(kind, 0)}"
            )
    summary = manifest.secrets
    for mode, found in slots.items():
        if found and REVEALS[mode] > REVEALS[summary.mode]:
            raise BundleError(
                f"damaged bundle: the manifest says secrets are {summary.mode}, but records "
                f"hold {found} {mode} values"
            )
    for mode, found in slots.items():
        if getattr(summary, mode) != found:
            raise BundleError(
                f"damaged bundle: manifest counts {getattr(summary, mode)} {mode} secret "
                f"values, records hold {found}"
            )
    if slots["encrypted"] and not (summary.kdf and summary.check):
        raise BundleError("damaged bundle: encrypted secrets but no key derivation in manifest")


def check_auth(manifest: Manifest) -> None:
    """A bundle sealed with a passphrase (kdf `scrypt-hkdf`) carries its authentication and a
    passphrase check, and only such a bundle does: removing the MAC, or adding one to a
    bundle whose keys cannot make it, is refused before any passphrase is asked for."""
    kdf = manifest.secrets.kdf
    sealed = kdf is not None and kdf.get("name") == KDF
    auth = manifest.auth
    if sealed and (auth is None or manifest.secrets.check is None):
        raise BundleError(
            "tampered bundle: it was sealed with a passphrase, but its authentication "
            "or passphrase check is gone"
        )
    if auth is None:
        return
    if not sealed:
        raise BundleError(
            "damaged bundle: manifest auth without a passphrase's key derivation "
            f"(secrets.kdf.name {KDF!r})"
        )
    if auth.scheme != SCHEME or not re.fullmatch(r"[0-9a-f]{64}", auth.mac):
        raise BundleError(f"damaged bundle: manifest auth is not {SCHEME} with a 64-digit hex MAC")
