"""The dbt project as Dagster assets.

Partitioned models (tag `partitioned`) take the partition window from dbt's environment (`BACKED_MIN_DATE` /
`BACKED_MAX_DATE`, read by macros/partition_window.sql when the models run) and run as one dbt invocation per run
(single-run backfills: one `dbt build` for a whole range, not one per day). The seeds are unpartitioned and live in
their own selection, as Dagster can't mix partitioned and unpartitioned assets in a run. DuckDB allows one writer
process per database file, so every dbt invocation takes the `warehouse` pool.

Where the warehouse and the lake are reaches dbt as the data home in its environment (`dbt_environment`, read by the
profile and by models/sources.yml); a deployment's own reconciliation tolerances as var `reconciliation`, read by
the check models. Nothing a run changes is a dbt var or is read while dbt parses: dbt drops its saved parse of the
project whenever the vars on the command line or the rendered profile change, and parses it all again (about 4 s
of a day's dbt step; docs/performance.md). Each home keeps the parse of its last dbt run for the next one
(`saved_parse`); a new home starts from the one `make setup` made.
"""
import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (DagsterDbtCliRuntimeError, DagsterDbtTranslator, DagsterDbtTranslatorSettings,
                         DbtCliInvocation, DbtCliResource, DbtProject, dbt_assets)
from packaging import version

from assets.lake_repair import repair_corrupted_partitions
from expectations.policy import ReconciliationPolicy
from foundation.home import HOME_ENV, DataHome
from foundation.home_resource import BackedHome
from foundation.lake import Lake, write_text_atomically
from foundation.warehouse import SPARK, damaged, engine, publish_spark_tables, rebuild_advice
from foundation.partitions import daily_partitions
from foundation.pools import WAREHOUSE_POOL

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
# dbt on DuckDB, the default engine: the one installed beside this Python (the project's venv).
DUCKDB_DBT = Path(sys.prefix) / "bin" / "dbt"
# The Spark engine's dbt (BACKED_ENGINE=spark), in the environment `make spark-setup` makes: PySpark is kept out of
# the pipeline's own (requirements-spark.txt says why).
SPARK_DBT = Path(os.environ.get("BACKED_SPARK_DBT", DBT_PROJECT_DIR.parent / ".venv-spark" / "bin" / "dbt"))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# The manifest is prepared by `make setup` (dbt parse); dagster-dbt reads it at load time.

PARTITIONED_SELECTION = "tag:partitioned"


class BackedDbtTranslator(DagsterDbtTranslator):
    """Models keep their bare names as asset keys; groups follow the project's folders; every model and test says
    what it is in the UI (a model without a description in its yml by its SQL's header comment, a test by the rule
    it checks)."""

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        described = super().get_description(dbt_resource_props)
        if dbt_resource_props.get("description"):
            return described
        header = sql_header_comment(dbt_resource_props.get("raw_code", ""))
        return f"{header}\n\n{described}" if header else described

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=test_description(manifest["nodes"][unique_id], asset_spec.key))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "ledger_reference"
        fqn = dbt_resource_props.get("fqn", [])
        folder = fqn[1] if len(fqn) > 2 else "marts"
        # The attestation's figures are not the report: group `attestation` is the report alone.
        return {"staging": "staging", "intermediate": "ledger_postings", "marts": "ledger",
                "attestation": "attestation_figures"}.get(folder, folder)


def sql_header_comment(raw_code: str) -> str:
    """The `{# ... #}` (or leading `--` lines) a model or a singular test opens with, on one line."""
    text = re.sub(r"^\s*\{\{.*?\}\}\s*", "", raw_code, flags=re.S)
    block = re.match(r"\s*\{#(.*?)#\}", text, re.S)
    if block:
        return " ".join(block.group(1).split())
    dashes = re.match(r"((?:\s*--[^\n]*\n)+)", text)
    return " ".join(line.strip().removeprefix("--").strip() for line in dashes.group(1).splitlines()) if dashes else ""


def test_description(test: Mapping[str, Any], model: dg.AssetKey) -> str:
    """What a dbt test checks, in words: `dbt test: every journal_lines.account_code is in
    chart_of_accounts.account_code`."""
    metadata = test.get("test_metadata") or {}
    kwargs = metadata.get("kwargs") or {}
    name, table = metadata.get("name"), model.to_user_string()
    column = f"{table}.{kwargs.get('column_name')}"
    if name == "not_null":
        return f"dbt test: {column} is never null"
    if name == "unique":
        return f"dbt test: {column} is unique"
    if name == "keyed_by":
        columns, never_null = kwargs.get("columns") or [], kwargs.get("never_null")
        never_null = columns if never_null is None else never_null
        said = [f"({', '.join(columns)}) identifies one row of {table}"] if kwargs.get("unique", True) else []
        if never_null:
            said.append(f"{', '.join(never_null)} never null")
        return "dbt test: " + "; ".join(said or [f"{table} is keyed by ({', '.join(columns)})"])
    if name == "accepted_values":
        return f"dbt test: {column} is one of {', '.join(map(str, kwargs.get('values', [])))}"
    if name == "relationships":
        target = re.sub(r"^ref\('(.*)'\)$", r"\1", str(kwargs.get("to", "")))
        return f"dbt test: every {column} is in {target}.{kwargs.get('field')}"
    header = sql_header_comment(test.get("raw_code", ""))
    return f"dbt test {test.get('name')}: {header}" if header else f"dbt test {test.get('name')} on {table}"


translator = BackedDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def home_vars(home: DataHome) -> dict[str, Any]:
    """The dbt vars of a home: its reconciliation tolerances when BACKED_HOME/reconciliation.toml overrides the
    defaults of dbt_project.yml, whole (dbt replaces a mapping var, never merges); none otherwise, so that dbt can
    reuse its parse of the project."""
    policy = ReconciliationPolicy.for_home(home)
    return {} if policy == ReconciliationPolicy() else {"reconciliation": policy.as_dbt_var()}


def vars_args(dbt_vars: Mapping[str, Any]) -> list[str]:
    """`--vars` and its JSON, or nothing when there are no vars."""
    return ["--vars", json.dumps(dict(dbt_vars))] if dbt_vars else []


# What a run's dbt writes besides the warehouse, unless the environment says otherwise: its log file at `info` (a
# node's start, result and error; `debug` adds every statement, about 45 lines a node and a tenth of a day's build
# spent formatting them) and no JSON artifacts (manifest.json and run_results.json, about 1 s a build: the Dagster
# events come from dbt's structured log, and the compiled SQL is still written under target/).
QUIET_DBT = {"DBT_LOG_LEVEL_FILE": "info", "DBT_WRITE_JSON": "false"}


# How the profile and models/sources.yml name the data home: `~`, with HOME the data home in dbt's process (DuckDB
# expands it). They are rendered when dbt parses, and dbt reuses a saved parse only for the same rendered profile:
# named by its path, each new home would parse the whole project again (about 4.5 s).
DBT_HOME_ENV = "BACKED_DBT_HOME"


def dbt_environment(home: DataHome, window: tuple[date, date] | None = None) -> dict[str, str]:
    """What dbt reads from its environment: the data home, where the profile finds the warehouse and
    models/sources.yml the lake, the project folder, where the Spark target finds its log configuration, and the
    partition window, first and last day both inclusive (all history without one). The same parse of the project
    serves every home and every window."""
    env = {HOME_ENV: str(home.root), "HOME": str(home.root), DBT_HOME_ENV: "~",
           "BACKED_DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
           **{name: os.environ.get(name, value) for name, value in QUIET_DBT.items()}}
    if window is not None:
        env.update(BACKED_MIN_DATE=window[0].isoformat(), BACKED_MAX_DATE=window[1].isoformat())
    return env


PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def saved_parse(home: DataHome) -> Path:
    """Where `home` keeps dbt's parse of this project from its last dbt run (a new home starts from the project
    folder's target/, made by `make setup` with the same `dbt_environment`). A parse also names the folder of the
    project that made it (dbt loads seeds from there): one file per project folder."""
    project = hashlib.sha256(str(DBT_PROJECT_DIR).encode()).hexdigest()[:16]
    return home.dbt_state / f"partial_parse-{project}.msgpack"


def keep_parse(invocation: DbtCliInvocation, saved: Path) -> None:
    """Save the parse a finished dbt invocation made (or reused) as `saved`, for the next run."""
    made = Path(invocation.target_path) / PARTIAL_PARSE_FILE
    if made.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        partial = saved.with_name(f".{saved.name}.tmp")
        shutil.copyfile(made, partial)
        os.replace(partial, saved)


def project_fingerprint() -> str:
    """What the warehouse's tables are built from: the dbt project's models, macros and dbt_project.yml."""
    digest = hashlib.sha256()
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", *(DBT_PROJECT_DIR / "models").rglob("*"),
               *(DBT_PROJECT_DIR / "macros").rglob("*")]
    for path in sorted(path for path in sources if path.is_file()):
        digest.update(path.relative_to(DBT_PROJECT_DIR).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def built_by_another_project(home: DataHome, fingerprint: str) -> bool:
    """The home's warehouse was built by another version of the project than the one of `fingerprint` (or by one
    that kept no fingerprint): its tables may lack columns the models now write, and its journal what the rules now
    post. A warehouse with only the seeds in it (a new home's first run) was built by no version yet."""
    if home.warehouse_project.exists():
        return home.warehouse_project.read_text().strip() != fingerprint
    if not home.warehouse.exists():
        return False
    with duckdb.connect(str(home.warehouse), read_only=True) as warehouse:
        return bool(warehouse.execute("select count(*) from information_schema.tables "
                                      "where table_schema = 'main' and table_name = 'journal_lines'").fetchone()[0])


def record_project(home: DataHome, fingerprint: str) -> None:
    home.warehouse_project.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(home.warehouse_project, fingerprint + "\n")


def partition_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's partition window as days, both inclusive (the time window's end is exclusive)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


@contextlib.contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """This process's environment with `extra` set, restored after."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_dbt(dbt: DbtCliResource, args: Sequence[str], context: dg.AssetExecutionContext, home: DataHome,
            window: tuple[date, date] | None = None) -> Iterator:
    """dbt `args` on `home`'s warehouse, its events streamed: the home and the window in dbt's environment
    (dagster-dbt starts dbt with this process's, in `cli`), the home's vars, and the parse the home saved from its
    last dbt run to start from (else dagster-dbt's copy of the project's target/), saved again after."""
    saved = saved_parse(home)
    target = dbt._get_unique_target_path(context=context)  # where dagster-dbt would put it: under DBT_TARGET_PATH
    if saved.exists():
        folder = target if target.is_absolute() else Path(dbt.project_dir) / target
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, folder / PARTIAL_PARSE_FILE)
    with environment(dbt_environment(home, window)):
        invocation = dbt.cli([*args, *vars_args(home_vars(home))], context=context, target_path=target)
    try:
        yield from invocation.stream()
    except DagsterDbtCliRuntimeError as error:
        raise LedgerBuildFailed(build_failure(str(error), home)) from None  # its cause would be the one shown
    keep_parse(invocation, saved)
    if engine() == SPARK:
        context.log.info(f"warehouse.duckdb names the {len(publish_spark_tables(home))} tables built on Spark")


class LedgerBuildFailed(RuntimeError):
    """dbt's build of the ledger failed; the message says why in dbt's words and what to do."""


def build_failure(dagster_dbt_message: str, home: DataHome) -> str:
    """The first error dbt logged (dagster-dbt lists them after "Errors parsed from dbt logs:"), and what to do when
    it is a resource of the machine's rather than the ledger's rules."""
    _, _, errors = dagster_dbt_message.partition("Errors parsed from dbt logs:")
    errors = re.sub(r"\x1b\[[0-9;]*m", "", errors)  # dbt's terminal colours
    lines = [line.strip() for line in errors.splitlines() if line.strip()]
    # dbt's first line names the node ("Runtime Error in model x (path)"), the next says what went wrong
    first = " ".join(lines[:2]) if lines else "see the run's dbt output"
    full = next((line for line in lines if "No space left on device" in line or "Could not write all bytes" in line),
                None)
    if full is not None:
        return (f"the disk holding {home.root} is full ({lines[0]}: {full}). Free space there and run the day "
                "again: the next build rebuilds the whole window, and readers keep the last published snapshot "
                "meanwhile")
    if damaged(errors):
        return f"the warehouse {home.warehouse} cannot be opened ({first}): {rebuild_advice(home)}"
    if "Could not set lock on file" in errors:
        return (f"another process holds {home.warehouse} open: {first}. Close it (SQL clients and BI tools read "
                f"{home.snapshot} instead) and run the day again")
    return f"the ledger's dbt build failed: {first}"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=PARTITIONED_SELECTION,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
    name="ledger_models",
)
def ledger_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, backed_home: BackedHome):
    home = backed_home.paths
    # dbt reads the lake's files as they are: one changed after it was written is put back first, or nothing is built
    for repair in repair_corrupted_partitions(Lake(home), say=context.log.warning):
        context.log.warning(f"lake {repair.table} of {repair.day}: {repair.how}")
    # dbt reads each lake table with one schema (models/sources.yml): files written before a column was added
    # get it first.
    rewritten = Lake(home).conform_partitions()
    if rewritten:
        context.log.info(f"lake partitions given their table's declared schema: {rewritten}")
    fingerprint = project_fingerprint()
    if built_by_another_project(home, fingerprint):
        # A table whose columns changed fails an incremental build (on_schema_change: fail), and a changed rule
        # would post differently on the window's days only: every table is rebuilt from the whole lake, and the
        # journal (never refreshed) restates whatever the rules now post differently on any day.
        context.log.warning("the warehouse was built by another version of the dbt project: rebuilding every "
                            "table from the whole lake; the journal keeps its lines and restates what changed")
        yield from run_dbt(dbt, ["build", "--full-refresh"], context, home)
    else:
        yield from run_dbt(dbt, ["build"], context, home, partition_window(context))
    record_project(home, fingerprint)



@dbt_assets(
    manifest=dbt_project.manifest_path,
    select="resource_type:seed",
    dagster_dbt_translator=translator,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
    name="ledger_reference_seeds",
)
def ledger_reference_seeds(context: dg.AssetExecutionContext, dbt: DbtCliResource, backed_home: BackedHome):
    # `build`, not `seed`: the seeds' tests are their asset checks, planned with them, and would otherwise show as
    # never run. Cautiously: a model's test that refers to a seed (an account code in the chart) is the model's.
    yield from run_dbt(dbt, ["build", "--indirect-selection", "cautious"], context, backed_home.paths)


class WarehouseDbt(DbtCliResource):
    """dagster-dbt's dbt CLI without the two probes it makes before every invocation: `dbt --version` in a
    subprocess and a dbt adapter loaded in this process (about a fifth of a day's dbt step together). The executable
    is this venv's dbt, so its version is the installed dbt-core's; the adapter only serves `fetch_row_counts` /
    `fetch_column_metadata`, which this project does not call, and dagster-dbt runs without one when loading it
    fails."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def warehouse_dbt() -> WarehouseDbt:
    """The venv's dbt on this project, whether or not the venv is on PATH; on Spark (BACKED_ENGINE=spark), the Spark
    environment's."""
    if engine() == SPARK:
        if not SPARK_DBT.exists():
            raise LedgerBuildFailed(f"BACKED_ENGINE=spark, but the Spark engine is not installed ({SPARK_DBT}): run "
                                    "`make spark-setup`, or unset BACKED_ENGINE to build on DuckDB")
        return WarehouseDbt(project_dir=dbt_project, dbt_executable=str(SPARK_DBT))
    return WarehouseDbt(project_dir=dbt_project, dbt_executable=str(DUCKDB_DBT))
