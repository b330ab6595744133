# tunix-rt developer interface: make run | make test | make lint | make bench
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_DIST := src/tunix_rt/web/dist
WEB_STAMP := $(WEB_DIST)/index.html
WEB_SCHEMA := web/openapi.json
WEB_API_TYPES := web/src/api/schema.d.ts
WEB_SOURCES := $(filter-out $(WEB_API_TYPES),$(shell find web/src web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json -type f 2>/dev/null))
# The server code the OpenAPI schema comes from (routes and the schema modules they use).
WEB_SERVER_SOURCES := $(shell find src/tunix_rt -name '*.py' -not -path '*/web/*' 2>/dev/null)
CHROMIUM ?= /usr/bin/chromium
# Two processes, each test file on one of them (module fixtures and servers stay per file):
# most tests wait on servers, children and databases, so two processes fit two cores.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run test lint format bench web install chromium clean test-py test-web

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

install: $(STAMP)

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

# The UI's API types are generated from the server's OpenAPI schema on every build (both
# git-ignored): a server change that the UI's code does not follow fails tsc, so `make web`
# and `make test` fail instead of the browser.
$(WEB_STAMP): web/node_modules/.package-lock.json $(STAMP) $(WEB_SOURCES) $(WEB_SERVER_SOURCES)
	$(BIN)/python -m tunix_rt.api.openapi_dump $(WEB_SCHEMA)
	cd web && npm run gen:api && npm run build

web: $(WEB_STAMP)

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || { echo "cannot install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

run: install web
	$(BIN)/tunix-rt serve --demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test-py: install web chromium
	$(BIN)/pytest $(PYTEST_ARGS)

test-web: web
	cd web && npm test

test: lint test-web test-py

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(WEB_DIST) web/node_modules .pytest_cache .mypy_cache .ruff_cache
