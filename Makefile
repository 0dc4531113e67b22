# Every install step lives here: a fresh machine with Python 3.11 needs only `make demo` / `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
N ?= 200

.PHONY: install demo test lint schemas bench bench-deps compat releases test-releases trust clean

$(BIN)/pfx: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,server]"
	@touch $(BIN)/pfx

install: $(BIN)/pfx

demo: install
	$(BIN)/python -m fixtures.demo

# Other Prefect releases' servers, one cached virtualenv each ($$PFX_RELEASES_CACHE, else
# ~/.cache/pfx/releases); installed once, minutes each. `make test` needs 3.4 and 3.9, and
# the client virtualenv of Prefect 3.9.1 with pfx pip-installed beside it ($$PFX_CLIENTS_CACHE).
test-releases: install
	$(BIN)/python -m fixtures.releases 3.4 3.9
	$(BIN)/python -m fixtures.clients 3.9

releases: install
	$(BIN)/python -m fixtures.releases
	$(BIN)/python -m fixtures.clients

test: install test-releases
	$(BIN)/ruff check pfx tests fixtures bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not compat"

lint: install
	$(BIN)/ruff check pfx tests fixtures bench
	$(BIN)/ruff format --check pfx tests fixtures bench
	$(BIN)/mypy

schemas: install
	$(BIN)/python -m pfx.schemagen schemas

# PostgreSQL (Debian's packages) for the benchmark's second destination backend.
bench-deps:
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		{ apt-get update -q && apt-get install -y -q postgresql; }

bench: install bench-deps
	$(BIN)/python -m bench.run --deployments $(N)
	$(BIN)/python -m bench.backups --deployments $(N)

# Every supported cross-release pair end to end, then each client release (3.6-3.9) with pfx
# pip-installed beside it; the newest Prefect on the package index; table and findings in
# compat-results/.
compat: releases
	$(BIN)/python -m pytest -n 2 --dist loadfile -m compat
	$(BIN)/python -m fixtures.compat --out compat-results

# Lost answers, resets, 503s and a destination killed mid-import; census equal at the end.
trust: install
	$(BIN)/python -m fixtures.trust_run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
