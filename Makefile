# The two commands of the README. Each sets itself up from the project's own files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export BACKED_HOME ?= $(CURDIR)/.backed

.PHONY: setup spark-setup demo test docs bench reliability scale-test mutation dagster-dev clean browser

setup: $(VENV)/.deps-stamp node_modules/.stamp sandbox/build/contracts.json dbt_project/target/manifest.json

# The browser tests (make test only) drive Debian's chromium through its chromedriver (as root, as CI runs).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# Python deps are pinned by constraints.txt (a full freeze of the resolved set), installed by uv (pinned here): the
# same set as pip installs, in a third of the time. Not byte-compiled at install (13,000 files, 30 s on two cores):
# each module is compiled when a process first imports it and kept for the next, so the commands here let Python
# write its bytecode even where the environment says not to (PYTHONDONTWRITEBYTECODE, which every process would
# otherwise pay for by compiling again).
export PYTHONDONTWRITEBYTECODE :=
UV_VERSION := 0.9.30
$(VENV)/.deps-stamp: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python -c constraints.txt -e '.[dev]'
	touch $@

# The Spark engine (BACKED_ENGINE=spark; docs/scale.md): dbt-spark and PySpark in an environment of their own
# (requirements-spark.txt, pinned by constraints.txt), and Java 17 from the system's packages when no java is on the
# PATH. `make reliability` and `make scale-test` need it for the engines' equality tests; DuckDB, the default engine,
# needs none of it. PySpark is published as source only, and uv builds it again (20 s) whenever the index may have
# changed: the same pinned versions are first installed from uv's cache alone, which takes 3 s when an earlier
# install built them.
SPARK_VENV := .venv-spark
spark-setup: $(SPARK_VENV)/.deps-stamp
$(SPARK_VENV)/.deps-stamp: requirements-spark.txt constraints.txt $(VENV)/.deps-stamp
	@command -v java >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }
	$(PYTHON) -m venv $(SPARK_VENV)
	$(VENV)/bin/uv pip install -q --offline --python $(SPARK_VENV)/bin/python --compile-bytecode -c constraints.txt \
	  -r requirements-spark.txt 2>/dev/null || \
	  $(VENV)/bin/uv pip install -q --python $(SPARK_VENV)/bin/python --compile-bytecode -c constraints.txt -r requirements-spark.txt
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

sandbox/build/contracts.json: $(VENV)/.deps-stamp node_modules/.stamp $(wildcard sandbox/contracts/*.sol)
	$(PY) -m sandbox.compile

# dagster-dbt loads the manifest at import time outside `dagster dev`.
dbt_project/target/manifest.json: $(VENV)/.deps-stamp $(shell find dbt_project -name '*.sql' -o -name '*.yml' -o -name '*.csv' 2>/dev/null | grep -v '/target/')
	cd dbt_project && BACKED_HOME=$(BACKED_HOME) BACKED_DBT_HOME='~' ../$(VENV)/bin/dbt parse --profiles-dir . --quiet

demo: setup
	$(VENV)/bin/backed demo

# dbt's docs: every model with its columns and tests, and the lineage from the lake to the attestation; written to
# reports/dbt_docs under the data home and served on localhost:$(DOCS_PORT).
DOCS_PORT ?= 8580
docs: setup
	$(VENV)/bin/backed docs --port $(DOCS_PORT)

# Two workers, a test file each at a time (module fixtures stay in one process); `long` tests are `make reliability`'s.
# A third worker was no faster (fresh clones at 849a62d: pytest 619 s on three, 603 s on two at 14bb02a).
# Their scratch (pytest's folders, the temporary files of what they start) is in memory where /dev/shm is: the
# pipeline's Dagster instance commits each event to SQLite, and a commit waits for the disk (5 ms here, against
# 0.06 ms in memory; docs/performance.md). The folders of passed tests are removed, a failed run's kept until the next.
TEST_TMPDIR ?= $(if $(wildcard /dev/shm),/dev/shm,$(or $(TMPDIR),/tmp))
TEST_WORKERS ?= 2
test: setup browser
	TMPDIR=$(TEST_TMPDIR) $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not long" \
	  -o tmp_path_retention_policy=failed -o tmp_path_retention_count=1

# The fault scenarios, hostile inputs and fuzzing (a longer hunt than `make test`'s), then the summary: scenarios
# survived, bad inputs tried, rows lost, duplicates (tests/reliability.py).
RELIABILITY_TESTS := $(wildcard tests/test_crash_safety.py tests/test_idempotency.py tests/test_parallel_backfill.py) \
	tests/test_spark_engine.py tests/test_spark_telemetry.py tests/test_deployment.py \
	tests/test_chain_production.py tests/test_known_answers.py tests/test_ledger_dbt.py \
	tests/test_restatement_depth.py tests/test_attestation_integrity.py tests/test_hostile_input.py tests/test_ingest_bad_inputs.py tests/test_fuzz_parsers.py \
	tests/test_snapshot.py tests/test_inbox_arrivals.py tests/test_chain_lying_nodes.py tests/test_storage_faults.py \
	tests/test_service_faults.py tests/test_time_zones.py tests/test_fuzz_at_scale.py tests/test_backfill.py \
	tests/test_warehouse_upgrade.py tests/test_ledger_sandbox_30_days.py tests/test_definitions.py tests/test_bench_smoke.py \
	tests/test_guides.py tests/test_secrets_stay_out.py
reliability: setup spark-setup
	BACKED_RELIABILITY_DIR=$(BACKED_HOME) BACKED_FUZZ_SCALE=$${BACKED_FUZZ_SCALE:-5} \
	  BACKED_FUZZ_INPUTS=$${BACKED_FUZZ_INPUTS:-100000} BACKED_SLOW_UPLOAD_SECONDS=$${BACKED_SLOW_UPLOAD_SECONDS:-65} \
	  TMPDIR=$(TEST_TMPDIR) $(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile $(RELIABILITY_TESTS)

# The 30-day demo on Spark end to end (BACKED_ENGINE=spark: the ledger built by Spark, checks and attestations read
# from its tables), compared with the same demo on DuckDB relation by relation and attestation by attestation; the
# hand-posted ledger and a day's telemetry roll-up on both engines, compared row by row.
scale-test: setup spark-setup
	TMPDIR=$(TEST_TMPDIR) $(PY) -m pytest -q -p no:cacheprovider tests/test_spark_scale.py tests/test_spark_engine.py \
	  tests/test_spark_telemetry.py

# The mutation gate: each realistic bug of tests/mutation/catalogue.toml planted alone in a scratch copy, and the
# tests that must catch it run; prints "mutants killed N of M" and fails on a survivor. Minutes long: not in `make test`.
mutation: setup browser
	TMPDIR=$(TEST_TMPDIR) $(PY) -m tests.mutation

bench: setup spark-setup
	$(PY) -m bench

# The UI has no login of its own: it listens on this machine only (docs/guides.md says how to open it to a team).
DAGSTER_HOST ?= 127.0.0.1
DAGSTER_PORT ?= 3000
dagster-dev: setup
	$(VENV)/bin/backed --home $(BACKED_HOME) ui --host $(DAGSTER_HOST) --port $(DAGSTER_PORT)

clean:
	rm -rf $(VENV) $(SPARK_VENV) node_modules sandbox/build dbt_project/target .backed
