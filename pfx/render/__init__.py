"""Rendering records as code: prefect.yaml, automations.yaml and prefect-setup.sh.

core.py         select records and ask each part for its files (pure)
deployments.py  prefect.yaml; automations.py: triggers and automations.yaml
commands.py     prefect-setup.sh; settings.py: server settings in it
yamltext.py     YAML text; files.py: read a bundle or server, write the files
"""

from pfx.render.core import Omission, Rendering, render

__all__ = ["Omission", "Rendering", "render"]
