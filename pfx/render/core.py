"""Rendering records as code, pure: `render` selects records and asks each part for its
files (records in, texts out); the summary of what was written and left out.

Parts: deployments.py (prefect.yaml), automations.py (triggers and the automations file),
commands.py (the setup files); shared types in model.py. Nothing here reads or writes files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pfx.escaping import safe_text
from pfx.jsontypes import JSONObject
from pfx.model import Record
from pfx.render.automations import render_automations, split_automations, trigger_entries
from pfx.render.commands import render_commands
from pfx.render.deployments import render_deployments
from pfx.render.model import Names, Omission, Rendering
from pfx.select import select

# Prefect Cloud's own kinds: no file of `prefect deploy` or setup script renders them.
CLOUD_ONLY = {
    "webhook": "a Prefect Cloud webhook: not rendered (`prefect cloud webhook create` takes "
    "its name, description and template; the URL is new)",
    "sla": "Prefect Cloud SLAs: not rendered (a prefect.yaml deployment's `sla:` list or "
    "POST /slas/apply-resource-slas sets them)",
}


def render(
    records: list[Record],
    *,
    source: str,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> Rendering:
    """Every rendered file for `records` (picked by `include`/`exclude` selectors, with what
    they reference), and every field those files leave out."""
    chosen = select(records, include, exclude).records
    names = Names.of(records)
    deployable = {
        r.id.lower()
        for r in chosen
        if r.kind == "deployment" and r.id and isinstance(r.data.get("work_pool_name"), str)
    }
    # A chosen deployment's triggers come with it; other automations only when chosen.
    by_deployment, _ = split_automations(records, deployable)
    _, rest = split_automations(chosen, deployable)
    out = Rendering()
    triggers = trigger_entries(by_deployment, names, out.omissions)
    for part in (
        render_deployments(chosen, names, triggers, source),
        render_automations(rest, names, source),
        render_commands(chosen, names, source),
    ):
        out.files |= part.files
        out.omissions += part.omissions
        out.counts |= part.counts
    out.omissions += [
        Omission(r.kind, r.key, "*", CLOUD_ONLY[r.kind]) for r in chosen if r.kind in CLOUD_ONLY
    ]
    out.omissions.sort(key=lambda o: (o.kind, o.key, o.field))
    return out


def summary_text(rendering: Rendering, written: list[str], source: str) -> str:
    """What a render wrote and every field it left out, for people: omissions with the same
    kind, field and reason are one line, naming every record they concern."""
    counts = ", ".join(f"{n} {what}" for what, n in rendering.counts.items())
    lines = [f"rendered {safe_text(source)}: {counts}"]
    lines += [f"  wrote {safe_text(path)}" for path in written]
    groups: dict[tuple[str, str, str], list[str]] = {}
    for o in rendering.omissions:
        field = re.sub(r"\[[^\]]*\]", "", o.field)
        groups.setdefault((o.kind, field, o.reason), []).append("/".join(o.key))
    if groups:
        lines.append(f"not rendered ({len(rendering.omissions)} fields):")
    for (kind, field, reason), keys in groups.items():
        lines.append(safe_text(f"  {kind} {field}: {reason}"))
        lines.append(safe_text(f"    {', '.join(dict.fromkeys(keys))}"))
    return "\n".join(lines)


def summary_json(rendering: Rendering, written: list[str], source: str) -> JSONObject:
    """The same as `summary_text`, as JSON."""
    return {
        "source": source,
        "files": list(written),
        "counts": dict(rendering.counts),
        "not_rendered": [
            {"kind": o.kind, "key": list(o.key), "field": o.field, "reason": o.reason}
            for o in rendering.omissions
        ],
    }
