"""What a destination server accepts, read from its own OpenAPI document (pure, no I/O).

`Accepts` trims a request body to the fields the server's request schema knows and names every
dropped field that held a value (a `Drop`), so a payload is built for the server at hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pfx.jsontypes import JSON, JSONObject

# Values a dropped field may hold without anything being lost: "not set" in every release
# (an older server that lacks a field behaves as if it were unset). The source's own default
# is not known to the destination's schema, so nothing else counts as unset.
_UNSET: tuple[JSON, ...] = (None, {}, [], "", False)
# Cycles in schemas (compound triggers hold triggers) end at this depth; deeper values are kept.
_DEPTH = 40


@dataclass(frozen=True)
class Drop:
    """A field the destination does not accept: where it sat in the body, and its value."""

    path: str
    value: JSON

    @property
    def lossy(self) -> bool:
        """Whether dropping it loses something (it held a value other than unset)."""
        return not any(self.value == unset and type(self.value) is type(unset) for unset in _UNSET)

    @property
    def value_kind(self) -> str:
        """The JSON type of the value, never the value itself (it may be a secret)."""
        value = self.value
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "number"
        if isinstance(value, str):
            return "string"
        if isinstance(value, list):
            return "array"
        if isinstance(value, dict):
            return "object"
        return "null"


@dataclass(frozen=True)
class Route:
    """One write endpoint: its method, its path as a pattern, and its request body schema."""

    method: str
    pattern: re.Pattern[str]
    template: str
    schema: JSONObject


@dataclass
class Accepts:
    """The request schemas of one server's write endpoints, from its `/openapi.json`."""

    routes: list[Route] = field(default_factory=list)
    components: dict[str, JSONObject] = field(default_factory=dict)
    # What the server calls itself in reasons: "Prefect 3.4.25".
    server: str = "the destination"

    def schema_for(self, method: str, path: str) -> JSONObject | None:
        """The request body schema of `method path` (path relative to the API root)."""
        clean = "/" + path.strip("/").split("?", 1)[0]
        matches = [
            r for r in self.routes if r.method == method.upper() and r.pattern.fullmatch(clean)
        ]
        if not matches:
            return None
        # A literal segment beats a parameter (`/deployments/filter` over `/deployments/{id}`).
        best = min(matches, key=lambda r: r.template.count("{"))
        return best.schema

    def knows(self, method: str, path: str) -> bool:
        """Whether the server has this endpoint at all (any body)."""
        return self.schema_for(method, path) is not None

    def offers(self, path: str) -> bool:
        """Whether the server has an endpoint at `path` (any method), also under a prefix
        (a document whose paths keep the API root, such as a Cloud workspace's)."""
        clean = "/" + path.strip("/").split("?", 1)[0]
        return any(
            r.pattern.fullmatch(clean) or r.template.rstrip("/").endswith(clean)
            for r in self.routes
        )

    def trim(self, method: str, path: str, body: JSON) -> tuple[JSON, list[Drop]]:
        """`body` without the fields the endpoint's schema does not accept, and what went."""
        schema = self.schema_for(method, path)
        if schema is None or body is None:
            return body, []
        drops: list[Drop] = []
        trimmed = self._trim(body, schema, "", drops, 0)
        return trimmed, drops

    def _resolve(self, schema: JSONObject) -> JSONObject:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < _DEPTH:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            target = self.components.get(name)
            if target is None:
                return {}
            schema = target
            seen += 1
        return schema

    def _trim(
        self, value: JSON, schema: JSONObject, path: str, drops: list[Drop], depth: int
    ) -> JSON:
        if depth > _DEPTH:
            return value
        schema = self._resolve(schema)
        if "allOf" in schema:
            schema = self._merged(schema)
        branches = schema.get("anyOf", schema.get("oneOf"))
        if isinstance(branches, list):
            chosen = self._branch(value, [b for b in branches if isinstance(b, dict)], schema)
            if chosen is None:
                return value
            return self._trim(value, chosen, path, drops, depth + 1)
        if isinstance(value, dict):
            return self._trim_object(value, schema, path, drops, depth)
        if isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                return [
                    self._trim(v, items, f"{path}.{i}" if path else str(i), drops, depth + 1)
                    for i, v in enumerate(value)
                ]
        return value

    def _trim_object(
        self, value: JSONObject, schema: JSONObject, path: str, drops: list[Drop], depth: int
    ) -> JSON:
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if not isinstance(props, dict):
            # A free-form mapping (job variables, parameters): every key is the user's.
            if isinstance(extra, dict) and extra:
                return {
                    k: self._trim(v, extra, _join(path, k), drops, depth + 1)
                    for k, v in value.items()
                }
            return value
        out: JSONObject = {}
        for key, item in value.items():
            sub = props.get(key)
            if isinstance(sub, dict):
                out[key] = self._trim(item, sub, _join(path, key), drops, depth + 1)
            elif extra is True or (isinstance(extra, dict) and extra):
                out[key] = item
            else:
                # additionalProperties false: the server refuses it (422); absent: it ignores
                # it without a word. Either way it does not arrive.
                drops.append(Drop(_join(path, key), item))
        return out

    def _merged(self, schema: JSONObject) -> JSONObject:
        """An allOf as one object schema: the parts' properties together."""
        merged: JSONObject = {k: v for k, v in schema.items() if k != "allOf"}
        own = merged.get("properties")
        props: JSONObject = dict(own) if isinstance(own, dict) else {}
        parts = schema.get("allOf")
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict):
                resolved = self._resolve(part)
                sub = resolved.get("properties")
                if isinstance(sub, dict):
                    props |= sub
                for k in ("additionalProperties", "type", "anyOf", "oneOf", "items"):
                    if k in resolved and k not in merged:
                        merged[k] = resolved[k]
        if props:
            merged["properties"] = props
        return merged

    def _branch(
        self, value: JSON, branches: list[JSONObject], union: JSONObject
    ) -> JSONObject | None:
        """The branch of a union that `value` takes; None when that cannot be told."""
        resolved = [self._resolve(b) for b in branches]
        if value is None:
            return None
        if isinstance(value, list):
            arrays = [b for b in resolved if b.get("type") == "array"]
            return arrays[0] if len(arrays) == 1 else None
        if not isinstance(value, dict):
            return None
        objects = [b for b in resolved if b.get("type") == "object" or "properties" in b]
        objects = [self._merged(b) if "allOf" in b else b for b in objects]
        if len(objects) == 1:
            return objects[0]
        # Discriminated unions (triggers, actions): the branch whose tag field names the value.
        for b in objects:
            props = b.get("properties")
            if not isinstance(props, dict):
                continue
            tags = [
                (k, self._resolve(p))
                for k, p in props.items()
                if isinstance(p, dict)
                and ("const" in self._resolve(p) or "enum" in self._resolve(p))
            ]
            for k, p in tags:
                allowed = [p["const"]] if "const" in p else p.get("enum")
                if isinstance(allowed, list) and len(allowed) == 1 and value.get(k) in allowed:
                    return b
        return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_accepts(document: JSON, server: str = "the destination") -> Accepts:
    """Accepts from a server's OpenAPI document (`GET /api/openapi.json`)."""
    if not isinstance(document, dict):
        return Accepts(server=server)
    components = document.get("components")
    schemas = components.get("schemas") if isinstance(components, dict) else None
    paths = document.get("paths")
    routes: list[Route] = []
    for template, ops in (paths if isinstance(paths, dict) else {}).items():
        if not isinstance(ops, dict):
            continue
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(op, dict):
                continue
            relative = _WORKSPACE.sub("", template)
            routes.append(Route(method.upper(), _pattern(relative), relative, _body(op)))
    return Accepts(
        routes=routes,
        components={k: v for k, v in schemas.items() if isinstance(v, dict)}
        if isinstance(schemas, dict)
        else {},
        server=server,
    )


def _body(op: JSONObject) -> JSONObject:
    """The JSON request body schema of an operation ({} when it takes none: anything kept)."""
    body = op.get("requestBody")
    content = body.get("content") if isinstance(body, dict) else None
    media = content.get("application/json") if isinstance(content, dict) else None
    schema = media.get("schema") if isinstance(media, dict) else None
    return schema if isinstance(schema, dict) else {}


# Prefect Cloud names its operations after paths under the workspace (the operation id
# `apply_slas_api_accounts__account_id__workspaces__workspace_id__slas_...` that PrefectHQ's
# Terraform provider links to): such a document's paths are made relative to the API root,
# as a self-hosted server's already are.
_WORKSPACE = re.compile(r"^/api/accounts/\{[^}/]+\}/workspaces/\{[^}/]+\}(?=/)")


def _pattern(template: str) -> re.Pattern[str]:
    """`/deployments/{id}` as a pattern matching `/deployments/<anything but a slash>`."""
    parts = re.split(r"(\{[^}]+\})", "/" + template.strip("/"))
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))
