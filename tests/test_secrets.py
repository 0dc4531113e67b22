"""Secret values: sealing in each mode, encryption failures, paths, and the secrets file."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from pfx import bundle
from pfx.bundle import Bundle
from pfx.errors import PfxError, SecretsError, UsageError
from pfx.jsontypes import JSONObject
from pfx.model import Record, SecretSlot, Source
from pfx.secrets import (
    MASK,
    Sealer,
    env_name,
    expand_paths,
    get_path,
    open_key,
    seal_record,
    set_path,
    unseal,
)
from pfx.secretsfile import gather_secrets, read_secrets_file, template

PASSPHRASE = "correct horse battery staple"
SECRET = "s3cr3t-Value"
TOKEN = "t0ken-Value"
SECRETS = (SECRET, TOKEN)
PATHS = ["value", "credentials.*"]


def doc(name: str = "db") -> Record:
    """A block-document-like record with a top-level and two nested secret values."""
    data: JSONObject = {
        "name": name,
        "value": SECRET,
        "credentials": {"token": TOKEN, "extra": TOKEN + "2"},
        "plain": "visible",
        "data": {},
    }
    return Record(kind="block-document", key=("secret", name), data=data)


@pytest.fixture(scope="module")
def sealer() -> Sealer:
    """One encrypting sealer for the module (scrypt is deliberately slow)."""
    return Sealer.create("encrypted", PASSPHRASE)


def assert_no_secret(error: BaseException) -> None:
    """Neither the message nor the cause chain of `error` shows a secret value."""
    text = str(error) + repr(error.__cause__) + repr(error.__context__)
    for value in (*SECRETS, TOKEN + "2", PASSPHRASE):
        assert value not in text
    assert "\n" not in str(error)


def line_of(record: Record) -> bytes:
    return bundle.encode_record(record)


def decoded(records: list[Record], sealer: Sealer | None = None) -> Bundle:
    sealer = sealer or Sealer("withheld")
    summary = sealer.summary(records)
    lines = bundle.encode(
        records, source=Source(url="u"), created="c", secrets=summary, keys=sealer.keys
    )
    return bundle.decode(list(lines))


# --- sealing ----------------------------------------------------------------------------------


def test_withheld_masks_and_lists_every_value() -> None:
    """Withheld: each secret value is replaced by the mask and its path listed; none remain."""
    record = doc()
    sealed = seal_record(record, record.data, PATHS, Sealer("withheld"))
    assert sealed.secrets == SecretSlot(
        mode="withheld", fields=["credentials.extra", "credentials.token", "value"]
    )
    for path in sealed.secrets.fields:
        assert get_path(sealed.data, path) == MASK
    assert sealed.data["plain"] == "visible"
    assert all(s.encode() not in line_of(sealed) for s in SECRETS)
    assert record.data["value"] == SECRET  # the input record is not changed


def test_plaintext_keeps_values_and_lists_them() -> None:
    """Plaintext: the values stay in the data, and the slot says which fields they are."""
    record = doc()
    sealed = seal_record(record, record.data, PATHS, Sealer("plaintext"))
    assert sealed.data == record.data
    assert sealed.secrets is not None and sealed.secrets.mode == "plaintext"
    assert sealed.secrets.fields == ["credentials.extra", "credentials.token", "value"]


def test_record_without_secret_values_is_unchanged() -> None:
    """A record whose secret paths are absent or null gets no slot."""
    record = Record(kind="block-document", key=("secret", "x"), data={"value": None})
    assert seal_record(record, record.data, PATHS, Sealer("withheld")) == record


def test_encrypted_round_trip(sealer: Sealer) -> None:
    """Encrypted: the values decrypt with the right passphrase; the record holds only masks."""
    sealed = seal_record(doc(), doc().data, PATHS, sealer)
    assert sealed.secrets is not None and sealed.secrets.ciphertext
    assert all(s.encode() not in line_of(sealed) for s in SECRETS)
    key = open_key(sealer.summary([sealed]), PASSPHRASE)
    assert unseal(sealed, key) == {
        "credentials.extra": TOKEN + "2",
        "credentials.token": TOKEN,
        "value": SECRET,
    }


def test_summary_records_kdf_and_counts(sealer: Sealer) -> None:
    """The summary names scrypt (then HKDF subkeys, format 1.4) with its parameters and salt,
    and counts the values."""
    summary = sealer.summary([seal_record(doc(), doc().data, PATHS, sealer)])
    assert summary.mode == "encrypted" and summary.encrypted == 3
    assert summary.kdf is not None and summary.kdf["name"] == "scrypt-hkdf"
    assert {"n", "r", "p", "salt"} <= set(summary.kdf)
    assert len(base64.b64decode(str(summary.kdf["salt"]))) == 16


def test_wrong_passphrase_is_named(sealer: Sealer) -> None:
    """A wrong passphrase is reported as such, not as tampering."""
    summary = sealer.summary([])
    with pytest.raises(SecretsError, match="wrong passphrase") as e:
        open_key(summary, "not the passphrase")
    assert_no_secret(e.value)


def test_flipped_ciphertext_byte_is_tampering(sealer: Sealer) -> None:
    """A changed ciphertext byte is refused as tampered, without showing any value."""
    sealed = seal_record(doc(), doc().data, PATHS, sealer)
    assert sealed.secrets is not None and sealed.secrets.ciphertext
    blob = bytearray(base64.b64decode(sealed.secrets.ciphertext))
    blob[20] ^= 0x01
    slot = sealed.secrets.model_copy(update={"ciphertext": base64.b64encode(blob).decode()})
    key = open_key(sealer.summary([sealed]), PASSPHRASE)
    with pytest.raises(SecretsError, match="tampered") as e:
        unseal(sealed.model_copy(update={"secrets": slot}), key)
    assert_no_secret(e.value)


def test_ciphertext_moved_to_another_record_is_refused(sealer: Sealer) -> None:
    """A ciphertext copied onto another record does not decrypt (kind and key are bound)."""
    sealed = seal_record(doc("db"), doc("db").data, PATHS, sealer)
    other = seal_record(doc("cache"), doc("cache").data, PATHS, sealer)
    moved = other.model_copy(update={"secrets": sealed.secrets})
    key = open_key(sealer.summary([sealed]), PASSPHRASE)
    with pytest.raises(SecretsError) as e:
        unseal(moved, key)
    assert_no_secret(e.value)


def test_damaged_ciphertext_encoding_names_the_record(sealer: Sealer) -> None:
    """A ciphertext that is not base64 is refused naming the record."""
    sealed = seal_record(doc(), doc().data, PATHS, sealer)
    assert sealed.secrets is not None
    slot = sealed.secrets.model_copy(update={"ciphertext": "not base64!"})
    key = open_key(sealer.summary([sealed]), PASSPHRASE)
    with pytest.raises(SecretsError, match="block-document secret/db: encrypted secrets"):
        unseal(sealed.model_copy(update={"secrets": slot}), key)


def test_encrypt_needs_a_passphrase() -> None:
    """Encrypting without a passphrase is refused before anything is read."""
    with pytest.raises(SecretsError, match="needs a passphrase"):
        Sealer.create("encrypted", "")


def test_no_kdf_means_no_key() -> None:
    """Asking for the key of a bundle without encrypted secrets is a clear error."""
    with pytest.raises(SecretsError, match="no encrypted secrets"):
        open_key(Sealer("withheld").summary([]), PASSPHRASE)


# --- paths ------------------------------------------------------------------------------------


def test_expand_paths_with_star_and_nesting() -> None:
    """`*` expands over dict keys at any depth; absent or non-dict paths expand to nothing."""
    data: JSONObject = {
        "a": {"x": 1, "y": {"deep": 2}},
        "b": {"c": {"d": 3}},
        "list": [1, 2],
        "s": "text",
    }
    assert expand_paths(data, ["a.*"]) == ["a.x", "a.y"]
    assert expand_paths(data, ["a.*.deep"]) == ["a.y.deep"]
    assert expand_paths(data, ["b.c.d", "b.c.d"]) == ["b.c.d"]
    assert expand_paths(data, ["missing", "s.x", "list.*", "a.x.y"]) == []
    assert expand_paths(data, ["*"]) == ["a", "b", "list", "s"]


def test_set_path_copies_along_the_path() -> None:
    """set_path returns a changed copy and leaves the original and its siblings alone."""
    data: JSONObject = {"a": {"b": 1, "keep": [1]}, "z": 0}
    changed = set_path(data, "a.b", MASK)
    assert changed == {"a": {"b": MASK, "keep": [1]}, "z": 0}
    assert data == {"a": {"b": 1, "keep": [1]}, "z": 0}
    assert get_path(changed, "a.missing") is None


# --- secrets file and gathering ---------------------------------------------------------------


def withheld_bundle() -> Bundle:
    record = doc()
    return decoded([seal_record(record, record.data, PATHS, Sealer("withheld"))])


def test_template_lists_withheld_fields_as_null(sealer: Sealer) -> None:
    """The template names every withheld field of every block as null, and nothing else."""
    assert template(withheld_bundle()) == {
        "format": "pfx-secrets",
        "version": 1,
        "blocks": {
            "secret/db": {"credentials.extra": None, "credentials.token": None, "value": None}
        },
    }
    encrypted = decoded([seal_record(doc(), doc().data, PATHS, sealer)], sealer)
    assert template(encrypted)["blocks"] == {}


def write_secrets(path: Path, blocks: JSONObject) -> Path:
    path.write_bytes(orjson.dumps({"format": "pfx-secrets", "version": 1, "blocks": blocks}))
    return path


def test_gather_takes_file_and_env_values_env_wins(tmp_path: Path) -> None:
    """Values come from the secrets file and PFX_SECRET__ variables; the variable wins."""
    b = withheld_bundle()
    file = write_secrets(
        tmp_path / "s.json",
        {"secret/db": {"value": "from-file", "credentials.token": "file-token"}},
    )
    env = {env_name(b.records[0], "credentials.token"): "env-token"}
    assert (
        env_name(b.records[0], "credentials.token") == "PFX_SECRET__SECRET__DB__CREDENTIALS_TOKEN"
    )
    got = gather_secrets(b, secrets_file=file, environ=env)
    assert got.values[0] == {"value": "from-file", "credentials.token": "env-token"}
    assert got.missing == {0: ["credentials.extra"]}


def test_gather_without_sources_reports_all_missing() -> None:
    """With no file and no variables every withheld value is reported missing."""
    got = gather_secrets(withheld_bundle(), environ={})
    assert got.missing == {0: ["credentials.extra", "credentials.token", "value"]}


def test_gather_decrypts_and_plaintext(sealer: Sealer) -> None:
    """Encrypted values come from the passphrase, plaintext ones from the record itself."""
    enc = decoded([seal_record(doc(), doc().data, PATHS, sealer)], sealer)
    got = gather_secrets(enc, passphrase=lambda: PASSPHRASE, environ={})
    assert got.values[0]["value"] == SECRET and got.missing == {}
    plain = decoded(
        [seal_record(doc(), doc().data, PATHS, Sealer("plaintext"))], Sealer("plaintext")
    )
    assert gather_secrets(plain, environ={}).values[0]["credentials.token"] == TOKEN


def test_gather_encrypted_needs_the_right_passphrase(sealer: Sealer) -> None:
    """Encrypted secrets without a passphrase, or with a wrong one, stop the import up front."""
    enc = decoded([seal_record(doc(), doc().data, PATHS, sealer)], sealer)
    with pytest.raises(SecretsError, match="a passphrase is needed") as e:
        gather_secrets(enc, environ={})
    assert_no_secret(e.value)
    with pytest.raises(SecretsError, match="wrong passphrase") as e:
        gather_secrets(enc, passphrase=lambda: "wrong", environ={})
    assert_no_secret(e.value)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json " + SECRET.encode(), "is not JSON"),
        (
            orjson.dumps({"format": "other", "blocks": {"secret/db": {"value": SECRET}}}),
            "not a pfx",
        ),
        (orjson.dumps(["pfx-secrets", SECRET]), "not a pfx secrets file"),
        (orjson.dumps({"format": "pfx-secrets", "blocks": [SECRET]}), "'blocks' must map"),
        (orjson.dumps({"format": "pfx-secrets", "blocks": {"a/b": SECRET}}), "'blocks' must map"),
    ],
    ids=["not-json", "wrong-format", "list", "blocks-list", "block-not-map"],
)
def test_malformed_secrets_file_is_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    """A malformed secrets file is refused in one line that shows none of its values."""
    path = tmp_path / "secrets.json"
    path.write_bytes(content)
    with pytest.raises(SecretsError, match=words) as e:
        read_secrets_file(path)
    assert_no_secret(e.value)


def test_missing_secrets_file_is_a_usage_error(tmp_path: Path) -> None:
    """A secrets file that does not exist is a usage error naming the path."""
    with pytest.raises(UsageError, match="no such secrets file"):
        read_secrets_file(tmp_path / "absent.json")
    with pytest.raises(PfxError):
        gather_secrets(withheld_bundle(), secrets_file=tmp_path / "absent.json", environ={})
