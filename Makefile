# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# PostgreSQL for the second run of the suite; skipped when unreachable unless
# REQUIRE_POSTGRES=1 (CI sets it).
PG_URL ?= postgres://postgres:postgres@127.0.0.1:5432/verify_lti
DEMO_ADDR ?= 127.0.0.1:8000

.PHONY: load bench test lint check-migrations typecheck test-sqlite test-postgres demo browser-test clean stack stack-stop stack-test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

test: lint check-migrations typecheck test-sqlite test-postgres

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-migrations: $(STAMP)
	$(BIN)/python manage.py makemigrations --check --dry-run

typecheck: $(STAMP)
	$(BIN)/mypy verify_student lti_provider

test-sqlite: $(STAMP)
	env -u DATABASE_URL $(BIN)/pytest -q $(PYTEST_ARGS)

test-postgres: $(STAMP)
	@if $(BIN)/python -c "import psycopg, sys; psycopg.connect(sys.argv[1].rsplit('/', 1)[0] + '/postgres', connect_timeout=3).close()" "$(PG_URL)" 2>/dev/null; then \
		echo "== the suite on PostgreSQL ($(PG_URL))"; \
		DATABASE_URL="$(PG_URL)" $(BIN)/pytest -q $(PYTEST_ARGS); \
	elif [ "$(REQUIRE_POSTGRES)" = "1" ]; then \
		echo "PostgreSQL is required but not reachable at $(PG_URL)"; exit 1; \
	else \
		echo "== PostgreSQL not reachable at $(PG_URL): its run is skipped (set PG_URL to run it)"; \
	fi

# The demo needs only the package itself (no test tools): a quicker first start.
DEMO_STAMP := $(VENV)/.installed-demo
DEMO_ENV := DJANGO_SETTINGS_MODULE=demo.settings DEMO_SITE_NAME=$(DEMO_ADDR)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	@mkdir -p .demo
	@$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput -v 0
	@$(DEMO_ENV) $(BIN)/python manage.py seed_demo --url http://$(DEMO_ADDR)/
	@echo "== serving on http://$(DEMO_ADDR)/  (Ctrl-C stops it)"
	@$(DEMO_ENV) exec $(BIN)/python manage.py runserver --noreload --insecure $(DEMO_ADDR)

# The browser tests alone (Debian's chromium at /usr/bin/chromium; `make test` runs them too).
browser-test: $(STAMP)
	env -u DATABASE_URL $(BIN)/pytest -q -m browser tests/browser $(PYTEST_ARGS)

clean:
	rm -rf .demo build *.egg-info .mypy_cache .ruff_cache

# The scale-out profile (issue 9, docs/SCALING.md): PostgreSQL, Redis, moto's S3 server,
# two gunicorn web servers (2 workers each), the reviewer stand-in and a Celery worker,
# all on 127.0.0.1, pids and logs under .stack/. `make stack-stop` ends them all.
STACK_STAMP := $(VENV)/.installed-stack

$(STACK_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,stack]"
	touch $(STACK_STAMP)

stack: $(STACK_STAMP)
	$(BIN)/python -m stack.run start

# The end-to-end tests against the running stack; fails (does not skip) when it is down.
stack-test: $(STACK_STAMP)
	@$(BIN)/python -m stack.run status >/dev/null || { echo "the stack is not (fully) up: make stack"; $(BIN)/python -m stack.run status; exit 1; }
	STACK_URL=$$($(BIN)/python -m stack.run url) $(BIN)/pytest -q -m stack tests/stack $(PYTEST_ARGS)

stack-stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m stack.run stop; fi

# The performance bars of issue 7 (ratios measured side by side; never part of `make test`).
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/python -m benchmarks

# Issue 8's load run: 2,000 signed launches + 2,000 signed callbacks at concurrency 16
# against gunicorn on 127.0.0.1 with PostgreSQL (a fresh database next to PG_URL's).
load: $(STAMP)
	PG_URL="$(PG_URL)" $(BIN)/python tests/load/load.py
