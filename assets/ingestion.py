"""The four ingestion assets: chain, loan tapes, GPU telemetry, custodian statements.

Each ingests the days of its run's partition window, in order, writing each day's Parquet atomically; a re-run of
a day replaces that day's files and nothing else. Ingestion writes Parquet only (never the warehouse), so it runs
outside the warehouse pool and may run in parallel with other sources.
"""

import dagster as dg

from orchestration.partitions import daily_partitions, window_days
from orchestration.resources import BackedHome, ChainSource

CHAIN_TABLES = ["chain_events", "chain_logs_unknown", "chain_state", "chain_days", "chain_address_book"]

INGEST_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("chain_events", description="Decoded logs of the watched contracts, keyed by (tx_hash, log_index).",
                     group_name="chain", kinds={"parquet"}),
        dg.AssetSpec("chain_logs_unknown", description="Logs of watched contracts with an unknown topic0, kept raw.",
                     group_name="chain", kinds={"parquet"}),
        dg.AssetSpec("chain_state", description="eth_call state at the day's last block: supply, balances, NAV, loans.",
                     group_name="chain", kinds={"parquet"}),
        dg.AssetSpec("chain_days", description="The day's block range and the confirmed block the state was read at.",
                     group_name="chain", kinds={"parquet"}),
        dg.AssetSpec("chain_address_book", description="The profile's contracts and roles for the day.",
                     group_name="chain", kinds={"parquet"}),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=INGEST_RETRY,
    name="chain_ingestion",
)
def chain_ingestion(context: dg.AssetExecutionContext, backed_home: BackedHome, chain: ChainSource):
    from assets.chain.ingest import DayNotConfirmed, ingest_chain_day

    profile, rpc = chain.load()
    lake = backed_home.lake()
    totals = {"days": 0, "logs": 0}
    for day in window_days(context):
        try:
            summary = ingest_chain_day(day, profile, rpc, lake)
        except DayNotConfirmed as exc:
            raise dg.Failure(description=f"{day} is not confirmed yet: {exc}") from exc
        totals["days"] += 1
        totals["logs"] += int(getattr(summary, "log_count", 0) or 0)
        context.log.info(f"chain {day}: {summary}")
    for table in CHAIN_TABLES:
        yield dg.MaterializeResult(asset_key=table, metadata={"days": totals["days"], "logs": totals["logs"]})


def _file_metadata(summaries) -> dict:
    return {
        "files": len(summaries),
        "rows_in": sum(s.rows_in for s in summaries),
        "rows_accepted": sum(s.rows_accepted for s in summaries),
        "rows_quarantined": sum(s.rows_quarantined for s in summaries),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec("loan_tapes", description="Lenders' loan tapes: one row per loan per day.",
                     group_name="loan_books", kinds={"parquet"}),
        dg.AssetSpec("loan_collateral", description="Collateral schedules: loan → GPU title NFT → GPU serials.",
                     group_name="loan_books", kinds={"parquet"}),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=INGEST_RETRY,
    name="loan_tape_ingestion",
)
def loan_tape_ingestion(context: dg.AssetExecutionContext, backed_home: BackedHome):
    from assets.loan_tapes import ingest_loan_tapes_day

    lake = backed_home.lake()
    summaries = [s for day in window_days(context) for s in ingest_loan_tapes_day(day, lake)]
    for s in summaries:
        context.log.info(f"{s.source} {s.file_name}: {s.rows_accepted} accepted, {s.rows_quarantined} quarantined")
    metadata = _file_metadata(summaries)
    yield dg.MaterializeResult(asset_key="loan_tapes", metadata=metadata)
    yield dg.MaterializeResult(asset_key="loan_collateral", metadata=metadata)


@dg.asset(
    description="DCGM telemetry rolled up per GPU per day (samples, minutes online, utilisation, temperature, XIDs).",
    group_name="telemetry",
    kinds={"parquet", "polars"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=INGEST_RETRY,
)
def gpu_telemetry_daily(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    from assets.telemetry import ingest_telemetry_day

    lake = backed_home.lake()
    summaries = [s for day in window_days(context) for s in ingest_telemetry_day(day, lake)]
    return dg.MaterializeResult(metadata=_file_metadata(summaries))


@dg.asset(
    description="Custodian statements: cash balances, T-bill holdings by CUSIP, transactions.",
    group_name="custodian",
    kinds={"parquet"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=INGEST_RETRY,
)
def custodian_statements(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    from assets.custodian import ingest_custodian_day

    lake = backed_home.lake()
    summaries = [s for day in window_days(context) for s in ingest_custodian_day(day, lake)]
    return dg.MaterializeResult(metadata=_file_metadata(summaries))


ingestion_assets = [chain_ingestion, loan_tape_ingestion, gpu_telemetry_daily, custodian_statements]
