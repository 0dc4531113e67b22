"""What a Prefect Cloud workspace has that no bundle carries, named per object in the manifest's
`skipped` list: deployment version history and per-object access. Pure: exporting.py reads.

Version history: a Cloud deployment names its live version (`version_id`, DeploymentResponse in
prefect/client/schemas/responses.py); every update makes a new version, server-made, so only
the live one (the deployment record itself) can be recreated. Access: GET
/deployments/{id}/access, /work_pools/{name}/access, /block_documents/{id}/access (PrefectHQ's
Terraform provider) answer `{manage_actors, run_actors, view_actors}` lists of users, teams and
service accounts of the source's account, which another account does not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from pfx.jsontypes import JSON, JSONObject
from pfx.model import Record, Skipped

VERSION_HISTORY = "deployment-version-history"
VERSION_REASON = (
    "Prefect Cloud keeps a version history per deployment (live version {version}); only the "
    "live version is carried, as the deployment record: earlier versions are made by the "
    "server on each update and cannot be recreated (the destination starts its own history)"
)


# Prefect Cloud's own kinds: a Cloud source that does not list one (404/405: the path pfx
# reads is not Cloud's, see README "Prefect Cloud") must say so, not export none silently.
CLOUD_KINDS = ("webhook", "sla")
UNLISTED_REASON = (
    "this Prefect Cloud workspace answered {status} to {path}, where pfx lists {kind} records: "
    "any it has are not exported (pfx's path may not be Cloud's; see README, Prefect Cloud)"
)


@dataclass(frozen=True)
class Access:
    """Per-object access of one kind: the skipped entries' kind, whose objects, and where."""

    kind: str
    of: str
    # `{id}` or `{name}`: the object's source id or its name (work pools are read by name).
    path: str

    def ident(self, data: JSONObject) -> str | None:
        """The source item's id or name, as the path takes it (None: nothing to read)."""
        value = data.get("name" if "{name}" in self.path else "id")
        return value if isinstance(value, str) and not data.get("is_anonymous") else None

    def url(self, ident: str) -> str:
        return self.path.replace("{id}", ident).replace("{name}", quote(ident, safe=""))


ACCESS: tuple[Access, ...] = (
    Access("deployment-access", "deployment", "/deployments/{id}/access"),
    Access("work-pool-access", "work-pool", "/work_pools/{name}/access"),
    Access("block-document-access", "block-document", "/block_documents/{id}/access"),
)


def name_versions(records: Sequence[Record], raw: dict[str, list[JSONObject]]) -> list[Skipped]:
    """A skipped entry for each deployment whose source item names a live version (Cloud)."""
    versions = {
        str(item.get("id")): item["version_id"]
        for item in raw.get("deployment", [])
        if isinstance(item.get("version_id"), str)
    }
    return [
        Skipped(
            kind=VERSION_HISTORY,
            key=record.key,
            reason=VERSION_REASON.format(version=versions[str(record.id)]),
        )
        for record in records
        if record.kind == "deployment" and str(record.id) in versions
    ]


def name_cloud_only(
    records: Sequence[Record],
    raw: dict[str, list[JSONObject]],
    answers: dict[tuple[str, str], JSON],
) -> list[Skipped]:
    """Skipped entries for the version history and access settings of `records` (the bundle's
    records; `answers`: (access kind, ident) -> what the access endpoint answered)."""
    named = name_versions(records, raw)
    for access in ACCESS:
        for record in records:
            if record.kind != access.of:
                continue
            ident = record.key[0] if "{name}" in access.path else str(record.id)
            entry = name_access(access, record, answers.get((access.kind, ident)))
            if entry is not None:
                named.append(entry)
    return named


def name_access(access: Access, record: Record, answer: JSON) -> Skipped | None:
    """The skipped entry for `record`'s access settings, or None when it has none of its own."""
    grants = _grants(answer)
    if not grants:
        return None
    told = ", ".join(f"{role}: {count}" for role, count in grants)
    return Skipped(
        kind=access.kind,
        key=record.key,
        reason=(
            f"Prefect Cloud object-level access ({told}) names users, teams and service "
            "accounts of the source's account, which another account does not have: not "
            f"carried; set it again on the destination (PUT {access.path})"
        ),
    )


def _grants(answer: JSON) -> list[tuple[str, int]]:
    """(role, number of actors) for every non-empty `<role>_actors` / `<role>_team_ids` list."""
    if isinstance(answer, dict) and isinstance(answer.get("access_control"), dict):
        answer = answer["access_control"]
    if not isinstance(answer, dict):
        return []
    return [
        (name.removesuffix("_actors").removesuffix("_actor_ids").removesuffix("_team_ids"), len(v))
        for name, v in sorted(answer.items())
        if isinstance(v, list) and v and name.endswith(("_actors", "_actor_ids", "_team_ids"))
    ]
