"""pfx: move the whole configuration of a Prefect server through one verifiable file.

The library API (the CLI is a thin client of it; each module names its own in `__all__`):

    pfx.exporting.export_bundle(path, profile=None, ...) -> ExportResult
        read every resource of a profile's server into the bundle file `path`
    pfx.bundlefile.read_bundle(path) -> Bundle
        decode and verify a bundle file (verify_bundle: the checks alone, streaming)
    pfx.importing.import_bundle(path, profile=None, ...) -> ImportResult
        plan against a destination and replay; `.report` says what happened to each record
    pfx.diffing.diff_sources(left=None, right=None, profile=None, ...) -> Diff
        what differs between two sides, each a bundle or a live server (left_profile=...)
    pfx.cutover.cutover(report, profile=None, ...) -> CutoverResult
        turn on what `import --standby` held back
    pfx.render.files.render_to(directory, bundle=None, profile=None, ...) -> RenderResult
        the configuration as code: prefect.yaml, automations.yaml, prefect-setup.sh
    pfx.repository.backing.backup(repository, profile=None, ...) -> BackupResult
        a snapshot into a backup repository, then its retention
"""

from __future__ import annotations

__version__ = "0.3.0"

__all__ = ["__version__"]
