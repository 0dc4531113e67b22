"""pfx: move the whole configuration of a Prefect 3 environment through one verifiable file.

The library API (the CLI is a thin client of it):

    export_bundle(profile, path, ...)   read every resource of a profile into a bundle file
    read_bundle(path)                   decode and verify a bundle file -> Bundle
    import_bundle(path, profile, ...)   plan against a destination and replay -> Report
"""

from __future__ import annotations

__version__ = "0.3.0"
