"""Retention and snapshot references, pure: restic's `forget` rules as a function of times, and
what `REPO@...` names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfx.errors import UsageError
from pfx.model import Source
from pfx.repository.model import SnapshotEntry, SnapshotSecrets
from pfx.repository.reference import choose, parse_reference
from pfx.repository.retention import Policy, Snapshot, apply_policy

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday


def snaps(*hours: float, source: str = "s") -> list[Snapshot]:
    return [Snapshot(f"{i:064x}", T0 + timedelta(hours=h), source) for i, h in enumerate(hours)]


def kept(decisions: list) -> set[str]:  # type: ignore[type-arg]
    return {d.id for d in decisions if d.keep}


def test_restic_example_keep_daily_4_of_12_sundays() -> None:
    """restic's own example: 12 weekly snapshots, --keep-daily 4 keeps the last four."""
    weekly = snaps(*(24 * 7 * w for w in range(12)))
    decisions = apply_policy(weekly, Policy(daily=4))
    assert kept(decisions) == {s.id for s in weekly[-4:]}
    assert all("daily snapshot" in d.reasons for d in decisions if d.keep)


def test_each_period_keeps_its_newest_snapshot() -> None:
    """Hourly backups over three days with --keep-daily 2 keep the last one of each of the last
    two days; --keep-hourly 3 the newest of the last three hours."""
    hourly = snaps(*range(72))
    days = apply_policy(hourly, Policy(daily=2))
    days_seen = sorted({s.time.date() for s in hourly})
    expected = [
        max((s for s in hourly if s.time.date() == d), key=lambda s: s.time) for d in days_seen
    ][-2:]
    assert kept(days) == {s.id for s in expected}
    hours = apply_policy(hourly, Policy(hourly=3))
    assert kept(hours) == {s.id for s in hourly[-3:]}


def test_periods_without_snapshots_do_not_count() -> None:
    """A gap of days does not use up --keep-daily: it counts days that have a snapshot."""
    sparse = snaps(0, 24 * 10, 24 * 30)
    assert kept(apply_policy(sparse, Policy(daily=3))) == {s.id for s in sparse}


def test_weeks_are_iso_weeks_monday_to_sunday() -> None:
    """Sunday 23:00 and the Monday after are two weeks: --keep-weekly 2 keeps both."""
    sunday = Snapshot("a" * 64, datetime(2026, 1, 11, 23, 0, tzinfo=UTC))
    monday = Snapshot("b" * 64, datetime(2026, 1, 12, 1, 0, tzinfo=UTC))
    assert kept(apply_policy([sunday, monday], Policy(weekly=2))) == {"a" * 64, "b" * 64}
    earlier = Snapshot("c" * 64, datetime(2026, 1, 6, 1, 0, tzinfo=UTC))
    assert kept(apply_policy([earlier, sunday, monday], Policy(weekly=1))) == {"b" * 64}


def test_periods_are_utc_whatever_the_offset() -> None:
    """Times with an offset are placed in UTC days (00:30+02:00 is the day before in UTC)."""
    tz = datetime(2026, 1, 6, 0, 30, tzinfo=UTC).astimezone().tzinfo
    late = Snapshot("a" * 64, datetime(2026, 1, 5, 22, 30, tzinfo=UTC).astimezone(tz))
    later = Snapshot("b" * 64, datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
    assert kept(apply_policy([late, later], Policy(daily=2))) == {"b" * 64}


def test_empty_policy_keeps_everything_and_newest_is_always_kept() -> None:
    """No --keep-* keeps every snapshot; --keep-monthly 1 still keeps the newest."""
    some = snaps(0, 1, 2)
    assert kept(apply_policy(some, Policy())) == {s.id for s in some}
    decisions = apply_policy(some, Policy(last=1))
    assert kept(decisions) == {some[-1].id}
    assert "newest" in decisions[0].reasons


def test_newest_of_each_source_is_kept() -> None:
    """Retention decides per source: each source's newest survives."""
    both = [*snaps(0, 1, source="a"), Snapshot("f" * 64, T0 - timedelta(days=90), "b")]
    assert "f" * 64 in kept(apply_policy(both, Policy(last=1)))


times = st.lists(st.integers(min_value=0, max_value=24 * 400), min_size=1, max_size=40)
counts = st.integers(min_value=0, max_value=6)


@settings(max_examples=200, deadline=None)
@given(times, counts, counts, counts, counts, counts)
def test_retention_invariants(
    hours: list[int], last: int, hourly: int, daily: int, weekly: int, monthly: int
) -> None:
    """For any times and policy: one decision per snapshot, the newest kept, each rule keeps at
    most N, every kept snapshot has a reason, and raising a count never forgets more (an
    empty policy keeps all)."""
    group = snaps(*hours)
    policy = Policy(last, hourly, daily, weekly, monthly)
    decisions = apply_policy(group, policy)
    assert sorted(d.id for d in decisions) == sorted(s.id for s in group)
    newest = max(group, key=lambda s: (s.time, s.id))
    assert newest.id in kept(decisions)
    for d in decisions:
        assert d.keep == bool(d.reasons)
    for name, n, _ in policy.rules():
        assert sum(f"{name} snapshot" in d.reasons for d in decisions) <= n
    if policy.empty:  # no policy at all keeps everything (nothing to raise)
        assert kept(decisions) == {s.id for s in group}
    else:
        more = Policy(last + 1, hourly, daily + 1, weekly, monthly)
        assert kept(decisions) <= kept(apply_policy(group, more))


# --- snapshot references ----------------------------------------------------------------


def entry(n: int, when: str) -> SnapshotEntry:
    return SnapshotEntry(
        id=f"{n:x}" * 64 if n < 16 else f"{n:064x}",
        time=when,
        source=Source(url="http://x/api"),
        counts={},
        records=0,
        digest="",
        size=0,
        secrets=SnapshotSecrets(mode="withheld"),
    )


def test_a_file_with_at_is_a_path() -> None:
    """A local path that exists as a file is a path, even with `@` in it."""
    assert parse_reference("snap@latest", is_file=True) is None
    assert parse_reference("snap.pfx", is_file=False) is None
    assert parse_reference("backup@2.pfx", is_file=False) is None


def test_reference_forms() -> None:
    """@latest, @<hex prefix> and @<ISO time> (no offset: UTC) are told apart."""
    latest = parse_reference("s3://b/p@latest", is_file=False)
    assert latest is not None and latest.how == "latest" and latest.repo == "s3://b/p"
    by_id = parse_reference("s3://b/p@3f2a1b9c", is_file=False)
    assert by_id is not None and by_id.how == "id" and by_id.prefix == "3f2a1b9c"
    at = parse_reference("s3://b/p@2026-12-01T09:30", is_file=False)
    assert at is not None and at.at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    offset = parse_reference("/r@2026-12-01T09:30+02:00", is_file=False, is_dir=True)
    assert offset is not None and offset.at == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


def test_a_bad_selector_after_a_repository_is_an_error() -> None:
    """After a URL or an existing directory, a bad selector names the grammar."""
    with pytest.raises(UsageError, match="@latest"):
        parse_reference("s3://b/p@yesterday", is_file=False)
    with pytest.raises(UsageError, match="@latest"):
        parse_reference("/r@2026-13-01", is_file=False, is_dir=True)


def test_choose_by_latest_prefix_and_time() -> None:
    """Latest is the newest; a prefix must be unique; a time picks the newest at or before it."""
    a, b, c = (
        entry(1, "2026-01-01T00:00:00Z"),
        entry(2, "2026-01-02T00:00:00Z"),
        entry(3, "2026-01-03T00:00:00Z"),
    )
    entries = [c, a, b]

    def pick(text: str) -> SnapshotEntry:
        ref = parse_reference(text, is_file=False)
        assert ref is not None
        return choose(entries, ref)

    assert pick("s3://r@latest") is c
    assert pick("s3://r@2222") is b
    assert pick("s3://r@2026-01-02T12:00") is b
    assert pick("s3://r@2026-01-02") is b
    with pytest.raises(UsageError, match="no snapshot at or before"):
        pick("s3://r@2025-12-31")
    with pytest.raises(UsageError, match="no snapshot id starts"):
        pick("s3://r@abcd")
    twins = [entry(1, "2026-01-01T00:00:00Z"), entry(17, "2026-01-01T00:00:00Z")]
    twins[1] = twins[1].model_copy(update={"id": "1111" + "0" * 60})
    ref = parse_reference("s3://r@1111", is_file=False)
    assert ref is not None
    with pytest.raises(UsageError, match="ambiguous"):
        choose(twins, ref)
