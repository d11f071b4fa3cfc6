"""The dbt project as Dagster assets.

Partitioned models (tag `partitioned`) take the partition window as dbt vars `min_date` / `max_date` and run as
one dbt invocation per run (single-run backfills: one `dbt build` for a whole range, not one per day). The seeds are
unpartitioned and live in their own selection, as Dagster can't mix partitioned and unpartitioned assets in a run.
DuckDB allows one writer process per database file, so every dbt invocation takes the `warehouse` pool.
"""
import json
import os
from datetime import timedelta
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.partitions import daily_partitions
from orchestration.pools import WAREHOUSE_POOL
from orchestration.resources import BackedHome

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
        return {"staging": "staging", "intermediate": "ledger_postings", "marts": "ledger"}.get(folder, folder)


translator = BackedDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


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
    # dbt's profile reads the warehouse path from BACKED_HOME.
    os.environ["BACKED_HOME"] = backed_home.home
    dbt_vars = partition_window_vars(context)
    # dbt reads each lake table with one schema (models/sources.yml): files written before a column was added
    # get it first.
    rewritten = backed_home.lake().conform_partitions()
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
    os.environ["BACKED_HOME"] = backed_home.home
    yield from dbt.cli(["seed"], context=context).stream()
