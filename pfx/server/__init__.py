"""The shell around a Prefect server: api.py is the one HTTP seam (answers.py says what an
answer means, pace.py how many writes fly, csrf.py the token); reading.py is the read phase."""
