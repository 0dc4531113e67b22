"""Which rendered strings Prefect would treat as templates, pure.

`prefect deploy` resolves every `{{ name }}` placeholder in a prefect.yaml deployment entry
when it deploys: `{{ prefect.blocks.* }}` and `{{ prefect.variables.* }}` from the server,
`{{ $VAR }}` and any other name from the environment (prefect/cli/deploy/_core.py,
`resolve_block_document_references`, `resolve_variables`, `apply_values(..., os.environ)`).
Prefect's templating has no escape, so such strings never go into prefect.yaml: the setup
script sets them after deploying, or the render names them as not rendered. Only `{{ ctx.* }}`
(resolved by the worker, never by the environment) and pull steps (taken before templating)
keep theirs.
"""

from __future__ import annotations

import re

from pfx.jsontypes import JSON

# Prefect's placeholder pattern (prefect.utilities.templating.PLACEHOLDER_CAPTURE_REGEX).
PLACEHOLDER = re.compile(r"{{\s*([\w\.\-\[\]$]+)\s*}}")
# Placeholders the worker resolves at run time, which `prefect deploy` leaves in place.
RUN_TIME = "ctx."


def templated(value: JSON) -> bool:
    """Whether `value` (at any depth) holds a placeholder `prefect deploy` would resolve."""
    if isinstance(value, str):
        return any(not m.startswith(RUN_TIME) for m in PLACEHOLDER.findall(value))
    if isinstance(value, list):
        return any(templated(v) for v in value)
    if isinstance(value, dict):
        return any(templated(v) for v in value.values())
    return False


def untemplated(value: JSON) -> JSON:
    """A fresh copy of `value` without the object keys and list items holding templates."""
    if isinstance(value, dict):
        return {k: untemplated(v) for k, v in value.items() if not templated(v)}
    if isinstance(value, list):
        return [untemplated(v) for v in value if not templated(v)]
    return value


def templated_paths(value: JSON, path: str = "") -> list[str]:
    """Dotted paths (`[i]` for list items) of every string holding a template, for checks."""
    if isinstance(value, str):
        return [path] if templated(value) else []
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in templated_paths(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [
            p for k, v in value.items() for p in templated_paths(v, f"{path}.{k}" if path else k)
        ]
    return []
