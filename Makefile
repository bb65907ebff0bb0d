# Every target sets up its own virtualenv from the requirements files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
# checkov lives in a virtualenv of its own so its pins never constrain the project's.
CHECKOV_VENV := .venv-checkov
# gcloud-tasks-emulator pins protobuf < 5: its own virtualenv too; tests and the bench start it from there.
TASKS_VENV := .venv-tasks

.PHONY: run demo test lint typecheck unit bench bench-smoke clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(TASKS_VENV)/.installed: requirements-tasks-emulator.txt
	$(PYTHON) -m venv $(TASKS_VENV)
	$(TASKS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-tasks-emulator.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

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
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -recursive infra"; TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infra; \
	else echo "terraform fmt: skipped, no terraform binary on PATH (install Terraform >= 1.5 to check formatting)"; fi
	$(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --skip-download --quiet --compact

typecheck: $(VENV)/.installed
	$(PY) -m mypy archiver main.py tests bench demo

unit: $(VENV)/.installed $(TASKS_VENV)/.installed
	$(PY) -m pytest

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

## make bench: memory, throughput, request economy, cold start, concurrency -> bench/results.{json,png}
bench: $(VENV)/.bench-installed $(TASKS_VENV)/.installed
	$(PY) -m bench.run

## make bench-smoke: the same run on small sizes, no figures recorded (CI)
bench-smoke: $(VENV)/.installed $(TASKS_VENV)/.installed
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(TASKS_VENV) .mypy_cache .ruff_cache .pytest_cache infra/.build
