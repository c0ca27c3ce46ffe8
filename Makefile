# The two commands every new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# axe-core for the accessibility test (tests/browser/test_accessibility.py), from npm into var/
# (git-ignored, never committed). Without npm the test skips locally; .ci/run installs npm.
AXE_CORE_VERSION := 4.10.3
AXE := var/axe/node_modules/axe-core/axe.min.js
# Atlassian's own status widget for tests/browser/test_statuspage_clients.py, the same way.
STATUS_WIDGET_VERSION := 1.0.5
STATUS_WIDGET := var/statuspage-widget/node_modules/@statuspage/status-widget/dist/index.js

.PHONY: run test bench stress lint format migrations-check clean

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

$(STATUS_WIDGET): Makefile
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --no-save --no-package-lock --no-audit --no-fund --prefix var/statuspage-widget @statuspage/status-widget@$(STATUS_WIDGET_VERSION) \
	  && touch $@; \
	else echo "npm not found: tests/browser/test_statuspage_clients.py (the status widget) will be skipped"; fi

run: $(VENV)/.installed
	$(PY) bin/run.py

# The real OpenID provider of the SSO tests (tests/oidc_provider.py), when npm is there; without
# it those tests skip (and fail in CI, which installs Node).
tests/oidc/node_modules/.package-lock.json: tests/oidc/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the SSO tests will be skipped (apt-get install nodejs npm)"; fi

test: $(VENV)/.installed-dev tests/oidc/node_modules/.package-lock.json $(AXE) $(STATUS_WIDGET)
	DEBUG=True $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(PY) bench/run.py

# Load and fault runs on loopback with their own PostgreSQL and Redis (docs/operations.md);
# about 5 minutes of runs plus setup, `make stress QUICK=1` shorter.
stress: $(VENV)/.installed-dev
	$(PY) bench/stress.py $(if $(QUICK),--quick)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var/static
