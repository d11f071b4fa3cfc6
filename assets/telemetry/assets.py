"""The telemetry assets (the day's DCGM files rolled up per GPU, and the loans' collateral joined to them) and how
telemetry files are recognised."""
from datetime import date

import dagster as dg

from assets.inbox.manifest import FileIngestSummary, ingest_window
from assets.source import FALLBACK, HEADER, INGEST_RETRY, SIGNATURE, FileRecogniser, Source
from assets.telemetry import inventory, scrapes, spark_rollup
from foundation.home_resource import BackedHome
from foundation.lake import Lake
from foundation.partitions import daily_partitions, offchain_backfill_policy, window_days
from foundation.warehouse import SPARK, engine


def ingest_telemetry_day(day: date, lake: Lake) -> list[FileIngestSummary]:
    """The day's telemetry ingested; on Spark (BACKED_ENGINE=spark) its Prometheus text is rolled up by a Spark
    application, to the same rows."""
    return scrapes.ingest_telemetry_day(day, lake, spark_rollup.rollups_on_spark if engine() == SPARK else None)


@dg.asset(
    description="DCGM telemetry (Prometheus text or JSON lines, streamed) rolled up per GPU per day: samples, minutes "
                "online, utilisation mean and p95, max temperature, mean power, XID errors, last seen.",
    group_name="telemetry",
    kinds={"parquet", "polars", "spark"},
    # The stock exporter writes no serial: a day's GPUs take theirs from the latest inventory up to the day, which
    # may be a day before. So a day depends on the day before (a backfill ingests telemetry days in order, however
    # many runs it has at once).
    deps=["inbox_receipts", dg.AssetDep("gpu_telemetry_daily", partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=-1))],
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),
    retry_policy=INGEST_RETRY,
)
def gpu_telemetry_daily(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=ingest_window(context, Lake(backed_home.paths), ingest_telemetry_day))


@dg.asset(
    description="Every collateral GPU of the day's loan tapes with its telemetry of the day (joined by serial or UUID); "
                "`reporting` false for a GPU that sent nothing.",
    group_name="telemetry",
    kinds={"parquet", "polars"},
    deps=["loan_collateral", "gpu_telemetry_daily"],
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),
)
def collateral_gpu_daily(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    lake = Lake(backed_home.paths)
    dark = {day.isoformat(): scrapes.join_collateral_telemetry(day, lake) for day in window_days(context)}
    return dg.MaterializeResult(metadata={"collateral_gpus_not_reporting": dg.MetadataValue.json(dark)})


SOURCE = Source(
    name=scrapes.SOURCE,
    group="telemetry",
    description="GPU telemetry from NVIDIA's DCGM exporter (Prometheus text, a Prometheus query answer or JSON "
                "lines), per GPU per day.",
    lake_tables=("gpu_telemetry_daily", "gpu_inventory", "collateral_gpu_daily"),
    assets=(gpu_telemetry_daily, collateral_gpu_daily),
    recognisers=(
        FileRecogniser(
            scrapes.JSONL_FORMAT, SIGNATURE,
            claim=lambda head: float(scrapes.looks_like_json_lines(head.text)),
            recognise=lambda path, name: scrapes.recognise(path, scrapes.JSONL_FORMAT, name)),
        FileRecogniser(
            scrapes.PROMETHEUS_API_FORMAT, SIGNATURE,
            claim=lambda head: float(scrapes.looks_like_prometheus_api(head.text)),
            recognise=lambda path, name: scrapes.recognise(path, scrapes.PROMETHEUS_API_FORMAT, name)),
        FileRecogniser(
            inventory.INVENTORY_FORMAT, HEADER,
            claim=lambda head: inventory.looks_like_inventory(head.csv_header),
            recognise=inventory.recognise),
        FileRecogniser(
            scrapes.PROMETHEUS_FORMAT, FALLBACK,
            claim=lambda head: float(scrapes.looks_like_prometheus(head.text)),
            recognise=lambda path, name: scrapes.recognise(path, scrapes.PROMETHEUS_FORMAT, name)),
    ),
    ingest_day=ingest_telemetry_day,
)
