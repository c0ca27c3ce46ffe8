# The two commands every new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# axe-core for the accessibility test (tests/browser/test_accessibility.py), from npm into var/
# (git-ignored, never committed). Without npm the test skips locally; .ci/run installs npm.
AXE_CORE_VERSION := 4.10.3
AXE := var/axe/node_modules/axe-core/axe.min.js

.PHONY: run test bench lint format migrations-check clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

$(AXE): Makefile
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --no-save --no-package-lock --no-audit --no-fund --prefix var/axe axe-core@$(AXE_CORE_VERSION) \
	  && touch $@; \
	else echo "npm not found: tests/browser/test_accessibility.py (axe-core) will be skipped"; fi

run: $(VENV)/.installed
	$(PY) bin/run.py

test: $(VENV)/.installed-dev $(AXE)
	DEBUG=True $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(PY) bench/run.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var/static
