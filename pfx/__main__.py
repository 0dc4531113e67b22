"""`python -m pfx` runs the command line."""

from pfx.cli import main

main()
