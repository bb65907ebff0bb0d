# Every target sets up its own virtualenv from the requirements files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
# checkov lives in a virtualenv of its own so its pins never constrain the project's; so does pip-audit.
CHECKOV_VENV := .venv-checkov
AUDIT_VENV := .venv-audit
# Every install is from a lock compiled by `make lock`: exact versions, each file checked against its hash,
# wheels only so no build step fetches unhashed build tools, and no resolving (the lock is complete, and
# pip before 23.3 rejects a hashed lock whose packages ask for extras); `pip check` then proves it consistent.
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary=:all: --no-deps

.PHONY: run demo test lint typecheck unit bench bench-smoke clean lock audit

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r requirements-dev.txt
	$(PY) -m pip check --quiet
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r requirements-checkov.txt
	$(CHECKOV_VENV)/bin/python -m pip check --quiet
	touch $@

$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python $(PIP_INSTALL) -r requirements-audit.txt
	$(AUDIT_VENV)/bin/python -m pip check --quiet
	touch $@

## make lock: recompile every requirements*.txt from its requirements*.in (UPGRADE="name ..." lets those move)
lock: $(VENV)/.installed
	$(PY) -m tools.locks compile $(addprefix --upgrade-package=,$(UPGRADE))

## make audit: pip-audit over every lock; needs its vulnerability service (PyPI's JSON API), so not in make test
audit: $(AUDIT_VENV)/.installed
	@status=0; for lock in requirements*.txt; do echo "pip-audit $$lock"; \
		$(AUDIT_VENV)/bin/pip-audit --strict --progress-spinner off --disable-pip --require-hashes -r $$lock || status=1; \
	done; exit $$status

## make run: the function on localhost:$(PORT); archives to ./archive unless ARCHIVE_URI says otherwise
run: $(VENV)/.installed
	@test -f .env || echo "make run: no .env here; copy .env.example to .env and fill it in (or try: make demo)"
	$(if $(wildcard .env),$(VENV)/bin/dotenv -f .env run --no-override --) $(PY) -m functions_framework --target archive_recording --host 127.0.0.1 --port $(PORT)

## make demo: the whole flow on this machine against a simulated space; exits 0 only on byte-identical audio
demo: $(VENV)/.installed
	$(PY) -m demo.run

## make test: lint + type check + every test
test: lint typecheck unit

lint: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m tools.locks check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -recursive infra"; TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infra; \
	else echo "terraform fmt: skipped, no terraform binary on PATH (install Terraform >= 1.5 to check formatting)"; fi
	$(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --skip-download --quiet --compact

typecheck: $(VENV)/.installed
	$(PY) -m mypy archiver main.py tests bench demo

unit: $(VENV)/.installed
	$(PY) -m pytest

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) $(PIP_INSTALL) -r requirements-bench.txt
	$(PY) -m pip check --quiet
	touch $@

## make bench: memory, throughput, request economy, cold start, concurrency -> bench/results.{json,png}
bench: $(VENV)/.bench-installed
	$(PY) -m bench.run

## make bench-smoke: the same run on small sizes, no figures recorded (CI)
bench-smoke: $(VENV)/.installed
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(AUDIT_VENV) .mypy_cache .ruff_cache .pytest_cache infra/.build
