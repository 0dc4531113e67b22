"""Where import finds secret values: the bundle (encrypted or in clear), a secrets file, env.

A secrets file is JSON: {"format": "pfx-secrets", "version": 1, "blocks": {"<block type
slug>/<block name>": {"<field path>": <value>, ...}}}; `pfx secrets template` writes one with
nulls to fill in. An environment variable PFX_SECRET__<SLUG>__<NAME>__<FIELD> (upper case,
`-` and `.` as `_`) supplies one value and wins over the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pfx.authenticity import open_keys
from pfx.bundle import Bundle
from pfx.errors import SecretsError, UsageError
from pfx.jsontypes import JSON, JSONObject
from pfx.passphrase import Passphrase
from pfx.sealing import Keys
from pfx.secrets import block_ref, env_name, field_name, get_path, unseal

FORMAT = "pfx-secrets"


@dataclass
class SecretValues:
    """Secret values ready for import, by record ordinal and path; and what is missing."""

    values: dict[int, dict[str, JSON]] = field(default_factory=dict)
    missing: dict[int, list[str]] = field(default_factory=dict)


def read_secrets_file(path: Path) -> dict[str, dict[str, JSON]]:
    """The blocks map of a secrets file; SecretsError/UsageError on anything malformed."""
    try:
        raw = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise UsageError(f"no such secrets file: {path}") from None
    except OSError as e:
        raise UsageError(f"cannot read secrets file {path}: {e.strerror}") from None
    except orjson.JSONDecodeError:
        raise SecretsError(f"secrets file {path} is not JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise SecretsError(f"secrets file {path} is not a pfx secrets file (format {FORMAT!r})")
    blocks = raw.get("blocks")
    if not isinstance(blocks, dict) or not all(isinstance(v, dict) for v in blocks.values()):
        raise SecretsError(f"secrets file {path}: 'blocks' must map block names to field maps")
    return {str(k): dict(v) for k, v in blocks.items() if isinstance(v, dict)}


def template(bundle: Bundle) -> JSONObject:
    """A secrets file to fill in: every withheld value of the bundle, as null."""
    blocks: JSONObject = {}
    for record in bundle.records:
        if record.secrets and record.secrets.mode == "withheld":
            blocks[block_ref(record)] = {field_name(p): None for p in record.secrets.fields}
    return {"format": FORMAT, "version": 1, "blocks": blocks}


def gather_secrets(
    bundle: Bundle,
    *,
    passphrase: Callable[[], str] | None = None,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretValues:
    """Every secret value import can use, decrypted up front so a wrong passphrase or a
    tampered ciphertext stops the import (and its dry run alike) before anything is
    written."""
    environ = os.environ if environ is None else environ
    supplied = read_secrets_file(secrets_file) if secrets_file else {}
    out = SecretValues()
    key: Keys | None = None
    if bundle.manifest.auth is not None and passphrase is not None:
        # A sealed bundle is authenticated whenever its passphrase is at hand (a dry run
        # too), without a prompt when no value needs decrypting.
        text = passphrase.given() if isinstance(passphrase, Passphrase) else passphrase()
        if text is not None:
            key = open_keys(bundle.manifest, text)
    for i, record in enumerate(bundle.records):
        slot = record.secrets
        if slot is None:
            continue
        if slot.mode == "plaintext":
            out.values[i] = {p: get_path(record.data, p) for p in slot.fields}
            continue
        values: dict[str, JSON] = {}
        if slot.mode == "encrypted":
            if key is None:
                if passphrase is None:
                    raise SecretsError(
                        "the bundle's secrets are encrypted: a passphrase is needed "
                        "(--passphrase-file or PFX_PASSPHRASE)"
                    )
                key = open_keys(bundle.manifest, passphrase())
            values = unseal(record, key)
        given = supplied.get(block_ref(record), {})
        for path in slot.fields:
            env = environ.get(env_name(record, path))
            if env is not None:
                values[path] = env
            elif given.get(field_name(path)) is not None:
                values[path] = given[field_name(path)]
        missing = [field_name(p) for p in slot.fields if values.get(p) is None]
        if missing:
            out.missing[i] = missing
        out.values[i] = values
    return out
