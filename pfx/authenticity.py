"""Whether a bundle is what its sealer wrote: its keys from the passphrase, checked against
its passphrase check and, from format 1.4, its manifest's MAC (sealing.py); and how to say
what a reader knows about it.

Checksums and the digest detect accidents, not attackers: anyone can recompute them. Only a
MAC under a key from the passphrase says that whoever wrote the bundle knew the passphrase.
"""

from __future__ import annotations

from pfx.errors import BundleError, SecretsError
from pfx.invariants import check_auth, check_kdf
from pfx.model import Manifest
from pfx.sealing import KDF, LEGACY_KDF, Keys, authenticate
from pfx.secrets import open_key

UNAUTHENTICATED = (
    "not authenticated: anyone can change it and recompute its checksums (they detect "
    "accidents, not attackers)"
)
UNCHECKED = "sealed with a passphrase; not checked without it (--passphrase-file or PFX_PASSPHRASE)"
AUTHENTIC = "authenticated: sealed with this passphrase, unchanged since"


def open_keys(manifest: Manifest, passphrase: str) -> Keys:
    """The bundle's keys from `passphrase`: SecretsError when the passphrase is wrong,
    BundleError when the bundle was changed after it was sealed."""
    try:
        keys = open_key(manifest.secrets, passphrase)
    except SecretsError:
        if _downgraded(manifest, passphrase):
            raise BundleError(
                "tampered bundle: it was sealed with this passphrase, then its key derivation "
                f"was renamed {LEGACY_KDF!r} and its authentication removed"
            ) from None
        raise
    if manifest.auth is not None:
        authenticate(manifest.auth.mac, manifest.unsealed_sha256, keys)
    return keys


def _downgraded(manifest: Manifest, passphrase: str) -> bool:
    """Whether a legacy-named derivation opens its check when derived as a sealed one: what
    is left when a forger removes a sealed bundle's MAC and renames its derivation."""
    kdf = manifest.secrets.kdf
    if kdf is None or kdf.get("name") != LEGACY_KDF:
        return False
    try:
        open_key(manifest.secrets.model_copy(update={"kdf": {**kdf, "name": KDF}}), passphrase)
    except SecretsError:
        return False
    return True


def given_keys(manifest: Manifest, passphrase: str | None) -> Keys | None:
    """The bundle's keys when a passphrase is given and opens something (its authenticity
    checked where it can be); None otherwise. The key derivation is checked to be bounded
    before any is derived."""
    if passphrase is None or manifest.secrets.kdf is None or manifest.secrets.check is None:
        return None
    check_kdf(manifest.secrets)
    check_auth(manifest)
    return open_keys(manifest, passphrase)


def authenticity(manifest: Manifest, checked: bool) -> str:
    """What a reader knows of the bundle's authenticity, in a line: `checked` when its keys
    were opened with the passphrase."""
    if manifest.auth is None:
        return UNAUTHENTICATED
    return AUTHENTIC if checked else UNCHECKED


def reading_warnings(name: str, manifest: Manifest, passphrase: str | None = None) -> list[str]:
    """Warnings for a bundle about to be read: it holds secret values in clear; a passphrase
    was given but the bundle is not sealed (so nothing was authenticated)."""
    out: list[str] = []
    n = manifest.secrets.plaintext
    if n:
        out.append(f"warning: {name} holds {n} secret value{'s' if n != 1 else ''} in clear")
    kdf = manifest.secrets.kdf
    claims = kdf is not None and kdf.get("name") == KDF  # refused as tampered when read
    if passphrase is not None and manifest.auth is None and not claims:
        out.append(f"warning: {name} is not sealed: the passphrase authenticates nothing")
    return out
