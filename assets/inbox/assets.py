"""The inbox's asset: the receipts register (`inbox_receipts`), written by taking in every file dropped in the inbox.

Each run takes the inbox in once, before the off-chain sources read their days: the files routed to a day are what
the day's ingest reads. The inbox sensor and `backed ingest` take files in too; a file already taken in is a
duplicate and nothing is ingested twice.
"""
from collections import Counter

import dagster as dg

from assets.inbox.intake import take_in_inbox
from assets.inbox.register import DUPLICATE, ROUTED, open_register_day
from foundation.home_resource import BackedHome
from foundation.lake import Lake
from foundation.partitions import daily_partitions, offchain_backfill_policy, window_days

INBOX_GROUP = "inbox"
INBOX_TABLES = ("inbox_receipts", "input_files")
# Written by each off-chain source's ingestion for its own files of the day (assets/inbox/manifest.py), so no one
# asset materialises it: declared for the models that read it.
INPUT_FILES = dg.AssetSpec(
    "input_files", group_name=INBOX_GROUP, kinds={"parquet"}, partitions_def=daily_partitions,
    description="The day's manifest of ingested files: for each file of an off-chain source, its sha256, rows in, "
                "rows accepted and quarantined, and the layout it was read with (the attestation lists them).")


@dg.asset(
    description="The receipts register: every file dropped in the inbox, recognised by its content, archived under "
                "its sha256 and routed to the day it is about (or archived as a duplicate or rejected, with why).",
    group_name=INBOX_GROUP,
    kinds={"parquet"},
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),
)
def inbox_receipts(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    lake = Lake(backed_home.paths)
    results = take_in_inbox(lake)
    for result in results:
        if result.recognition.problem and result.status != DUPLICATE:
            context.log.warning(f"{result.file_name}: {result.status} ({result.recognition.problem}) "
                                f"{result.recognition.detail}")
    # The register has a file for every day of the run, so that each day's partition is there to check.
    for day in window_days(context):
        open_register_day(lake, day)
    return dg.MaterializeResult(metadata={
        "files_taken_in": len(results),
        "by_status": dg.MetadataValue.json(dict(Counter(result.status for result in results))),
        "days_routed_to": ", ".join(sorted({str(r.partition) for r in results if r.status == ROUTED})) or "none",
    })
