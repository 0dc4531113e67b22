"""Backup repositories: snapshots of one Prefect server, their index, retention and history.

Pure parts: model.py (the repository's objects), retention.py, reference.py, hashes.py,
hashfile.py, history.py and text.py (what the commands print). The shell: store.py (the only
module that talks to a storage location, through fsspec), repo.py (the repository on a
store), and the pipelines backing.py (backup, forget), checking.py (check), logbook.py (log)
and fetching.py (a snapshot reference -> a local bundle). The layout and its rules are
specified in schemas/REPOSITORY.md.
"""
