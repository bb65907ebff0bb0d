# Every target sets up its own virtualenv from the requirements files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
# checkov lives in a virtualenv of its own so its pins never constrain the project's; so do pip-audit and
# the Terraform schema checker (with the provider schemas it extracts, a few MB, cached).
CHECKOV_VENV := .venv-checkov
AUDIT_VENV := .venv-audit
TFSCHEMA_VENV := .venv-tfschema
# gcloud-tasks-emulator pins protobuf < 5: its own virtualenv too; tests and the bench start it from there.
TASKS_VENV := .venv-tasks
TF_DATA := $(CURDIR)/$(TFSCHEMA_VENV)/terraform
# Every install is from a lock compiled by `make lock`: exact versions, each file checked against its hash,
# wheels only so no build step fetches unhashed build tools, and no resolving (the lock is complete, and
# pip before 23.3 rejects a hashed lock whose packages ask for extras); `pip check` then proves it consistent.
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary=:all: --no-deps

.PHONY: run space callback demo test lint tf-validate typecheck unit bench bench-smoke clean lock audit

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

# The providers' schemas come from the pinned CDK for Terraform binding packages (npm), verified
# against their recorded integrity; only the extracted schema is kept.
$(TASKS_VENV)/.installed: requirements-tasks-emulator.txt
	$(PYTHON) -m venv $(TASKS_VENV)
	$(TASKS_VENV)/bin/python $(PIP_INSTALL) -r requirements-tasks-emulator.txt
	$(TASKS_VENV)/bin/python -m pip check --quiet
	touch $@

$(TFSCHEMA_VENV)/.installed: requirements-tfschema.txt tools/tfschema/pins.py tools/tfschema/extract.py
	$(PYTHON) -m venv $(TFSCHEMA_VENV)
	$(TFSCHEMA_VENV)/bin/python $(PIP_INSTALL) -r requirements-tfschema.txt
	$(TFSCHEMA_VENV)/bin/python -m pip check --quiet
	$(TFSCHEMA_VENV)/bin/python -m tools.tfschema install $(TFSCHEMA_VENV)/schemas
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

## make run: the function on localhost:$(PORT); archives to ./archive unless ARCHIVE_URI says otherwise.
## `python -m archiver` reads .env itself, with the one rule: variables already exported win over .env.
run: $(VENV)/.installed
	@test -f .env || echo "make run: no .env here; copy .env.example to .env and fill it in (or try: make demo)"
	@$(PY) -m archiver serve --port $(PORT)

## make space: a SignalWire space on this machine (port 8089) serving the demo recording; prints the .env lines
space: $(VENV)/.installed
	$(PY) -m localspace

## make callback SID=…: a signed recording status callback (STATUS=completed) to make run's function
callback: $(VENV)/.installed
	@test -n "$(SID)" || { echo "make callback: say which recording, e.g. make callback SID=5c0ffee0-1ab5-4c4e-8a1e-0000000000d0"; exit 2; }
	@$(PY) -m archiver send-callback $(SID) --status $(or $(STATUS),completed) --to http://127.0.0.1:$(PORT)/

## make demo: the whole flow on this machine against a simulated space; exits 0 only on byte-identical audio
demo: $(VENV)/.installed
	$(PY) -m demo.run

## make test: lint + type check + every test
test: lint typecheck unit

lint: $(VENV)/.installed $(CHECKOV_VENV)/.installed $(TFSCHEMA_VENV)/.installed
	$(PY) -m tools.locks check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -recursive infra"; TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infra; \
	else echo "terraform fmt: skipped, no terraform binary on PATH (install Terraform >= 1.11 to check formatting)"; fi
	$(TFSCHEMA_VENV)/bin/python -m tools.tfschema check infra --schemas $(TFSCHEMA_VENV)/schemas
	@$(MAKE) --no-print-directory tf-validate
	$(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --skip-download --quiet --compact

## make tf-validate: `terraform validate` where the providers can be installed, one skip line where not
tf-validate:
	@mkdir -p $(TFSCHEMA_VENV)
	@if ! command -v terraform >/dev/null 2>&1; then \
		echo "terraform validate: skipped, no terraform binary on PATH"; \
	elif TF_DATA_DIR=$(TF_DATA) terraform -chdir=infra init -backend=false -input=false -no-color >$(TFSCHEMA_VENV)/terraform-init.log 2>&1; then \
		echo "terraform validate"; TF_DATA_DIR=$(TF_DATA) terraform -chdir=infra validate -no-color; \
	else echo "terraform validate: skipped, providers cannot be installed here (terraform init failed, see $(TFSCHEMA_VENV)/terraform-init.log)"; fi

typecheck: $(VENV)/.installed
	$(PY) -m mypy archiver main.py tests bench demo tools localspace

# The schema checker's test runs it from its own virtualenv; the queued-mode tests start the Cloud Tasks emulator.
unit: $(VENV)/.installed $(TFSCHEMA_VENV)/.installed $(TASKS_VENV)/.installed
	$(PY) -m pytest

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) $(PIP_INSTALL) -r requirements-bench.txt
	$(PY) -m pip check --quiet
	touch $@

## make bench: memory, throughput, request economy, cold start, concurrency -> bench/results.{json,png};
## worker memory and answer time under a hostile space -> bench/hostile.json; the sweep's cost -> bench/sweep-results.json;
## a 31-day verify --metadata-only over 1,000,000 recordings -> bench/verify-results.json
bench: $(VENV)/.bench-installed $(TASKS_VENV)/.installed
	$(PY) -m bench.run
	$(PY) -m bench.hostile
	$(PY) -m bench.sweep
	$(PY) -m bench.verify_month

## make bench-smoke: the same run on small sizes, no figures recorded (CI)
bench-smoke: $(VENV)/.installed $(TASKS_VENV)/.installed
	$(PY) -m bench.run --quick
	$(PY) -m bench.hostile --quick
	$(PY) -m bench.sweep --quick
	$(PY) -m bench.verify_month --quick

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(AUDIT_VENV) $(TFSCHEMA_VENV) $(TASKS_VENV) .mypy_cache .ruff_cache .pytest_cache infra/.build
