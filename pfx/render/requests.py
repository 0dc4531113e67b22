"""API requests of the setup script as data, pure: prefect-setup.json, read by prefect-setup.py.

A request's body is the record's data as it is: nothing in it is ever interpreted. What the
target server must fill in (ids of things named by key, secret values from the environment)
is listed beside the body, each at a path pfx itself chose (`ids`, `secrets`), so a value in a
bundle that looks like a marker stays a value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from pfx.jsontypes import JSON, JSONObject
from pfx.render.model import RenderCheckError

FORMAT = "pfx-setup"
VERSION = 1
# Kinds the setup client can look up by key on the target server (see setup_api.LOOKUPS).
LOOKUP_KINDS = ("block-type", "block-schema", "block-document", "deployment")
SECRET_PREFIX = "PFX_SECRET__"
# A path into a body: object keys and list indexes.
At = tuple[str | int, ...]


@dataclass(frozen=True)
class Lookup:
    """The target server's id of the record of `kind` named `key`, put at `at`."""

    at: At
    kind: str
    key: tuple[str, ...]

    def as_json(self) -> JSONObject:
        return {"at": list(self.at), "kind": self.kind, "key": list(self.key)}


@dataclass(frozen=True)
class SecretValue:
    """The value of environment variable `env` (always PFX_SECRET__...), put at `at`."""

    at: At
    env: str

    def as_json(self) -> JSONObject:
        return {"at": list(self.at), "env": self.env}


@dataclass
class Request:
    """One API request: method, path (with `{id}` standing for `id`'s lookup), body, the
    GET path whose success means "already there, skip", and what to fill in."""

    note: str
    method: str
    path: str
    body: JSONObject
    unless: str | None = None
    id: Lookup | None = None
    ids: list[Lookup] = field(default_factory=list)
    secrets: list[SecretValue] = field(default_factory=list)

    def as_json(self) -> JSONObject:
        out: JSONObject = {"note": self.note, "method": self.method, "path": self.path}
        if self.unless is not None:
            out["unless"] = self.unless
        if self.id is not None:
            out["id"] = self.id.as_json()
        out["body"] = self.body
        if self.ids:
            out["ids"] = [i.as_json() for i in self.ids]
        if self.secrets:
            out["secrets"] = [s.as_json() for s in self.secrets]
        return out


def url(*parts: str) -> str:
    """An API path from names, each quoted whole (a `/` or `?` in a name stays in it)."""
    return "/" + "/".join(quote(p, safe="") for p in parts)


def document(sections: dict[str, list[Request]]) -> JSONObject:
    """prefect-setup.json's content: the requests of each section, in order."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "sections": {name: [r.as_json() for r in rs] for name, rs in sections.items()},
    }


def setup_json(sections: dict[str, list[Request]]) -> str:
    """prefect-setup.json's text, checked to read back as the requests pfx meant."""
    value = document(sections)
    text = json.dumps(value, indent=1, sort_keys=False, ensure_ascii=True) + "\n"
    if json.loads(text) != value:
        raise RenderCheckError("prefect-setup.json does not read back as pfx's requests")
    for name, requests in sections.items():
        for request in requests:
            check_request(name, request)
    return text


def check_request(section: str, request: Request) -> None:
    """What the setup client is asked to fill in is a lookup it knows or a PFX_SECRET__
    variable, at a path that exists in the body; RenderCheckError otherwise."""
    for lookup in [*request.ids, *([request.id] if request.id else [])]:
        if lookup.kind not in LOOKUP_KINDS:
            raise RenderCheckError(f"{section}: no lookup of {lookup.kind}")
    for lookup in request.ids:
        _existing(request.body, lookup.at, section)
    for secret in request.secrets:
        if not secret.env.startswith(SECRET_PREFIX):
            raise RenderCheckError(f"{section}: a secret from {secret.env}")
        _existing(request.body, secret.at, section)
    if (request.id is None) != ("{id}" not in request.path):
        raise RenderCheckError(f"{section}: {request.path} and its id lookup disagree")


def _existing(body: JSON, at: At, section: str) -> None:
    node = body
    for step in at:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
            continue
        if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
            continue
        raise RenderCheckError(f"{section}: no value at {list(at)} to fill in")
