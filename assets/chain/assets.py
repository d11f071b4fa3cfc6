"""The chain's ingestion asset: the day's decoded logs, state reads and blocks of the watched contracts.

The days of the run's window are ingested in order, each day's Parquet written atomically; a re-run of a day replaces
that day's files and nothing else. Earlier days are verified first: a reorganisation since they were ingested is
recorded and those days re-ingested. Ingestion writes Parquet only (never the warehouse), so it runs outside the
warehouse pool.
"""
import dagster as dg

from assets.chain.resource import ChainSource
from assets.source import INGEST_RETRY, Source
from foundation.home_resource import BackedHome
from foundation.lake import Lake
from foundation.partitions import daily_partitions, window_days

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
    from assets.chain.ingest import ChainRun

    profile, rpc = chain.load()
    lake = Lake(backed_home.paths)
    with ChainRun(profile, rpc) as run:
        yield from _ingest_window(context, profile, rpc, lake, run)


def _ingest_window(context: dg.AssetExecutionContext, profile, rpc, lake: Lake, run):
    from assets.chain.ingest import CHAIN_DAY_TABLES, DayNotConfirmed, ingest_chain_day
    from assets.chain.reorgs import verify_and_repair

    # Earlier days first: a reorganisation since they were ingested is recorded and those days re-ingested.
    reorgs = verify_and_repair(profile, rpc, lake, run=run)
    for reorg in reorgs:
        context.log.warning(
            f"reorg {reorg.reorg_id}: fork at block {reorg.fork_block}, depth {reorg.depth}, days "
            f"{', '.join(str(d) for d in reorg.days)} re-ingested {', '.join(str(d) for d in reorg.reingested) or '-'}"
            f", withdrawn {', '.join(str(d) for d in reorg.withdrawn) or '-'}: rebuild the ledger from the first of them")
    totals = {"days": 0, "logs": 0, "unknown_topic0s": set(), "declared_not_modelled": set()}
    for day in window_days(context):
        try:
            summary = ingest_chain_day(day, profile, rpc, lake, run=run)
        except DayNotConfirmed as exc:
            raise dg.Failure(description=f"{day} is not confirmed yet: {exc}") from exc
        totals["days"] += 1
        totals["logs"] += int(getattr(summary, "log_count", 0) or 0)
        totals["unknown_topic0s"].update(getattr(summary, "unknown_topic0s", ()) or ())
        totals["declared_not_modelled"].update(getattr(summary, "declared_not_modelled", ()) or ())
        context.log.info(f"chain {day}: {summary}")
    metadata = {"days": totals["days"], "logs": totals["logs"], "reorgs_found": len(reorgs),
                "unknown_topic0s": ", ".join(sorted(totals["unknown_topic0s"])) or "none",
                "declared_not_modelled": ", ".join(sorted(totals["declared_not_modelled"])) or "none",
                "rpc_outcomes": str(dict(getattr(rpc, "outcomes", {}) or {})),
                # what the checks of the node's answers found and asked again (assets/chain/providers.py)
                "answers_asked_again": str(dict(run.audit.findings)) if run.audit.findings else "none",
                "heads_behind_seen": run.headers.behind}
    for table in CHAIN_DAY_TABLES:
        yield dg.MaterializeResult(asset_key=table, metadata=metadata)


SOURCE = Source(
    name="chain",
    group="chain",
    description="EVM logs and state reads of the protocol's contracts over JSON-RPC (eth_getLogs, eth_call).",
    lake_tables=(*sorted(key.to_user_string() for key in chain_ingestion.keys), "chain_reorgs"),
    assets=(chain_ingestion,),
)
