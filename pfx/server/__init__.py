"""The shell around a Prefect server: the one HTTP seam (api.py) and what rides on it."""
