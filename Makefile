# kefu — `make serve` and `make test` bootstrap everything on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY_WANT := $(shell cat .python-version 2>/dev/null)
# pyenv (if present) honours .python-version; otherwise any python3.12/3.13 on PATH.
PYTHON ?= $(shell (command -v pyenv >/dev/null && pyenv which python 2>/dev/null) || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/0
# Apache ECharts for the report charts: from npm with frontend/package-lock.json, copied
# into the package's static files (not committed; served by Django, never from a CDN).
VENDOR := src/kefu/static/kefu/vendor
ECHARTS := $(VENDOR)/echarts.min.js

.PHONY: help setup python-check system-deps services serve test lint typecheck test-sqlite test-postgres bench clean

help:
	@echo "make serve   set up and serve the desk on http://127.0.0.1:8000 (SQLite)"
	@echo "make test    set up and run the whole suite (SQLite, then PostgreSQL + Redis)"

python-check:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || { \
	  echo "kefu needs Python >= 3.12 (Django 6); found $$($(PYTHON) --version 2>&1) at $(PYTHON)."; \
	  echo "Install 3.12+ (e.g. 'pyenv install $(PY_WANT)') or run 'make PYTHON=/path/to/python3.12 ...'."; \
	  exit 1; }

$(BIN)/.installed: pyproject.toml | python-check
	@test -x $(BIN)/python && $(BIN)/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# Chromium and CJK fonts for the browser tests and screenshots, nginx for the test of two
# processes behind the shipped proxy config (tests/realtime/test_behind_nginx.py); each
# installed only when missing. (`nginx`, which every Debian and Ubuntu release has.
# On a machine run by systemd the package also starts nginx's default site on port 80:
# `systemctl disable --now nginx` if unwanted; the test starts its own nginx.)
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Rebuilt only when the lockfile or package.json is newer than the copy.
$(ECHARTS): frontend/package.json frontend/package-lock.json
	@command -v npm >/dev/null || { echo "kefu's report charts need Node.js (>= 18) and npm: Apache ECharts is installed from frontend/package-lock.json"; exit 1; }
	cd frontend && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@mkdir -p $(VENDOR)
	cp frontend/node_modules/echarts/LICENSE $(VENDOR)/echarts.LICENSE.txt
	cp frontend/node_modules/echarts/dist/echarts.min.js $@.tmp && mv $@.tmp $@

setup: python-check $(BIN)/.installed $(ECHARTS)

# PostgreSQL and Redis on this machine; start them if they are down.
services:
	@pg_isready -h 127.0.0.1 -p 5432 -q || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && redis-cli ping >/dev/null 2>&1 && exit 0; sleep 1; done; echo "PostgreSQL/Redis did not come up"; exit 1

serve: setup
	$(BIN)/kefu migrate --no-input
	@if [ ! -f var/.demo-loaded ]; then $(BIN)/kefu demo && touch var/.demo-loaded; fi
	$(BIN)/kefu serve --host 127.0.0.1 --port 8000

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy

# Two pytest-xdist workers, one test module each at a time: module-scoped fixtures (servers,
# the permission-matrix world) are built once. Each worker has its own test database and
# Redis key prefix (tests/conftest.py). XDIST= runs in one process.
XDIST ?= -n 2 --dist loadfile
# The slowest tests are printed at the end of each run, to keep the suite within its time.
DURATIONS ?= --durations=20

test-sqlite: setup system-deps
	$(BIN)/pytest -p no:cacheprovider -q $(XDIST) $(DURATIONS)

# Storage and realtime tests again on PostgreSQL with the Redis channel layer: services, the
# API, sockets, the worker, concurrency. What does not depend on the engine runs on SQLite
# only: browser tests, page rendering (test_views, test_pages), the NLP library, rule
# tables, the permission matrix, fuzzing, the odd-input page crawl and the demo build; and the PostgreSQL and Redis
# restart tests, which start servers of their own whatever the run (tests/reliability).
PG_SKIP := -m "not browser" --ignore=tests/nlp --ignore=tests/quality/test_rules.py \
	--ignore=tests/reliability/test_postgres_restart.py --ignore=tests/reliability/test_redis_restart.py \
	--ignore=tests/quality/test_rulesets.py --ignore=tests/test_permission_matrix.py \
	--ignore=tests/api/test_fuzz.py --ignore=tests/demo --ignore=tests/test_pages_odd_input.py \
	--ignore-glob='tests/*/test_views.py' --ignore-glob='tests/*/test_pages.py'
test-postgres: setup services
	KEFU_DATABASE_URL=$(PG_URL) KEFU_REDIS_URL=$(REDIS_URL) $(BIN)/pytest -p no:cacheprovider -q $(XDIST) $(DURATIONS) $(PG_SKIP)

test: setup system-deps services lint typecheck test-sqlite test-postgres

bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var/test-* frontend/node_modules $(VENDOR)
