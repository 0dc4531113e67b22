"""Environment maps, pure: parsing, renames that every reference follows, values, patches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfx.errors import UsageError
from pfx.mapping import apply_mapping, merge_patch, parse_mapping
from pfx.model import Record, Ref

POOL_ID = "11111111-1111-1111-1111-111111111111"
MAP = """
[rename.work-pool]
"k8s-dev" = "k8s-prod"
[rename.variable]
"bucket_dev" = "bucket"
[rename.block-document]
"secret/db-dev" = "db"
[set.variable]
env_name = "prod"
[[patch]]
select = "deployment:etl/*"
merge = { job_variables = { image = "registry.example/etl:1.4", cpu = 4 } }
"""


def records() -> list[Record]:
    pool = Record(kind="work-pool", key=("k8s-dev",), id=POOL_ID, data={"name": "k8s-dev"})
    queue = Record(
        kind="work-queue",
        key=("k8s-dev", "default"),
        data={"name": "default", "work_pool_name": "k8s-dev", "work_pool_id": POOL_ID},
        refs=[Ref(kind="work-pool", key=("k8s-dev",), id=POOL_ID, path="work_pool_id")],
    )
    bucket = Record(kind="variable", key=("bucket_dev",), data={"name": "bucket_dev", "value": 1})
    env = Record(kind="variable", key=("env_name",), data={"name": "env_name", "value": "dev"})
    block = Record(kind="block-document", key=("secret", "db-dev"), data={"name": "db-dev"})
    dep = Record(
        kind="deployment",
        key=("etl", "daily"),
        data={
            "name": "daily",
            "work_pool_name": "k8s-dev",
            "work_queue_name": "default",
            "job_variables": {
                "image": "etl:dev",
                "cpu": 2,
                "env": {"B": "{{ prefect.variables.bucket_dev }}"},
                "pw": "{{ prefect.blocks.secret.db-dev.value }}",
            },
        },
        refs=[
            Ref(kind="work-pool", key=("k8s-dev",), path="work_pool_name"),
            Ref(kind="work-queue", key=("k8s-dev", "default"), path="work_queue_name", soft=True),
            Ref(kind="variable", key=("bucket_dev",), path="job_variables"),
            Ref(kind="block-document", key=("secret", "db-dev"), path="job_variables"),
        ],
    )
    return [block, bucket, env, pool, queue, dep]


def by_label(mapped: list[Record]) -> dict[str, Record]:
    return {r.label: r for r in mapped}


def test_renames_and_every_reference_follows() -> None:
    """A renamed pool renames its queues; deployments' names, templates and refs follow."""
    mapped = apply_mapping(records(), parse_mapping(MAP))
    got = by_label(mapped.records)
    assert set(got) == {
        "block-document secret/db",
        "variable bucket",
        "variable env_name",
        "work-pool k8s-prod",
        "work-queue k8s-prod/default",
        "deployment etl/daily",
    }
    assert got["work-pool k8s-prod"].data["name"] == "k8s-prod"
    queue = got["work-queue k8s-prod/default"]
    assert queue.data["work_pool_name"] == "k8s-prod"
    assert queue.refs[0].key == ("k8s-prod",) and queue.refs[0].id == POOL_ID
    dep = got["deployment etl/daily"]
    assert dep.data["work_pool_name"] == "k8s-prod"
    assert dep.data["job_variables"] == {
        "image": "registry.example/etl:1.4",
        "cpu": 4,
        "env": {"B": "{{ prefect.variables.bucket }}"},
        "pw": "{{ prefect.blocks.secret.db.value }}",
    }
    assert [r.key for r in dep.refs] == [
        ("k8s-prod",),
        ("k8s-prod", "default"),
        ("bucket",),
        ("secret", "db"),
    ]
    assert got["variable env_name"].data["value"] == "prod"


def test_changes_are_described_per_record() -> None:
    """The map says, per record, what it renamed and which fields it changed."""
    mapped = apply_mapping(records(), parse_mapping(MAP))
    old, changes = mapped.changed[("work-pool", ("k8s-prod",))]
    assert old == ("k8s-dev",)
    assert [(c.path, c.old, c.new) for c in changes] == [("name", "k8s-dev", "k8s-prod")]
    _, dep_changes = mapped.changed[("deployment", ("etl", "daily"))]
    paths = {c.path for c in dep_changes}
    assert {"work_pool_name", "job_variables.image", "job_variables.cpu"} <= paths
    assert ("variable", ("env_name",)) in mapped.changed


def test_mapping_is_idempotent_on_its_output() -> None:
    """Mapping the same bundle twice gives the same records (re-import finds them unchanged)."""
    envmap = parse_mapping(MAP)
    assert apply_mapping(records(), envmap).records == apply_mapping(records(), envmap).records


def test_unused_entries_are_noted_and_clashes_refused() -> None:
    """Entries naming nothing are noted; a rename onto an existing record is an error."""
    mapped = apply_mapping(records(), parse_mapping('[rename.variable]\n"nope" = "x"\n'))
    assert mapped.notes == ["map: rename variable nope: not in the bundle"]
    with pytest.raises(UsageError, match="which the bundle already has"):
        apply_mapping(records(), parse_mapping('[rename.variable]\n"bucket_dev" = "env_name"\n'))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rename", "not valid TOML"),
        ("[other]\n", "unknown table"),
        ('[rename.flow]\n"a" = "b"\n', "cannot rename 'flow'"),
        ('[rename.work-queue]\n"a" = "b"\n', r"a key is \.\.\./\.\.\."),
        ('[rename.variable]\n"a" = "x/y"\n', "must be a name"),
        ("[set.work-pool]\na = 1\n", "only variables"),
        ('[[patch]]\nselect = "variable:x"\nmerge = { value = 1 }\n', "cannot patch"),
        ('[[patch]]\nselect = "deployment:x"\n', "exactly `select` and `merge`"),
    ],
)
def test_bad_maps_are_one_line_errors(text: str, message: str) -> None:
    """A bad map is refused with a message naming what is wrong."""
    with pytest.raises(UsageError, match=message):
        parse_mapping(text)


JSONS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(JSONS, JSONS)
def test_merge_patch_is_idempotent(target: object, patch: object) -> None:
    """Applying a merge patch twice equals applying it once (RFC 7386)."""
    once = merge_patch(target, patch)  # type: ignore[arg-type]
    assert merge_patch(once, patch) == once  # type: ignore[arg-type]
