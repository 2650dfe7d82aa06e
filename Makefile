# healthmap — the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE  ?= 0.05
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench install frontend clean help

help:
	@echo "make demo   - install, generate the sample county, ingest, build, serve on :8000"
	@echo "make test   - lint, type-check and run the whole test suite (SQLite and PostGIS)"
	@echo "make bench  - scale-1.0 benchmarks, written to BENCHMARKS.md"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The web map and the phone page: built from npm at build time, shipped in service/static.
FRONTEND_STAMP := service/static/.built
$(FRONTEND_STAMP): $(shell find frontend -path frontend/node_modules -prune -o -type f -print 2>/dev/null)
	cd frontend && npm ci --no-audit --no-fund && npm run build
	touch $(FRONTEND_STAMP)

frontend: $(FRONTEND_STAMP)

demo: $(STAMP) frontend
	$(BIN)/healthmap demo --scale $(SCALE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check geo store pipelines service healthmap

typecheck: $(STAMP)
	$(BIN)/mypy geo store pipelines service healthmap

test: $(STAMP) frontend lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
