"""The ingestion assets: chain, loan tapes, GPU telemetry, custodian statements, and the join of the loans'
collateral to the day's telemetry.

Each off-chain ingest first takes in whatever was dropped in the inbox (assets.intake), then rebuilds its days from
the files routed to them. Each asset ingests the days of its run's partition window, in order, writing each day's
Parquet atomically; a re-run of a day replaces that day's files and nothing else. Ingestion writes Parquet only
(never the warehouse), so it runs outside the warehouse pool and may run in parallel with other sources.
"""

import dagster as dg

from orchestration.partitions import daily_partitions, offchain_backfill_policy, window_days
from orchestration.resources import BackedHome, ChainSource

CHAIN_TABLES = ["chain_events", "chain_logs_unknown", "chain_state", "chain_days", "chain_address_book", "chain_blocks"]

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
        dg.AssetSpec("chain_blocks", description="Number, hash and parent hash of every ingested block: verified on "
                     "each run to detect reorganisations.", group_name="chain", kinds={"parquet"}),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=INGEST_RETRY,
    name="chain_ingestion",
)
def chain_ingestion(context: dg.AssetExecutionContext, backed_home: BackedHome, chain: ChainSource):
    from assets.chain.ingest import ChainRun, DayNotConfirmed, ingest_chain_day
    from assets.chain.reorgs import verify_and_repair

    profile, rpc = chain.load()
    lake = backed_home.lake()
    run = ChainRun(profile, rpc)
    # Earlier days first: a reorganisation since they were ingested is recorded and those days re-ingested.
    reorgs = verify_and_repair(profile, rpc, lake, run=run)
    for reorg in reorgs:
        context.log.warning(
            f"reorg {reorg.reorg_id}: fork at block {reorg.fork_block}, depth {reorg.depth}, days "
            f"{', '.join(str(d) for d in reorg.days)} re-ingested {', '.join(str(d) for d in reorg.reingested) or '-'}"
            f", withdrawn {', '.join(str(d) for d in reorg.withdrawn) or '-'}: rebuild the ledger from the first of them")
    totals = {"days": 0, "logs": 0, "unknown_topic0s": set()}
    for day in window_days(context):
        try:
            summary = ingest_chain_day(day, profile, rpc, lake, run=run)
        except DayNotConfirmed as exc:
            raise dg.Failure(description=f"{day} is not confirmed yet: {exc}") from exc
        totals["days"] += 1
        totals["logs"] += int(getattr(summary, "log_count", 0) or 0)
        totals["unknown_topic0s"].update(getattr(summary, "unknown_topic0s", ()) or ())
        context.log.info(f"chain {day}: {summary}")
    metadata = {"days": totals["days"], "logs": totals["logs"], "reorgs_found": len(reorgs),
                "unknown_topic0s": ", ".join(sorted(totals["unknown_topic0s"])) or "none",
                "rpc_outcomes": str(dict(getattr(rpc, "outcomes", {}) or {}))}
    for table in CHAIN_TABLES:
        yield dg.MaterializeResult(asset_key=table, metadata=metadata)


def _file_metadata(summaries) -> dict:
    quarantined = {}
    for s in summaries:
        for reason, count in s.reasons.items():
            quarantined[reason] = quarantined.get(reason, 0) + count
    return {
        "files": len(summaries),
        "rows_in": sum(s.rows_in for s in summaries),
        "rows_accepted": sum(s.rows_accepted for s in summaries),
        "rows_quarantined": sum(s.rows_quarantined for s in summaries),
        "quarantine_reasons": dg.MetadataValue.json(quarantined),
    }


def _log_files(context: dg.AssetExecutionContext, summaries) -> None:
    for s in summaries:
        context.log.info(f"{s.source} {s.partition} {s.file_name} ({s.format}): {s.rows_accepted} accepted, "
                         f"{s.rows_quarantined} quarantined {s.reasons or ''}")
        for message in s.messages[:5]:
            context.log.warning(message)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("loan_tapes", description="Lenders' loan tapes (CSV or XLSX, per-lender layouts): one row per loan "
                     "per day, with insurance cover.", group_name="loan_books", kinds={"parquet"}),
        dg.AssetSpec("loan_collateral", description="Collateral schedules: loan → GPU title NFT → GPU serials / UUIDs.",
                     group_name="loan_books", kinds={"parquet"}),
        dg.AssetSpec("loan_tape_supersessions", description="Corrected tapes: which tape file replaced which, and when.",
                     group_name="loan_books", kinds={"parquet"}),
    ],
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),  # N days per run in parallel backfills
    retry_policy=INGEST_RETRY,
    name="loan_tape_ingestion",
)
def loan_tape_ingestion(context: dg.AssetExecutionContext, backed_home: BackedHome):
    from assets.loan_tapes import ingest_loan_tapes_day

    lake = backed_home.lake()
    summaries = [s for day in window_days(context) for s in ingest_loan_tapes_day(day, lake)]
    _log_files(context, summaries)
    metadata = _file_metadata(summaries)
    for key in ("loan_tapes", "loan_collateral", "loan_tape_supersessions"):
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


@dg.asset(
    description="DCGM telemetry (Prometheus text or JSON lines, streamed) rolled up per GPU per day: samples, minutes "
                "online, utilisation mean and p95, max temperature, mean power, XID errors, last seen.",
    group_name="telemetry",
    kinds={"parquet", "polars"},
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),  # N days per run in parallel backfills
    retry_policy=INGEST_RETRY,
)
def gpu_telemetry_daily(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    from assets.telemetry import ingest_telemetry_day

    lake = backed_home.lake()
    summaries = [s for day in window_days(context) for s in ingest_telemetry_day(day, lake)]
    _log_files(context, summaries)
    return dg.MaterializeResult(metadata=_file_metadata(summaries))


@dg.asset(
    description="Every collateral GPU of the day's loan tapes with its telemetry of the day (joined by serial or UUID); "
                "`reporting` false for a GPU that sent nothing.",
    group_name="telemetry",
    kinds={"parquet", "polars"},
    deps=["loan_collateral", "gpu_telemetry_daily"],
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),  # N days per run in parallel backfills
)
def collateral_gpu_daily(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    from assets.telemetry import join_collateral_telemetry

    lake = backed_home.lake()
    dark = {day.isoformat(): join_collateral_telemetry(day, lake) for day in window_days(context)}
    return dg.MaterializeResult(metadata={"collateral_gpus_not_reporting": dg.MetadataValue.json(dark)})


@dg.multi_asset(
    specs=[
        dg.AssetSpec("custodian_statements", description="Custodian statements (ISO 20022 semt.002 and camt.053, or "
                     "CSV): cash balances, T-bill holdings by CUSIP, transactions.", group_name="custodian",
                     kinds={"parquet"}),
        dg.AssetSpec("balance_assertions", description="Closing balances the custodian asserts, each on its ledger "
                     "account at the statement's cut-off (1000 cash, 1010 T-bills by CUSIP and in total).",
                     group_name="custodian", kinds={"parquet"}),
    ],
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),  # N days per run in parallel backfills
    retry_policy=INGEST_RETRY,
    name="custodian_ingestion",
)
def custodian_ingestion(context: dg.AssetExecutionContext, backed_home: BackedHome):
    from assets.custodian import ingest_custodian_day

    lake = backed_home.lake()
    summaries = [s for day in window_days(context) for s in ingest_custodian_day(day, lake)]
    _log_files(context, summaries)
    metadata = _file_metadata(summaries)
    for key in ("custodian_statements", "balance_assertions"):
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


ingestion_assets = [chain_ingestion, loan_tape_ingestion, gpu_telemetry_daily, collateral_gpu_daily,
                    custodian_ingestion]
