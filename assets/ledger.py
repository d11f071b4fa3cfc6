"""The dbt project as Dagster assets.

Partitioned models (tag `partitioned`) take the partition window as dbt vars `min_date` / `max_date` and run as
one dbt invocation per run (single-run backfills: one `dbt build` for a whole range, not one per day). The seeds are
unpartitioned and live in their own selection, as Dagster can't mix partitioned and unpartitioned assets in a run.
DuckDB allows one writer process per database file, so every dbt invocation takes the `warehouse` pool.

Where the warehouse and the lake are reaches dbt as vars (`warehouse_path`, `lake_path`), read by the profile and
by models/sources.yml; the deployment's reconciliation tolerances as var `reconciliation`, read by the check models.
"""
import importlib.metadata
import json
import sys
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from expectations.policy import ReconciliationPolicy
from foundation.home import BackedHome, DataHome
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
    """Where dbt finds the warehouse (profiles.yml) and the lake (models/sources.yml); the home's reconciliation
    tolerances (BACKED_HOME/reconciliation.toml over the defaults), whole: dbt replaces a mapping var, never merges."""
    return {"warehouse_path": str(home.warehouse), "lake_path": str(home.lake),
            "reconciliation": ReconciliationPolicy.for_home(home).as_dbt_var()}


def partition_window_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition window as dbt vars; the window's end is exclusive, dbt's `max_date` inclusive."""
    window = context.partition_time_window
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": (window.end - timedelta(days=1)).date().isoformat(),
    }


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
    dbt_vars = {**home_vars(backed_home.paths), **partition_window_vars(context)}
    # dbt reads each lake table with one schema (models/sources.yml): files written before a column was added
    # get it first.
    rewritten = Lake(backed_home.paths).conform_partitions()
    if rewritten:
        context.log.info(f"lake partitions given their table's declared schema: {rewritten}")
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select="resource_type:seed",
    dagster_dbt_translator=translator,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
    name="ledger_reference_seeds",
)
def ledger_reference_seeds(context: dg.AssetExecutionContext, dbt: DbtCliResource, backed_home: BackedHome):
    yield from dbt.cli(["seed", "--vars", json.dumps(home_vars(backed_home.paths))], context=context).stream()


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
    """The venv's dbt on this project, whether or not the venv is on PATH."""
    return WarehouseDbt(project_dir=dbt_project, dbt_executable=str(Path(sys.prefix) / "bin" / "dbt"))
