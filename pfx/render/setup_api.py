"""The setup client: sends the API requests of prefect-setup.json for one section.

`pfx render` writes this module's own source next to the script as prefect-setup.py, and the
script runs `python3 prefect-setup.py SECTION`: so it imports nothing of pfx, only the
standard library and Prefect's own client, which connects as every `prefect` command does
(profile, API key or auth string, custom headers, CSRF, TLS settings). It fills in only what
each request lists: target-server ids of records named by key, and PFX_SECRET__* values from
the environment, at the paths listed; the body is never searched for markers.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

REQUESTS = "prefect-setup.json"
SECRET_PREFIX = "PFX_SECRET__"
# GET paths that answer the record of a kind named by its key (the key's parts, quoted).
LOOKUPS = {
    "block-type": "/block_types/slug/{0}",
    "block-schema": "/block_schemas/checksum/{0}",
    "block-document": "/block_types/slug/{0}/block_documents/name/{1}",
    "deployment": "/deployments/name/{0}/{1}",
}

Lookup = Callable[[str, list[str]], str]


class SetupError(Exception):
    """A request cannot be made as prefect-setup.json asks: said in one line, exit 1."""


def main(argv: list[str]) -> int:
    """`prefect-setup.py SECTION`: every request of that section, in order."""
    if len(argv) != 1:
        print(f"usage: {Path(sys.argv[0]).name} SECTION", file=sys.stderr)
        return 2
    try:
        requests = section_requests(Path(__file__).with_name(REQUESTS), argv[0])
        missing = missing_secrets(requests, os.environ)
        if missing:
            raise SetupError(
                "set the secret values first (never written to these files): " + ", ".join(missing)
            )
        if requests:
            send_all(requests)
    except SetupError as e:
        print(f"prefect-setup: {printable(str(e))}", file=sys.stderr)
        return 1
    return 0


def section_requests(path: Path, section: str) -> list[dict[str, Any]]:
    """The requests of `section` in the file at `path`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SetupError(f"cannot read {path.name}: {e}") from None
    sections = document.get("sections") if isinstance(document, dict) else None
    if not isinstance(sections, dict) or not isinstance(sections.get(section), list):
        raise SetupError(f"{path.name} has no section {section!r}")
    requests: list[dict[str, Any]] = sections[section]
    return requests


def missing_secrets(requests: list[dict[str, Any]], environ: Mapping[str, str]) -> list[str]:
    """The PFX_SECRET__ variables the requests need that `environ` does not set."""
    wanted = [s["env"] for r in requests for s in r.get("secrets", [])]
    return sorted({env for env in wanted if env not in environ})


def send_all(requests: list[dict[str, Any]]) -> None:
    """Send each request with Prefect's own client (the active profile's server)."""
    try:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import PrefectHTTPStatusError
    except ImportError:
        raise SetupError(
            "needs the prefect package: run it with the Python prefect is installed in"
        ) from None

    with get_client(sync_client=True) as prefect_client:
        # Paths here are built at run time, not the literal routes Prefect's types list.
        client: Any = prefect_client

        def call(method: str, path: str, body: object = None) -> Any:
            try:
                response = client.request(method, path, json=body)
            except PrefectHTTPStatusError as e:
                status = e.response.status_code
                raise SetupError(f"{method} {path}: {status} {e.response.text[:500]}") from None
            return response.json() if response.content else None

        def exists(path: str) -> bool:
            try:
                client.request("GET", path)
            except PrefectHTTPStatusError as e:
                if e.response.status_code == 404:
                    return False
                raise SetupError(f"GET {path}: {e.response.status_code}") from None
            return True

        def lookup(kind: str, key: list[str]) -> str:
            found = call("GET", LOOKUPS[kind].format(*(quote(k, safe="") for k in key)))
            return str(found["id"])

        for request in requests:
            note = printable(str(request.get("note", "")))
            unless = request.get("unless")
            if isinstance(unless, str) and exists(unless):
                print(f"exists   {note}")
                continue
            path, body = prepared(request, lookup, os.environ)
            call(str(request["method"]), path, body)
            print(f"done     {note}")


def prepared(
    request: dict[str, Any], lookup: Lookup, environ: Mapping[str, str]
) -> tuple[str, Any]:
    """The path and body to send: a copy of the body with each listed id and secret put at
    its listed path (which must exist), and `{id}` in the path replaced by its lookup."""
    body = copy.deepcopy(request.get("body"))
    for item in request.get("ids", []):
        if item["kind"] not in LOOKUPS:
            raise SetupError(f"no lookup of {item['kind']!r}")
        body = put(body, item["at"], lookup(item["kind"], item["key"]))
    for item in request.get("secrets", []):
        env = item["env"]
        if not env.startswith(SECRET_PREFIX):
            raise SetupError(f"a secret comes from {SECRET_PREFIX}* variables only, not {env}")
        body = put(body, item["at"], environ[env])
    path = str(request["path"])
    target = request.get("id")
    if target is not None:
        if target["kind"] not in LOOKUPS:
            raise SetupError(f"no lookup of {target['kind']!r}")
        path = path.replace("{id}", lookup(target["kind"], target["key"]))
    return path, body


def put(body: Any, at: list[str | int], value: object) -> Any:
    """`body` with the existing value at path `at` replaced by `value` (in place)."""
    if not at:
        return value
    node = body
    for step in at[:-1]:
        node = _step(node, step, at)
    _step(node, at[-1], at)
    node[at[-1]] = value
    return body


def _step(node: Any, step: str | int, at: list[str | int]) -> Any:
    if isinstance(node, dict) and isinstance(step, str) and step in node:
        return node[step]
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    raise SetupError(f"no value at {at} to fill in")


def printable(text: str) -> str:
    """`text` with characters a terminal acts on written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
