# Every target sets up its own virtualenv from the requirements files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080

.PHONY: run test lint typecheck unit bench bench-smoke clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## make run: the function on localhost:$(PORT); archives to ./archive unless ARCHIVE_URI says otherwise
run: $(VENV)/.installed
	@test -f .env || echo "make run: no .env here; copy .env.example to .env and fill it in (or try: make demo)"
	$(if $(wildcard .env),$(VENV)/bin/dotenv -f .env run --no-override --) $(PY) -m functions_framework --target archive_recording --host 127.0.0.1 --port $(PORT)

## make test: lint + type check + every test
test: lint typecheck unit

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed
	$(PY) -m mypy archiver main.py tests bench

unit: $(VENV)/.installed
	$(PY) -m pytest

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

## make bench: memory, throughput, request economy, cold start, concurrency -> bench/results.{json,png}
bench: $(VENV)/.bench-installed
	$(PY) -m bench.run

## make bench-smoke: the same run on small sizes, no figures recorded (CI)
bench-smoke: $(VENV)/.installed
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
