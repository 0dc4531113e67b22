"""Rendering records as code: prefect.yaml, automations.yaml and the setup files.

model.py        what a rendering is (files, omissions), shared by every part
core.py         select records and ask each part for its files (pure)
deployments.py  prefect.yaml; automations.py: triggers and automations.yaml;
                templates.py: what `prefect deploy` would resolve
commands.py     the setup files: script.py (prefect-setup.sh as a structure),
                requests.py (prefect-setup.json), blocks.py, pools.py, settings.py
setup_api.py    the setup client, written out as prefect-setup.py
yamltext.py     YAML text; files.py: read a bundle or server, write the files
"""

from pfx.render.core import render
from pfx.render.model import Omission, Rendering

__all__ = ["Omission", "Rendering", "render"]
