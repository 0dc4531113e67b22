"""Backup repositories on a local directory, without a Prefect server: bundles made by pfx's own
encoder and stored as `pfx backup` stores an export (publish, unchanged, retention, packs,
references, check, log, corruption, an interrupted publish, concurrent writers)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import orjson
import pytest

from pfx import bundle as bundle_codec
from pfx import bundlefile
from pfx.errors import BundleError, UsageError
from pfx.exporting import ExportResult
from pfx.model import Record, Source
from pfx.repository.backing import BackupResult, forget, store_bundle
from pfx.repository.checking import check_repository
from pfx.repository.fetching import resolve_bundle
from pfx.repository.logbook import record_history
from pfx.repository.model import CONFIG, ENTRIES, PACKS, RECORD_PACKS, RECORDS
from pfx.repository.repo import COMPACT_AT, bundle_name, open_repository
from pfx.repository.retention import Policy
from pfx.secrets import Sealer, seal_record
from tests.running import pfx

URL = "http://127.0.0.1:4200/api"
ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "correct horse"


def make_export(
    path: Path,
    created: str,
    variables: dict[str, object],
    *,
    secret: str | None = None,
    passphrase: str | None = None,
    url: str = URL,
) -> ExportResult:
    """A bundle as an export of a server holding `variables` (and one Secret block) writes."""
    records = [
        Record(
            kind="variable",
            key=(name,),
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            data={"name": name, "value": value},  # type: ignore[dict-item]
        )
        for name, value in variables.items()
    ]
    sealer = Sealer.create("encrypted" if passphrase else "withheld", passphrase)
    if secret is not None:
        block = Record(
            kind="block-document",
            key=("secret", "db"),
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, "db")),
            data={"name": "db", "data": {"value": secret}},
        )
        records.append(seal_record(block, block.data, ["data.value"], sealer))
    source = Source(url=url, profile="local", server_version="3.8.8", api_version="0.8.4")
    lines = list(
        bundle_codec.encode(
            records,
            source=source,
            created=created,
            secrets=sealer.summary(records),
            keys=sealer.keys if passphrase else None,
        )
    )
    size = bundlefile.write_lines(path, lines)
    return ExportResult(path, bundle_codec.decode_manifest(lines[0]), size, 0.0)


class Backups:
    """Store exports into one repository as `pfx backup` does, each from its own file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo_url = str(root / "repo")
        self.n = 0

    def store(
        self,
        created: str,
        variables: dict[str, object],
        *,
        policy: Policy | None = None,
        dry_run: bool = False,
        **kw: object,
    ) -> BackupResult:
        self.n += 1
        path = self.root / f"export-{self.n}.pfx"
        exported = make_export(path, created, variables, **kw)  # type: ignore[arg-type]
        repo = open_repository(self.repo_url, create=True)
        passphrase = kw.get("passphrase")
        return store_bundle(
            repo,
            exported,
            passphrase=passphrase if isinstance(passphrase, str) else None,
            policy=policy,
            dry_run=dry_run,
        )

    def listing(self):  # type: ignore[no-untyped-def]
        return open_repository(self.repo_url).listing()


@pytest.fixture
def backups(tmp_path: Path) -> Backups:
    return Backups(tmp_path)


def test_first_backup_creates_the_repository_and_publishes(backups: Backups) -> None:
    """The first snapshot writes config.json, its bundle, its record hashes and its entry."""
    result = backups.store("2026-01-01T00:00:00Z", {"a": 1, "b": 2})
    assert result.created_repository and not result.unchanged
    root = Path(backups.repo_url)
    config = orjson.loads((root / CONFIG).read_bytes())
    assert config["format"] == "pfx-repository" and config["source"] == URL
    (entry,) = backups.listing().entries
    assert entry.id == result.entry.id and entry.records == 2 and entry.parent is None
    assert (root / bundle_name(entry.id)).is_file()
    assert bundlefile.verify_bundle(root / bundle_name(entry.id)).digest == entry.digest


def test_entries_match_the_committed_schema(backups: Backups) -> None:
    """An index entry as written is valid under schemas/snapshot-entry.schema.json."""
    jsonschema = pytest.importorskip("jsonschema")
    result = backups.store("2026-01-01T00:00:00Z", {"a": 1})
    backups.store("2026-01-02T00:00:00Z", {"a": 2})
    schema = orjson.loads((ROOT / "schemas" / "snapshot-entry.schema.json").read_bytes())
    validator = jsonschema.Draft202012Validator(schema)
    for path in (Path(backups.repo_url) / ENTRIES).iterdir():
        assert not list(validator.iter_errors(orjson.loads(path.read_bytes())))
    assert list(validator.iter_errors({"id": result.entry.id}))


def test_unchanged_server_writes_no_bundle_but_a_check(backups: Backups) -> None:
    """Same records at a later time: "unchanged since", a check object, no second bundle."""
    first = backups.store("2026-01-01T00:00:00Z", {"a": 1})
    again = backups.store("2026-01-01T01:00:00Z", {"a": 1})
    assert again.unchanged and again.entry.id == first.entry.id
    listing = backups.listing()
    assert len(listing.entries) == 1
    assert listing.checked[first.entry.id].startswith("20260101T010000")
    changed = backups.store("2026-01-01T02:00:00Z", {"a": 2})
    assert not changed.unchanged
    assert changed.entry.parent == first.entry.id
    assert changed.entry.changes is not None and changed.entry.changes.changed == 1


def test_encrypted_secrets_compare_by_fingerprint_not_ciphertext(backups: Backups) -> None:
    """Fresh salt and nonce every export: the same secret value is unchanged, a new value or
    another passphrase is a new snapshot, and the index never holds the ciphertext's hash."""
    first = backups.store("2026-01-01T00:00:00Z", {"a": 1}, secret="s1", passphrase=PASSPHRASE)
    same = backups.store("2026-01-01T01:00:00Z", {"a": 1}, secret="s1", passphrase=PASSPHRASE)
    assert same.unchanged and same.entry.id == first.entry.id
    assert first.entry.secrets.fingerprinted and first.entry.secrets.encrypted == 1
    new_value = backups.store("2026-01-01T02:00:00Z", {"a": 1}, secret="s2", passphrase=PASSPHRASE)
    assert not new_value.unchanged
    assert new_value.entry.changes is not None and new_value.entry.changes.changed == 1
    other_key = backups.store("2026-01-01T03:00:00Z", {"a": 1}, secret="s2", passphrase="another")
    assert not other_key.unchanged
    withheld = backups.store("2026-01-01T04:00:00Z", {"a": 1}, secret="s2")
    assert not withheld.unchanged and withheld.entry.secrets.mode == "withheld"


def test_another_server_is_refused_before_anything_is_written(backups: Backups) -> None:
    """A repository holds one server's snapshots: another source is one line, nothing new."""
    backups.store("2026-01-01T00:00:00Z", {"a": 1})
    before = sorted(p.name for p in Path(backups.repo_url).rglob("*"))
    with pytest.raises(UsageError, match="holds the snapshots of"):
        backups.store("2026-01-01T01:00:00Z", {"a": 1}, url="http://other:4200/api")
    assert sorted(p.name for p in Path(backups.repo_url).rglob("*")) == before


def test_locations_that_are_not_repositories(tmp_path: Path) -> None:
    """A directory holding other things, a foreign config.json or a newer format: one line."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a pfx repository"):
        open_repository(str(other), create=True)
    (other / CONFIG).write_text('{"format": "something-else"}')
    with pytest.raises(UsageError, match="not a pfx repository"):
        open_repository(str(other))
    (other / CONFIG).write_text('{"format": "pfx-repository", "version": [2, 0]}')
    with pytest.raises(UsageError, match="newer than this pfx"):
        open_repository(str(other))
    with pytest.raises(UsageError, match="nothing there"):
        open_repository(str(tmp_path / "missing"))


def test_retention_forgets_with_reasons_and_dry_run_forgets_nothing(backups: Backups) -> None:
    """--keep-last 2 keeps the newest two; a dry run decides the same and deletes nothing;
    an unchanged backup applies retention too."""
    for hour in range(4):
        backups.store(f"2026-01-01T0{hour}:00:00Z", {"a": hour})
    dry = backups.store("2026-01-01T05:00:00Z", {"a": 9}, policy=Policy(last=2), dry_run=True)
    assert len(dry.retention.forgotten) == 3 and len(backups.listing().entries) == 4
    real = backups.store("2026-01-01T05:00:00Z", {"a": 9}, policy=Policy(last=2))
    assert len(real.retention.forgotten) == 3
    entries = backups.listing().entries
    assert [e.id for e in entries][-1] == real.entry.id and len(entries) == 2
    quiet = backups.store("2026-01-01T06:00:00Z", {"a": 9}, policy=Policy(last=1))
    assert quiet.unchanged and len(backups.listing().entries) == 1
    assert backups.listing().entries[0].id == real.entry.id
    kept = forget(backups.repo_url, Policy(last=1))
    assert kept.forgotten == []


def test_index_is_packed_and_still_complete(backups: Backups) -> None:
    """Past COMPACT_AT loose entries a backup packs them into one object; every snapshot is
    still listed, and a snapshot forgotten after packing is not."""
    for i in range(COMPACT_AT + 2):
        backups.store(f"2026-01-02T{i // 60:02d}:{i % 60:02d}:00Z", {"a": i})
    root = Path(backups.repo_url)
    assert list((root / PACKS).iterdir()) and list((root / RECORD_PACKS).iterdir())
    assert len(list((root / ENTRIES).iterdir())) < COMPACT_AT
    assert len(list((root / RECORDS).iterdir())) < COMPACT_AT
    listing = backups.listing()
    assert len(listing.entries) == COMPACT_AT + 2
    history = record_history(backups.repo_url, "variable:a")
    assert [e.status for e in history.events] == ["present"] + ["changed"] * (COMPACT_AT + 1)
    assert history.events[-1].changes[0].new == COMPACT_AT + 1
    again = backups.store("2026-01-03T00:00:00Z", {"a": COMPACT_AT + 1})
    assert again.unchanged
    repo = open_repository(backups.repo_url)
    repo.forget(listing.entries[0].id, listing)
    after = backups.listing()
    assert len(after.entries) == COMPACT_AT + 1 and len(after.stale) == 1
    assert check_repository(backups.repo_url).exit_code == 0
    assert check_repository(backups.repo_url, repair=True).exit_code == 0
    assert len(backups.listing().entries) == COMPACT_AT + 1 and not backups.listing().stale


def test_references_resolve_to_the_snapshot_bundle(backups: Backups, tmp_path: Path) -> None:
    """@latest, @<prefix> and @<time> name stored bundles; a file with `@` is a path."""
    first = backups.store("2026-01-01T00:00:00Z", {"a": 1})
    second = backups.store("2026-01-02T00:00:00Z", {"a": 2})
    work = tmp_path / "work"
    assert resolve_bundle(f"{backups.repo_url}@latest", work).snapshot == second.entry
    assert resolve_bundle(f"{backups.repo_url}@{first.entry.short}", work).snapshot == first.entry
    at = resolve_bundle(f"{backups.repo_url}@2026-01-01T12:00", work)
    assert at.snapshot == first.entry
    odd = tmp_path / "weird@latest"
    odd.write_bytes(b"x")
    assert resolve_bundle(str(odd), work).snapshot is None


def test_corrupted_snapshot_is_named_by_check_and_refused(backups: Backups) -> None:
    """A flipped byte in a stored bundle: check names the snapshot (exit 4), and inspect,
    verify and import of its reference refuse with one line (exit 2)."""
    good = backups.store("2026-01-01T00:00:00Z", {"a": 1})
    bad = backups.store("2026-01-02T00:00:00Z", {"a": "x" * 500})
    path = Path(backups.repo_url) / bundle_name(bad.entry.id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = check_repository(backups.repo_url)
    assert result.exit_code == 4
    assert len(result.problems) == 1 and bad.entry.short in result.problems[0]
    assert good.entry.short not in " ".join(result.problems)
    env = {"PATH": "/usr/bin:/bin", "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    for args in (["verify"], ["inspect"], ["import", "-p", "nowhere"]):
        run = pfx(env, args[0], f"{backups.repo_url}@latest", *args[1:])
        assert run.returncode == 2, run
        assert run.stderr.count("\n") <= 2 and "Traceback" not in run.stderr
    with pytest.raises(BundleError):
        resolved = resolve_bundle(f"{backups.repo_url}@latest", backups.root / "w")
        bundlefile.read_bundle(resolved.path)


def test_replaced_bundle_does_not_match_its_entry(backups: Backups) -> None:
    """A bundle swapped for another intact one is refused: its digest is not the entry's."""
    first = backups.store("2026-01-01T00:00:00Z", {"a": 1})
    second = backups.store("2026-01-02T00:00:00Z", {"a": 2})
    root = Path(backups.repo_url)
    (root / bundle_name(second.entry.id)).write_bytes(
        (root / bundle_name(first.entry.id)).read_bytes()
    )
    with pytest.raises(BundleError, match="does not match its index entry"):
        resolve_bundle(f"{backups.repo_url}@latest", root / "w")
    assert check_repository(backups.repo_url).exit_code == 4


def test_interrupted_publish_lists_nothing_and_repair_indexes(backups: Backups) -> None:
    """A bundle stored without its entry (a backup killed between the two) is not listed;
    check names it, and --repair rebuilds its entry from the bundle."""
    first = backups.store("2026-01-01T00:00:00Z", {"a": 1})
    repo = open_repository(backups.repo_url)
    orphan = make_export(backups.root / "orphan.pfx", "2026-01-02T00:00:00Z", {"a": 2})
    repo.store.upload(bundle_name("ab" * 32), orphan.path)
    assert [e.id for e in backups.listing().entries] == [first.entry.id]
    found = check_repository(backups.repo_url)
    assert found.exit_code == 4 and "no index entry" in found.problems[0]
    repaired = check_repository(backups.repo_url, repair=True)
    assert repaired.exit_code == 0 and repaired.repaired
    assert [e.id for e in backups.listing().entries] == [first.entry.id, "ab" * 32]


def test_concurrent_writers_keep_every_snapshot(backups: Backups) -> None:
    """Eight stores at once into one repository: every snapshot listed, the index consistent."""
    backups.store("2026-01-01T00:00:00Z", {"seed": 0})
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            local = Backups(backups.root / f"w{i}")
            local.root.mkdir()
            local.repo_url = backups.repo_url
            local.store(f"2026-01-03T00:00:{i:02d}Z", {"writer": i})
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(backups.listing().entries) == 9
    assert check_repository(backups.repo_url).exit_code == 0


def test_a_backup_publishing_during_a_compaction_keeps_its_entry(backups: Backups) -> None:
    """A compaction lists the repository while another backup publishes (bundle, then entry)
    between its first and second listing: the new snapshot is not taken for a forgotten one,
    its entry survives the compaction, and it is listed afterwards."""
    for i in range(COMPACT_AT - 1):
        backups.store(f"2026-01-02T00:{i:02d}:00Z", {"a": i})
    repo = open_repository(backups.repo_url)
    store = repo.store
    real_list = store.list
    calls: list[str] = []

    def list_then_publish(prefix: str) -> dict[str, int]:
        found = real_list(prefix)
        calls.append(prefix)
        if len(calls) == 1:  # another backup publishes between this listing and the next
            backups.store("2026-01-02T01:00:00Z", {"a": "meanwhile"})
        return found

    store.list = list_then_publish  # type: ignore[method-assign]
    listing = repo.listing()
    store.list = real_list  # type: ignore[method-assign]
    assert repo.compact(listing, force=True)
    after = backups.listing()
    assert "2026-01-02T01:00:00Z" in [e.time for e in after.entries]
    assert len(after.entries) == COMPACT_AT
    assert check_repository(backups.repo_url).exit_code == 0


def test_log_tells_appeared_changed_and_disappeared(backups: Backups) -> None:
    """The history of a record from the hashes, with the changed field's old and new value,
    reading only the bundles around the change."""
    backups.store("2026-01-01T00:00:00Z", {"a": 1})
    backups.store("2026-01-02T00:00:00Z", {"a": 1, "b": 1})
    backups.store("2026-01-03T00:00:00Z", {"a": 1, "b": 2})
    backups.store("2026-01-04T00:00:00Z", {"a": 5, "b": 2})
    backups.store("2026-01-05T00:00:00Z", {"a": 5})
    history = record_history(backups.repo_url, "variable:b")
    steps = [(e.time[:10], e.status) for e in history.events]
    assert steps == [
        ("2026-01-02", "appeared"),
        ("2026-01-03", "changed"),
        ("2026-01-05", "disappeared"),
    ]
    (change,) = history.events[1].changes
    assert (change.path, change.old, change.new) == ("value", 1, 2)
    assert history.bundles_read == 2
    whole = record_history(backups.repo_url)
    assert [e.status for e in whole.events if e.key == ("a",)] == ["present", "changed"]
    with pytest.raises(UsageError, match="no record matches"):
        record_history(backups.repo_url, "variable:nope")


def test_every_bundle_command_takes_a_reference(backups: Backups, tmp_path: Path) -> None:
    """diff, render, secrets template (and inspect, verify) read `REPO@...` as a bundle; a bad
    selector after a repository is one line, exit 2."""
    backups.store("2026-01-01T00:00:00Z", {"a": 1}, secret="s1")
    backups.store("2026-01-02T00:00:00Z", {"a": 2}, secret="s1")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    repo = backups.repo_url
    diff = pfx(env, "diff", f"{repo}@2026-01-01", f"{repo}@latest")
    assert diff.returncode == 1 and "variable a" in diff.stdout, diff.stderr
    template = pfx(env, "secrets", "template", f"{repo}@latest")
    assert template.returncode == 0 and '"secret/db"' in template.stdout, template.stderr
    rendered = pfx(env, "render", f"{repo}@latest", "-o", tmp_path / "infra")
    assert rendered.returncode == 0 and (tmp_path / "infra" / "prefect-setup.sh").exists()
    assert pfx(env, "inspect", f"{repo}@latest", "--json").returncode == 0
    bad = pfx(env, "verify", f"{repo}@yesterday")
    assert bad.returncode == 2 and bad.stderr.startswith("pfx: error: bad snapshot reference")
    none = pfx(env, "verify", f"{repo}@2025-01-01")
    assert none.returncode == 2 and "no snapshot at or before" in none.stderr
