# Every target sets up its own virtualenv from the requirements files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080

.PHONY: run test lint typecheck unit clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## make run: the function on localhost:$(PORT); archives to ./archive unless ARCHIVE_URI says otherwise
run: $(VENV)/.installed
	$(PY) -m functions_framework --target archive_recording --host 127.0.0.1 --port $(PORT)

## make test: lint + type check + every test
test: lint typecheck unit

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed
	$(PY) -m mypy archiver main.py tests

unit: $(VENV)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
