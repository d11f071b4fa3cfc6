"""Jobs. Partitioned and unpartitioned assets can't share a run, so the seeds have their own job."""
import dagster as dg

from assets.inbox.assets import INBOX_GROUP
from assets.snapshot import SNAPSHOT_GROUP
from assets.sources import SOURCES, inbox_sources
from foundation.partitions import daily_partitions

INBOX_INTAKE = dg.AssetSelection.groups(INBOX_GROUP)
INGESTION = dg.AssetSelection.groups(INBOX_GROUP, *(source.group for source in SOURCES))
OFFCHAIN_INGESTION = dg.AssetSelection.groups(INBOX_GROUP, *(source.group for source in inbox_sources()))
# The off-chain sources' ingestion, which reads the files the inbox took in (not the models reading its receipts).
TAKEN_IN_FILES_READERS = INBOX_INTAKE.downstream(depth=1, include_self=False) & OFFCHAIN_INGESTION
# The dbt build: staging, postings, marts, the views of the reconciliation checks (read by the checks), the audit
# trail's lineage and the attestation's figures (group attestation_figures; the report itself is ATTESTATION).
LEDGER = dg.AssetSelection.groups("staging", "ledger_postings", "ledger", "reconciliation", "trail",
                                  "attestation_figures")
ATTESTATION = dg.AssetSelection.assets("reserve_attestation")
# What a day needs end to end; also what `backed backfill` selects unless told otherwise.
DAILY_PIPELINE_SELECTION = INGESTION | LEDGER | ATTESTATION

reference_data_job = dg.define_asset_job(
    "reference_data", selection=dg.AssetSelection.groups("ledger_reference"),
    description="Load the dbt seeds (chart of accounts). Run once per change of the seeds.",
)

daily_pipeline_job = dg.define_asset_job(
    "daily_pipeline", selection=DAILY_PIPELINE_SELECTION, partitions_def=daily_partitions,
    description="One day end to end: ingest every source, build the ledger, reconcile, attest.",
)

ingest_and_reconcile_job = dg.define_asset_job(
    "ingest_and_reconcile", selection=INGESTION | LEDGER, partitions_def=daily_partitions,
    description="Ingest and build the ledger with its checks for any range of days in one run (backfills).",
)

ledger_job = dg.define_asset_job(
    "ledger", selection=LEDGER, partitions_def=daily_partitions,
    description="Build the ledger, its checks and the readers' figures from the lake for any range of days, "
                "ingesting nothing (`backed warehouse rebuild`).",
)

inbox_job = dg.define_asset_job(
    "inbox_ingestion", selection=OFFCHAIN_INGESTION | LEDGER, partitions_def=daily_partitions,
    description="Files dropped in the inbox: ingest them and rebuild the ledger of their day.",
)

attestation_job = dg.define_asset_job(
    "attestation", selection=ATTESTATION, partitions_def=daily_partitions,
    description="The day's reserve attestation; refuses while a blocker exception is open.",
)

# Unpartitioned: it copies the marts as they stand once a run that changes them is done (orchestration/sensors.py).
snapshot_job = dg.define_asset_job(
    "publish_snapshot", selection=dg.AssetSelection.groups(SNAPSHOT_GROUP),
    description="Publish the marts people query to snapshot/ (read-only DuckDB file and Parquet) for SQL clients and "
                "BI tools; runs after each successful run of the pipeline's jobs.",
)
all_jobs = [reference_data_job, daily_pipeline_job, ingest_and_reconcile_job, ledger_job, inbox_job, attestation_job,
            snapshot_job]
