"""Block types from captured 3.8.8 API JSON: key, kept data, create/update calls, comparison."""

from __future__ import annotations

from pfx.jsontypes import JSON
from pfx.kinds import block_type
from pfx.kinds.base import Destination
from pfx.model import Record
from tests.kinds.conftest import built, captured, portable_items

FIXTURE = captured("block-type")
KIND = block_type.KIND


def records(side: str) -> dict[tuple[str, ...], Record]:
    return built({KIND.name: FIXTURE[side]}, KIND.name)


def portable_data(side: str) -> dict[tuple[str, ...], JSON]:
    return portable_items({KIND.name: FIXTURE[side]}, KIND.name)


def test_key_is_slug() -> None:
    """A block type is keyed by its slug."""
    assert set(records("a")) >= {("secret",), ("pfx-creds",), ("aws-credentials",)}


def test_kept_drops_server_fields_and_keeps_metadata() -> None:
    """Kept data holds name, slug, metadata and protection, never id or timestamps."""
    data = records("a")[("pfx-creds",)].data
    assert set(data) == {
        "name", "slug", "logo_url", "documentation_url", "description", "code_example",
        "is_protected",
    }  # fmt: skip
    assert data["logo_url"] == "https://example.com/logo.png"
    assert data["documentation_url"] == "https://example.com/docs"
    assert data["is_protected"] is False


def test_refs_are_empty() -> None:
    """A block type depends on nothing."""
    assert all(r.refs == [] for r in records("a").values())


def test_create_sends_name_slug_and_metadata() -> None:
    """Create POSTs BlockTypeCreate fields only (no is_protected: the schema forbids extras)."""
    record = records("a")[("pfx-creds",)]
    call = KIND.create(record, record.data)
    assert (call.method, call.path) == ("POST", "/block_types/")
    assert isinstance(call.body, dict)
    assert call.body["slug"] == "pfx-creds" and call.body["name"] == "Pfx Creds"
    assert "is_protected" not in call.body and "id" not in call.body


def test_update_patches_metadata_of_user_types_only() -> None:
    """Update PATCHes the four metadata fields, and never touches a protected type."""
    record = records("a")[("pfx-creds",)]
    dest = next(i for i in FIXTURE["b"] if i["slug"] == "pfx-creds")
    (call,) = KIND.update(record, record.data, dest)
    assert call.method == "PATCH" and call.path == f"/block_types/{dest['id']}"
    assert set(call.body) == set(block_type.METADATA)
    secret = records("a")[("secret",)]
    dest_secret = next(i for i in FIXTURE["b"] if i["slug"] == "secret")
    assert KIND.update(secret, secret.data, dest_secret) == []


def test_two_servers_compare_equal() -> None:
    """The same block types captured on two servers compare as unchanged."""
    a, b = portable_data("a"), portable_data("b")
    assert set(a) == set(b)
    assert KIND.compare is not None
    for key in a:
        assert KIND.compare(a[key], b[key]) == [], key


def test_protected_types_never_conflict() -> None:
    """Metadata of a protected type that differs by server version is not a conflict."""
    a = portable_data("a")[("secret",)]
    newer = dict(a, description="A different release's blurb", logo_url="https://x/y.png")
    assert KIND.compare is not None
    assert KIND.compare(a, newer) == []
    user = portable_data("a")[("pfx-creds",)]
    assert KIND.compare(user, dict(user, description="changed")) == ["description"]


def test_reserved_names_are_unsupported() -> None:
    """Names beginning with 'Prefect' are refused by the server (403), so say so first."""
    record = Record(kind="block-type", key=("prefect-x",), data={"name": "Prefect X"})
    assert KIND.unsupported(record, Destination()) is not None
    assert KIND.unsupported(records("a")[("pfx-creds",)], Destination()) is None


def test_create_undoes_the_servers_html_escaping_once() -> None:
    """A description the source stored escaped (`a &gt; b`) is sent unescaped, so the
    destination's create, which escapes it again, stores the source's text exactly."""
    import html

    text = 'if a > b & c < d: print("<x>") &copy;'
    stored = html.escape(text, quote=False)
    record = Record(
        kind="block-type",
        key=("t",),
        data={"name": "T", "slug": "t", "description": stored, "code_example": stored},
    )
    call = KIND.create(record, record.data)
    assert not isinstance(call, list) and isinstance(call.body, dict)
    for field in ("description", "code_example"):
        assert html.escape(call.body[field], quote=False) == stored
