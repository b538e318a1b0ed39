# `make run` sets up and starts the server; `make test` sets up and runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit schema bench clean console

# The web console (web/): `npm ci` when the lock file changes, a build when a source does.
WEB_DEPS := web/node_modules/.ci-stamp
WEB_BUILD := web/dist/.build-stamp
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/package.json

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		(echo "modelrepo needs Python 3.11 or newer as $(PYTHON)" >&2; exit 1)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(WEB_DEPS): web/package-lock.json
	@command -v npm >/dev/null || bash scripts/ensure-browser.sh
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_DEPS)

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run --silent build
	touch $(WEB_BUILD)

console: $(WEB_BUILD)

run: $(STAMP) $(WEB_BUILD)
	bash scripts/ensure-sandbox.sh
	$(VENV)/bin/modelrepo serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) lint typecheck
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-browser.sh
	bash scripts/ensure-sandbox.sh
	$(MAKE) --no-print-directory console
	$(VENV)/bin/pytest -q -p no:cacheprovider

schema: $(STAMP)
	$(VENV)/bin/modelrepo export-schema > schema.graphql

bench: $(STAMP)
	$(PY) bench/registry.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
