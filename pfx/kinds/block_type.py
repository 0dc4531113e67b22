"""Block types: keyed by slug, with their metadata. System types (protected, or a slug that
Prefect servers register themselves) belong to the destination's Prefect: they always compare
as unchanged and import never writes them.
"""

from __future__ import annotations

import html

from pfx.ids import Index
from pfx.jsontypes import JSONObject
from pfx.kinds.base import Call, Destination, Kind, Listing, Shape, delete_by_id
from pfx.model import Record
from pfx.sameness import differing_fields

# What BlockTypeUpdate accepts; name and slug are fixed at creation.
METADATA = ("logo_url", "documentation_url", "description", "code_example")
# Every release's create (not its update) stores these HTML-escaped
# (prefect/server/models/block_types.py): a server's value is escaped text already.
ESCAPED = ("description", "code_example")


def _key(data: JSONObject, _index: Index) -> tuple[str, ...]:
    return (str(data["slug"]),)


def _create(record: Record, data: JSONObject) -> Call:
    body: JSONObject = {"name": data["name"], "slug": data["slug"]}
    body |= {k: data.get(k) for k in METADATA}
    for k in ESCAPED:
        # Unescaped once, so that the create's own escaping stores the source's text
        # (sent as read, `&gt;` would arrive as `&amp;gt;`).
        value = body.get(k)
        if isinstance(value, str):
            body[k] = html.unescape(value)
    if data.get("is_protected"):
        # A type protected on the source that the destination does not register (2.x's
        # `json`, `date-time`, `process` on 3.x): the API creates only unprotected types,
        # so the flag goes along for the destination's schema to name as a loss.
        body["is_protected"] = True
    return Call("POST", "/block_types/", body)


def _update(record: Record, data: JSONObject, dest: JSONObject) -> list[Call]:
    # The API accepts a PATCH of a protected type (3.8.8 answers 204 and changes it), but
    # the system types' metadata is the destination server's own: leave it alone.
    if system_type(dest) or system_type(data):
        return []
    return [Call("PATCH", f"/block_types/{dest['id']}", {k: data.get(k) for k in METADATA})]


# Every slug a supported Prefect release (2.20-3.9) registers on its servers by itself, read
# from real servers of each release (`make compat` fails when a server of its matrix registers
# one outside these and the installed prefect's). A slug is a type's identity, fixed when it is
# created; what releases change is a type's metadata (logos, documentation, descriptions), which
# is therefore never what decides.
REGISTERED: frozenset[str] = frozenset(
    {
        *("aws-credentials", "aws-secret", "lambda-function", "minio-credentials", "s3-bucket"),
        *("azure-blob-storage-container", "azure-blob-storage-credentials"),
        *("azure-container-instance-credentials", "azure-cosmos-db-credentials"),
        *("azureml-credentials", "bigquery-warehouse", "gcp-credentials", "gcpsecret"),
        *("gcs-bucket", "bitbucket-credentials", "bitbucket-repository"),
        *("github-credentials", "github-repository", "gitlab-credentials", "gitlab-repository"),
        *("database-credentials", "sqlalchemy-connector", "databricks-credentials"),
        *("dbt-cli-bigquery-target-configs", "dbt-cli-global-configs", "dbt-cli-profile"),
        *("dbt-cli-postgres-target-configs", "dbt-cli-snowflake-target-configs"),
        *("dbt-cli-target-configs", "dbt-cloud-credentials", "dbt-core-operation"),
        *("docker-host", "docker-registry-credentials", "email-server-credentials"),
        *("kubernetes-cluster-config", "kubernetes-credentials", "shell-operation"),
        *("slack-credentials", "snowflake-connector", "snowflake-credentials"),
        # Prefect's own classes (3.x).
        *("secret", "webhook", "local-file-system", "remote-file-system", "smb"),
        *("custom-webhook", "discord-webhook", "mattermost-webhook", "ms-teams-webhook"),
        *("opsgenie-webhook", "pager-duty-webhook", "sendgrid-email", "slack-webhook"),
        "twilio-sms",
        # Only older releases register these (3.4: json, date-time, string; 2.20: the rest).
        *("json", "date-time", "string", "process", "azure", "gcs", "s3", "github"),
        *("docker-container", "docker-registry", "kubernetes-job", "ecs-task"),
        *("azure-container-instance-job", "cloud-run-job", "vertex-ai-custom-training-job"),
    }
)


def system_type(item: JSONObject, registered: frozenset[str] = frozenset()) -> bool:
    """Whether a type is one Prefect servers register themselves (whose metadata is each
    server's release's, never the user's): protected there, or with a slug Prefect registers
    (REGISTERED, or `registered`: those of the prefect package pfx runs beside)."""
    if item.get("is_protected"):
        return True
    slug = item.get("slug")
    return isinstance(slug, str) and (slug in REGISTERED or slug in registered)


def _owned(dest: JSONObject, destination: Destination) -> str | None:
    """Why an existing type counts as unchanged whatever its metadata: it is the server's."""
    own = system_type(dest, destination.prefect_block_types)
    return "destination's system type" if own else None


def _compare(bundle: JSONObject, dest: JSONObject) -> list[str]:
    # System types are registered by each server from its own Prefect release, so their
    # metadata differs between versions without anyone having changed it: never a conflict.
    if system_type(bundle) or system_type(dest):
        return []
    return differing_fields(bundle, dest)


def _unsupported(record: Record, destination: Destination) -> str | None:
    if str(record.data.get("name", "")).lower().startswith("prefect"):
        return "block type names beginning with 'Prefect' are reserved by the server"
    return None


KIND = Kind(
    name="block-type",
    listing=Listing("/block_types/filter"),
    server_fields=frozenset({"id", "created", "updated"}),
    key=_key,
    create=_create,
    update=_update,
    # create sends name and slug.
    shape=Shape(key=1, fields={"name": "str", "slug": "str"}),
    unsupported=_unsupported,
    compare=_compare,
    owned=_owned,
    immutable=frozenset({"name"}),
    # Never a system type: prune leaves the destination's own (`owned`); the server refuses
    # a protected one anyway.
    delete=delete_by_id("/block_types/"),
)
