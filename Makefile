# Lead Router — `make help` lists the targets. Every target sets up its own virtualenv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements-dev.txt | cut -d' ' -f1)
CHROMIUM_PATH ?= /usr/bin/chromium
CODE := app.py cli.py api service graph domain tools offline tests infra/make_samples.py

.DEFAULT_GOAL := help
.PHONY: help install browser demo test screenshots lint typecheck check serve worker bench lock samples clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is needed (set PYTHON=python3.12 or similar)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv and install the pinned dependencies

demo: $(STAMP) ## Run the sample leads through the service on embedded defaults and print the outcome
	$(PY) cli.py demo

browser: ## Install Debian's Chromium for the browser tests when it is missing (apt-get)
	@if [ -x "$(CHROMIUM_PATH)" ]; then \
		echo "browser tests: Chromium at $(CHROMIUM_PATH)"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "browser tests: no $(CHROMIUM_PATH) and no apt-get; install Chromium and set CHROMIUM_PATH"; \
	else \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
		echo "browser tests: installing Debian's chromium package (apt-get install chromium)"; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium \
			|| echo "browser tests: could not install chromium; they skip (and fail under CI=true)"; \
	fi

test: $(STAMP) browser ## Run every test (Redis/PostgreSQL/Chromium tests fail, not skip, under CI=true)
	CHROMIUM_PATH=$(CHROMIUM_PATH) $(PY) -m pytest -q -ra

screenshots: $(STAMP) browser ## Retake the console screenshots the README shows (docs/screenshots)
	CHROMIUM_PATH=$(CHROMIUM_PATH) SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -q tests/browser -k screenshots

lint: $(STAMP) ## ruff check, ruff format --check and the layer contract (lint-imports)
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP) ## mypy on app.py, cli.py and every layer
	$(VENV)/bin/mypy

check: lint typecheck test ## Everything CI runs

serve: $(STAMP) ## Run the API on 127.0.0.1:8000 (PORT, HOST to change)
	$(PY) cli.py serve

worker: $(STAMP) ## Run a queue worker (needs QUEUE_URL)
	$(PY) cli.py worker

bench: $(STAMP) ## Measure the service beside its baselines (about 10 minutes; `cli.py bench --quick`: 1)
	$(PY) cli.py bench --compare docs/bench/last-full-run.json

lock: ## Recompile requirements.txt and requirements-dev.txt from pyproject.toml
	@test -x $(VENV)/bin/uv || { $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q uv; }
	$(VENV)/bin/uv pip compile -q pyproject.toml -o requirements.txt
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev -o requirements-dev.txt

samples: $(STAMP) ## Regenerate the synthetic sample accounts and leads
	$(PY) infra/make_samples.py

clean: ## Remove the virtualenv, caches and local data
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
