"""The Dagster code location (`dagster dev -w workspace.yaml`)."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.attestation.asset import reserve_attestation
from assets.inbox.assets import INPUT_FILES, inbox_receipts
from assets.ledger import ledger_models, ledger_reference_seeds
from assets.snapshot import ledger_snapshot, snapshot_matches_warehouse
from assets.sources import SOURCES
from expectations.checks import reconciliation_checks
from expectations.partition_checks import checks_for_unchecked_assets
from foundation.home import default_home
from orchestration.freshness import with_daily_freshness
from orchestration.executors import run_executor
from orchestration.instance import PROFILE_ENV
from orchestration.jobs import all_jobs
from orchestration.resources import backed_resources
from orchestration.schedules import daily_pipeline_schedule
from orchestration.sensors import inbox_sensor, snapshot_sensor


def build_definitions(home: Path | None = None, profile: str | None = None) -> dg.Definitions:
    home = (home or default_home()).resolve()
    profile = profile or os.environ.get(PROFILE_ENV, "sandbox")
    ingestion = [asset for source in SOURCES for asset in source.assets]
    assets = with_daily_freshness([inbox_receipts, INPUT_FILES, *ingestion, ledger_reference_seeds, ledger_models,
                                   reserve_attestation, ledger_snapshot])
    return dg.Definitions(
        assets=assets,
        asset_checks=[*reconciliation_checks, snapshot_matches_warehouse,
                      *checks_for_unchecked_assets(assets, reconciliation_checks)],
        jobs=all_jobs,
        schedules=[daily_pipeline_schedule],
        sensors=[inbox_sensor, snapshot_sensor],
        resources=backed_resources(home, profile),
        # A run's steps one after another in its own process, unless the environment says otherwise.
        executor=run_executor(),
    )


defs = build_definitions()
