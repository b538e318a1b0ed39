# `make run` sets up and starts the server; `make test` sets up and runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The lock files (`make lock` writes them from pyproject.toml): runtime.txt is what running
# needs, dev.txt adds the tests' and linters' packages at the same versions.
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
# pip itself, and pip-tools for `make lock` (in a venv of its own, inside .venv)
PIP_VERSION := 26.3
PIP_TOOLS_VERSION := 7.6.2
# (twice quiet: only errors; once, pip warns about every package missing from the
# machine's local extra indexes)
PIP_INSTALL := $(PY) -m pip install --quiet --quiet --disable-pip-version-check
LOCK_VENV := $(VENV)/lock-tools
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet \
	--strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

.PHONY: run test lint typecheck unit schema bench clean console lock

# The web console (web/): `npm ci` when the lock file changes, a build when a source does.
WEB_DEPS := web/node_modules/.ci-stamp
WEB_BUILD := web/dist/.build-stamp
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/package.json

# Only what running needs: the runtime lock, then the project itself without resolving
# anything more. scripts/check_lock.py fails first when pyproject.toml asks for what the
# lock lacks (run `make lock`); `pip check` after, when the installed set is inconsistent.
$(RUNTIME_STAMP): $(RUNTIME_LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		(echo "modelrepo needs Python 3.11 or newer as $(PYTHON)" >&2; exit 1)
	@$(PYTHON) scripts/check_lock.py $(RUNTIME_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) 'pip==$(PIP_VERSION)'
	$(PIP_INSTALL) -r $(RUNTIME_LOCK)
	$(PIP_INSTALL) --no-deps -e .
	@$(PY) -m pip check --disable-pip-version-check >/dev/null || $(PY) -m pip check
	touch $(RUNTIME_STAMP)

# Everything the tests and linters need: the dev lock over the runtime one.
$(STAMP): $(RUNTIME_STAMP) $(DEV_LOCK)
	@$(PYTHON) scripts/check_lock.py $(DEV_LOCK) dev
	$(PIP_INSTALL) -r $(DEV_LOCK)
	@$(PY) -m pip check --disable-pip-version-check >/dev/null || $(PY) -m pip check
	touch $(STAMP)

# Resolves pyproject.toml again into the lock files, keeping each locked version that still
# fits (UPGRADE=1 takes the newest versions its ranges allow). The runtime lock is
# constrained by the dev lock so both agree. torch comes from this machine's disk (pip's
# find-links); pip-compile sees what pip sees, so the lock is made with pip, not uv.
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || ( $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/pip install --quiet --quiet 'pip==$(PIP_VERSION)' && \
		$(LOCK_VENV)/bin/pip install --quiet --quiet 'pip-tools==$(PIP_TOOLS_VERSION)' )
	mkdir -p requirements
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --extra dev --output-file $(DEV_LOCK) pyproject.toml
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --constraint $(DEV_LOCK) --output-file $(RUNTIME_LOCK) pyproject.toml
	@! grep -E '^(nvidia-|triton==)' $(DEV_LOCK) $(RUNTIME_LOCK) || \
		(echo "the lock pulls CUDA packages: torch must stay the local CPU build (torch==2.13.0)" >&2; exit 1)
	@$(PYTHON) scripts/check_lock.py $(DEV_LOCK) dev && $(PYTHON) scripts/check_lock.py $(RUNTIME_LOCK)

$(WEB_DEPS): web/package-lock.json
	@command -v npm >/dev/null || bash scripts/ensure-browser.sh
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_DEPS)

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run --silent build
	touch $(WEB_BUILD)

console: $(WEB_BUILD)

run: $(RUNTIME_STAMP) $(WEB_BUILD)
	bash scripts/ensure-sandbox.sh
	$(VENV)/bin/modelrepo serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@out=$$($(VENV)/bin/lint-imports --no-cache 2>&1) || { echo "$$out"; exit 1; }; \
		echo "lint-imports: $$(echo "$$out" | tail -n 1)"

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
