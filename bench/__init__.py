"""`make bench`: pfx against `prefect transfer` and the destination's write floor (README.md)."""
