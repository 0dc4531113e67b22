# Every install step lives here: a fresh machine with Python 3.11 needs only `make demo` / `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
N ?= 200

.PHONY: install demo test lint schemas bench bench-deps clean

$(BIN)/pfx: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,server]"
	@touch $(BIN)/pfx

install: $(BIN)/pfx

demo: install
	$(BIN)/python -m fixtures.demo

test: install
	$(BIN)/ruff check pfx tests fixtures bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile

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

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
