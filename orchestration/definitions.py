"""The Dagster code location (`dagster dev -w workspace.yaml`)."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.attestation import reserve_attestation
from assets.dbt import dbt_project, ledger_models, ledger_reference_seeds
from assets.ingestion import ingestion_assets
from expectations.checks import reconciliation_checks
from orchestration.jobs import all_jobs
from orchestration.partition_checks import checks_for_unchecked_assets, with_daily_freshness
from orchestration.resources import BackedHome, ChainSource, default_home, warehouse_dbt
from orchestration.schedules import daily_pipeline_schedule
from orchestration.sensors import inbox_sensor


def build_definitions(home: Path | None = None, profile: str | None = None) -> dg.Definitions:
    home = (home or default_home()).resolve()
    profile = profile or os.environ.get("BACKED_PROFILE", "sandbox")
    assets = with_daily_freshness([*ingestion_assets, ledger_reference_seeds, ledger_models, reserve_attestation])
    return dg.Definitions(
        assets=assets,
        asset_checks=[*reconciliation_checks, *checks_for_unchecked_assets(assets, reconciliation_checks)],
        jobs=all_jobs,
        schedules=[daily_pipeline_schedule],
        sensors=[inbox_sensor],
        resources={
            "backed_home": BackedHome(home=str(home)),
            "chain": ChainSource(profile=profile, home=str(home)),
            "dbt": warehouse_dbt(dbt_project),
        },
    )


defs = build_definitions()
