# healthmap — the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE  ?= 0.05
SEED   ?= 0
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint typecheck bench install frontend fonts clean help

help:
	@echo "make demo      - install, generate the sample county, ingest, build, serve on :8000"
	@echo "make test      - lint, type-check and run the whole test suite (SQLite and PostGIS)"
	@echo "make test-fast - the unit tests on SQLite only (no slow or browser test, no lint)"
	@echo "make lint      - ruff check, ruff format --check and the import-linter layer contracts"
	@echo "make bench     - scale-1.0 benchmarks, written to BENCHMARKS.md"

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

# Server-side maps and the PDF report draw Chinese: Debian's Noto CJK font (the intranet
# has no font server). Installed when missing and apt-get can (root); said otherwise.
fonts:
	@fc-list :lang=zh family 2>/dev/null | grep -q . || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -qq fonts-noto-cjk >/dev/null || { apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null; }; \
	  else echo "warning: no CJK font; install Debian's fonts-noto-cjk (Chinese in maps and reports)"; fi; }

# Regenerates the county when SCALE, SEED or the date differ from the one in var/.
demo: $(STAMP) frontend fonts
	$(BIN)/healthmap demo --scale $(SCALE) --seed $(SEED)

# The layers (healthmap > service > pipelines > store > geo): [tool.importlinter] in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check geo store pipelines service healthmap
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy geo store pipelines service healthmap

test: $(STAMP) frontend lint typecheck
	HEALTHMAP_TEST_BACKENDS=sqlite,postgis $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The quick loop while editing: no lint, no front-end build, no PostGIS; everything it
# leaves out (slow and browser tests, the PostGIS runs) is run by make test and by CI.
test-fast: $(STAMP)
	HEALTHMAP_TEST_BACKENDS=sqlite $(BIN)/python -m pytest -q -m "not slow and not browser" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
