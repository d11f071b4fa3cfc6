"""The dbt project as Dagster assets.

Partitioned models (tag `partitioned`) take the partition window from dbt's environment (`BACKED_MIN_DATE` /
`BACKED_MAX_DATE`, read by macros/partition_window.sql when the models run) and run as one dbt invocation per run
(single-run backfills: one `dbt build` for a whole range, not one per day). The seeds are unpartitioned and live in
their own selection, as Dagster can't mix partitioned and unpartitioned assets in a run. DuckDB allows one writer
process per database file, so every dbt invocation takes the `warehouse` pool.

Where the warehouse and the lake are reaches dbt as the data home in its environment (`BACKED_HOME`, read by the
profile and by models/sources.yml); a deployment's own reconciliation tolerances as var `reconciliation`, read by
the check models. Nothing a run changes is a dbt var: dbt drops its saved parse of the project whenever the vars on
the command line change and parses it all again (about 3 s of a day's dbt step; docs/performance.md).
"""
import contextlib
import importlib.metadata
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from expectations.policy import ReconciliationPolicy
from foundation.home import HOME_ENV, BackedHome, DataHome
from foundation.lake import Lake
from foundation.partitions import daily_partitions
from foundation.pools import WAREHOUSE_POOL

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# The manifest is prepared by `make setup` (dbt parse); dagster-dbt reads it at load time.

PARTITIONED_SELECTION = "tag:partitioned"


class BackedDbtTranslator(DagsterDbtTranslator):
    """Models keep their bare names as asset keys; groups follow the project's folders."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "ledger_reference"
        fqn = dbt_resource_props.get("fqn", [])
        folder = fqn[1] if len(fqn) > 2 else "marts"
        # The attestation's figures are not the report: group `attestation` is the report alone.
        return {"staging": "staging", "intermediate": "ledger_postings", "marts": "ledger",
                "attestation": "attestation_figures"}.get(folder, folder)


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


def dbt_environment(home: DataHome, window: tuple[date, date] | None = None) -> dict[str, str]:
    """What dbt reads from its environment: the data home, where the profile finds the warehouse and
    models/sources.yml the lake, and the partition window, first and last day both inclusive (all history without
    one). Read when dbt runs, not when it parses, so that a run reuses dbt's parse of the project."""
    env = {HOME_ENV: str(home.root)}
    if window is not None:
        env.update(BACKED_MIN_DATE=window[0].isoformat(), BACKED_MAX_DATE=window[1].isoformat())
    return env


def partition_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's partition window as days, both inclusive (the time window's end is exclusive)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


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
    # dbt reads each lake table with one schema (models/sources.yml): files written before a column was added
    # get it first.
    rewritten = Lake(home).conform_partitions()
    if rewritten:
        context.log.info(f"lake partitions given their table's declared schema: {rewritten}")
    yield from dbt.cli(["build", *vars_args(home_vars(home))], context=context,
                       env=dbt_environment(home, partition_window(context))).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select="resource_type:seed",
    dagster_dbt_translator=translator,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
    name="ledger_reference_seeds",
)
def ledger_reference_seeds(context: dg.AssetExecutionContext, dbt: DbtCliResource, backed_home: BackedHome):
    yield from dbt.cli(["seed", *vars_args(home_vars(backed_home.paths))], context=context,
                       env=dbt_environment(backed_home.paths)).stream()


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

    def cli(self, args: Sequence[str], *, env: Mapping[str, str] | None = None, **kwargs) -> Any:
        """dagster-dbt's `cli`, with `env` added to the environment dbt runs in (dagster-dbt starts dbt with this
        process's environment, in the call)."""
        with environment(env or {}):
            return super().cli(args, **kwargs)


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


def warehouse_dbt() -> WarehouseDbt:
    """The venv's dbt on this project, whether or not the venv is on PATH."""
    return WarehouseDbt(project_dir=dbt_project, dbt_executable=str(Path(sys.prefix) / "bin" / "dbt"))
