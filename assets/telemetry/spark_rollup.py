"""The day's DCGM text rolled up per GPU on Spark (BACKED_ENGINE=spark): every file of Prometheus text the day
holds, read from the lake's archive by one Spark application, to the same RowSplit per file as `scrapes._validate`
gives: the same per-GPU rows, the same quarantine entries, the same counts.

The work is split by what grows with the fleet. Spark does what grows with the samples: it reads and cuts every
line at its first `} ` into the series and the value and timestamp, checks each against its series and the day,
finds the repeated samples, and reduces the rest to one row per file and GPU. The driver does what grows with the
series and the mistakes, in the pipeline's own polars code: each distinct series (`metric{labels`, a few per GPU) is
parsed and checked once (`KnownSeries`), the lines written otherwise (comments, a rule broken) are parsed and checked
one by one (`checked_one_by_one`), and the figures are finished (`finished_rollup`).

It runs in .venv-spark's Python (`make spark-setup`), with the pipeline's environment after PySpark's on its path:
PySpark is kept out of the pipeline's own (requirements-spark.txt says why). `rollups_on_spark` launches it and reads
what it wrote; `python -m assets.telemetry.spark_rollup WORK` is the application.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import polars as pl

from assets.inbox.register import ArchiveTampered, InboxFile, sha256_of
from assets.inbox.row_validation import SOURCE_ROW, RowSplit, empty_rejections
from assets.telemetry.scrapes import (
    FLOAT_TEXT, POWER, TEMPERATURE, TIMESTAMP_TEXT, UTILISATION, XID_ERROR, GpuRegistry, KnownSeries,
    checked_one_by_one, epoch_ms, epoch_ms_of, finished_rollup, parsed_lines, repeat_entries,
    sample_rules, scrape_time_in_name,
)
from foundation.lake import Lake

REPO = Path(__file__).resolve().parents[2]
SPARK_PYTHON = Path(os.environ.get("BACKED_SPARK_PYTHON", REPO / ".venv-spark" / "bin" / "python"))
# Spark's own log to the data home's logs/spark.log, as on the dbt target (profiles.yml).
_LOG_CONFIG = REPO / "dbt_project" / "spark-log4j2.properties"
# Java's `$` also matches before a final `\r`, `\u0085`, `\u2028` or `\u2029`; in UNIX_LINES mode only before `\n`,
# which no line holds: the patterns then match what they match in polars.
_JAVA_UNIX_LINES = "(?d)"
_TAMPERED = "tampered.json"
_log = logging.getLogger(__name__)


class TelemetryRollupFailed(RuntimeError):
    """The Spark application rolling up a day's telemetry did not finish."""


def rollups_on_spark(files: list[InboxFile], day: date, lake: Lake) -> dict[tuple[str, str], RowSplit]:
    """Each of `files` (Prometheus text) rolled up by the Spark application: its RowSplit by (name, sha256)."""
    if not files:
        return {}
    if not SPARK_PYTHON.exists():
        raise TelemetryRollupFailed(f"BACKED_ENGINE=spark, but the Spark engine is not installed ({SPARK_PYTHON}): "
                                    "run `make spark-setup`, or unset BACKED_ENGINE to roll up on this machine")
    lake.home.spill.mkdir(parents=True, exist_ok=True)
    log = lake.home.spark_log
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="telemetry-spark-", dir=lake.home.spill) as folder:
        work = Path(folder)
        (work / "request.json").write_text(json.dumps({
            "day": day.isoformat(), "log": str(log),
            "files": [{"name": file.name, "path": str(file.path), "sha256": file.sha256} for file in files],
        }))
        # the pipeline's packages (polars, the project) after the Spark environment's own
        path = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
        completed = subprocess.run([str(SPARK_PYTHON), "-m", __name__, str(work)], capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": path}, check=False)
        if (work / _TAMPERED).exists():
            raise ArchiveTampered((work / _TAMPERED).read_text())
        if completed.returncode != 0:
            raise TelemetryRollupFailed(f"the Spark roll-up of {day}'s telemetry failed (exit status "
                                        f"{completed.returncode}); Spark's log is {log}:\n{completed.stderr[-3000:]}")
        splits = {}
        for number, file in enumerate(files):
            counts = json.loads((work / f"file-{number}.json").read_text())
            _log.info("%s: %d samples rolled up on Spark, %d of them checked in bulk", file.name,
                      counts["rows_in"] - counts["rows_quarantined"], counts["in_bulk"])
            splits[(file.name, file.sha256)] = RowSplit(
                accepted=pl.read_parquet(work / f"file-{number}-accepted.parquet"),
                rejected=pl.read_parquet(work / f"file-{number}-rejected.parquet"),
                rows_in=counts["rows_in"], rows_quarantined=counts["rows_quarantined"])
        return splits


# --- the application, in .venv-spark ------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    work = Path(argv[0])
    request = json.loads((work / "request.json").read_text())
    day, files = date.fromisoformat(request["day"]), request["files"]
    with ThreadPoolExecutor(max_workers=1) as hashing:
        # the archive is hashed while Spark reads it: a file changed since it was received stops the run
        digests = hashing.submit(lambda: [sha256_of(Path(file["path"])) for file in files])
        spark = _session(work, Path(request["log"]))
        try:
            splits, in_bulk = _rollups(spark, day, files, work)
        finally:
            spark.stop()
        changed = [file["path"] for file, digest in zip(files, digests.result()) if digest != file["sha256"]]
    if changed:
        (work / _TAMPERED).write_text(f"{changed[0]} no longer has the sha256 it was received with")
        return 1
    for number, (split, taken_in_bulk) in enumerate(zip(splits, in_bulk)):
        split.accepted.write_parquet(work / f"file-{number}-accepted.parquet")
        split.rejected.write_parquet(work / f"file-{number}-rejected.parquet")
        (work / f"file-{number}.json").write_text(json.dumps({
            "rows_in": split.rows_in, "rows_quarantined": split.rows_quarantined, "in_bulk": taken_in_bulk}))
    return 0


def _session(work: Path, log: Path):
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(os.environ.get("BACKED_SPARK_MASTER", "local[2]"))
        .appName("backed telemetry roll-up")
        .config("spark.driver.memory", os.environ.get("BACKED_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", os.environ.get("BACKED_SPARK_SHUFFLE_PARTITIONS", "4"))
        # shuffle and spill files in the data home's spill folder, removed with the run's work folder
        .config("spark.local.dir", str(work / "spark-local"))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions",
                f"-Dlog4j2.configurationFile={_LOG_CONFIG} -Dbacked.spark.log={log}")
        .getOrCreate()
    )


def _rollups(spark, day: date, files: list[dict], work: Path) -> tuple[list[RowSplit], list[int]]:
    """Each file's RowSplit, in the order of `files`, and how many of its samples were checked in bulk."""
    from pyspark.sql import functions as F

    gpus = GpuRegistry()
    known = KnownSeries(gpus, day)
    scraped_at = [scrape_time_in_name(file["name"]) for file in files]
    text = spark.read.option("lineSep", "\n").text([file["path"] for file in files]).select(
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.file_block_start").alias("block"),
        # increasing through each part of a file Spark reads: with the part's first line, the lines' numbers
        F.monotonically_increasing_id().alias("position"),
        F.col("value").alias("raw"),
        # Spark cuts lines at "\n" only, as the pipeline does, which then drops a "\r" before it
        F.when(F.endswith("value", F.lit("\r")), F.substr("value", F.lit(1), F.length("value") - 1))
        .otherwise(F.col("value")).alias("line"),
    )
    # cut at the first "} " (`substring_index` finds it by its bytes: cheaper than `instr`'s character position)
    cut_here = F.contains("line", F.lit("} "))
    cut = text.withColumn("series", F.when(cut_here, F.substring_index("line", "} ", 1))).withColumn(
        "tail", F.when(cut_here, F.substr("line", F.length("series") + 3)))

    # 1. the parts Spark read (to number the lines) and the distinct series, in one pass
    counted = cut.groupingSets([["file_path", "block"], ["series"]], "file_path", "block", "series").agg(
        F.min("position").alias("first_position"), F.count("*").alias("lines"),
        (F.grouping("series") == 1).alias("is_part"))
    counted = pl.from_arrow(counted.toArrow())
    parts = _numbered_parts(counted.filter(pl.col("is_part")), files, scraped_at)
    known.learn(counted.filter(~pl.col("is_part") & pl.col("series").is_not_null()).select("series"))
    ids = (pl.col("metric_id").cast(pl.Int64), pl.col("uuid_id").cast(pl.Int64), pl.col("label_id").cast(pl.Int64))
    series = spark.createDataFrame(known.known.select("series", *ids, "low", "high").to_arrow())

    # 2. every line checked against its series and the day, as `KnownSeries.bulk_samples` checks it
    value_text = F.substring_index("tail", " ", 1)
    timestamp_text = F.when(F.contains("tail", F.lit(" ")), F.substr("tail", F.length(value_text) + 2))
    parsed = value_text.try_cast("double")
    value = F.when(~F.isnan(parsed) & (F.abs(parsed) != F.lit(float("inf"))), parsed)
    timestamp_ms = F.coalesce(timestamp_text.try_cast("bigint"), F.col("scraped_ms"))
    stamped = timestamp_text.rlike(_JAVA_UNIX_LINES + TIMESTAMP_TEXT) | (
        timestamp_text.isNull() & F.col("scraped_ms").isNotNull())
    implausible = value.isNotNull() & ((value < F.col("low")) | (value > F.col("high")))
    passes = (
        F.col("metric_id").isNotNull()
        & value_text.rlike(_JAVA_UNIX_LINES + FLOAT_TEXT)
        & stamped
        & (timestamp_ms >= epoch_ms(day)) & (timestamp_ms < epoch_ms(day + timedelta(days=1)))
        & ~F.coalesce(implausible, F.lit(False))
        # bytes that are not UTF-8 (U+FFFD once decoded) are quarantined, so those lines go the long way
        & F.is_valid_utf8("raw") & ~F.contains("line", F.lit("\ufffd"))
    )
    checked = (
        cut.join(F.broadcast(spark.createDataFrame(parts.to_arrow())), ["file_path", "block"])
        .join(F.broadcast(series), "series", "left")
        .select("file_id", (F.col("first_row") + F.col("position") - F.col("first_position")).alias(SOURCE_ROW),
                "metric_id", "uuid_id", "label_id", value.alias("value"), timestamp_ms.alias("timestamp_ms"),
                F.coalesce(passes, F.lit(False)).alias("passes"), "raw")
        .withColumn("raw", F.when(~F.col("passes"), F.col("raw").cast("binary")))
    )
    checked.write.partitionBy("passes").parquet(str(work / "checked"))

    # 3. the lines written otherwise, one by one, file by file (the few that are not samples in the common form)
    others = _read_parquet(work / "checked" / "passes=false",
                           {"file_id": pl.Int64, SOURCE_ROW: pl.Int64, "raw": pl.Binary})
    rules = sample_rules(day)
    one_by_one, declared = [], []
    for number, file in enumerate(files):
        rows, types = parsed_lines(_decoded_lines(others.filter(pl.col("file_id") == number)))
        declared.append(types)
        one_by_one.append(checked_one_by_one(rows, rules, file["name"], scraped_at[number], gpus) if rows.height
                          else RowSplit(accepted=None, rejected=empty_rejections(), rows_in=0, rows_quarantined=0))
    samples = spark.read.parquet(str(work / "checked" / "passes=true")).drop("raw") if (
        work / "checked" / "passes=true").exists() else None
    accepted = [split.accepted.with_columns(pl.lit(number, dtype=pl.Int64).alias("file_id"))
                for number, split in enumerate(one_by_one) if split.accepted is not None]
    if accepted:
        extra = spark.createDataFrame(pl.concat(accepted).select(
            "file_id", SOURCE_ROW, *ids, pl.when(pl.col("value").is_finite()).then(pl.col("value")).alias("value"),
            "timestamp_ms").to_arrow())
        samples = extra if samples is None else samples.unionByName(extra)
    counters = {number for number, types in enumerate(declared) if types.get(XID_ERROR) == "counter"}
    figures, repeats, gaps = _figures(spark, samples, gpus, counters) if samples is not None else (
        _EMPTY_FIGURES, _EMPTY_REPEATS, {})

    # 4. each file's figures finished as the pipeline finishes them
    splits, in_bulk_counts = [], []
    for number, file in enumerate(files):
        split = one_by_one[number]
        mine = figures.filter(pl.col("file_id") == number)
        repeated = repeat_entries(repeats.filter(pl.col("file_id") == number).sort(SOURCE_ROW).cast(
            {"metric_id": pl.UInt32, "uuid_id": pl.UInt32}), gpus, file["name"])
        # a sample is a row in, whether it was checked in bulk or one by one
        in_bulk = int(mine.get_column("rows").sum()) - (split.accepted.height if split.accepted is not None else 0)
        in_bulk_counts.append(in_bulk)
        splits.append(RowSplit(
            accepted=finished_rollup(mine.drop("file_id", "rows", "repeats"), gpus, gaps.get(number)),
            rejected=pl.concat([split.rejected, repeated]),
            rows_in=in_bulk + split.rows_in,
            rows_quarantined=split.rows_quarantined + repeated.height,
        ))
    return splits, in_bulk_counts


def _numbered_parts(parts: pl.DataFrame, files: list[dict], scraped_at: list) -> pl.DataFrame:
    """Each part of a file Spark read (`file_path`, `block`: its first byte) with its file's number, the number of
    its first line in the file, its first line's position, and the scrape time the file's name gives."""
    numbers = {os.path.realpath(file["path"]): number for number, file in enumerate(files)}
    uris = parts.get_column("file_path").unique().to_list()
    file_ids = {uri: numbers[os.path.realpath(unquote(urlparse(uri).path))] for uri in uris}
    scraped_ms = {number: None if moment is None else epoch_ms_of(moment) for number, moment in enumerate(scraped_at)}
    return (
        parts.select("file_path", "block", "first_position", "lines",
                     pl.col("file_path").replace_strict(file_ids, return_dtype=pl.Int64).alias("file_id"))
        .sort("file_id", "block")
        .with_columns((pl.col("lines").cum_sum().over("file_id") - pl.col("lines") + 1).alias("first_row"))
        .with_columns(pl.col("file_id").replace_strict(scraped_ms, return_dtype=pl.Int64).alias("scraped_ms"))
        .drop("lines")
    )


def _read_parquet(folder: Path, schema: dict) -> pl.DataFrame:
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    return pl.read_parquet(files).select(list(schema)) if files else pl.DataFrame(schema=schema)


def _decoded_lines(rows: pl.DataFrame) -> pl.DataFrame:
    """Lines as the pipeline reads them (`source_row`, `line`): bytes that are not UTF-8 as U+FFFD, a "\r" before
    the newline dropped, and the byte order mark a file may start with."""
    rows = rows.sort(SOURCE_ROW)
    raw = rows.get_column("raw")
    try:
        text = raw.cast(pl.String)
    except pl.exceptions.ComputeError:
        # some line is not UTF-8 (rare): decoded one by one, as Python decodes the pipeline's batches
        text = pl.Series([None if line is None else line.decode("utf-8", errors="replace") for line in raw.to_list()],
                         dtype=pl.String)
    line = text.str.strip_suffix("\r")
    return rows.select(SOURCE_ROW, pl.when(pl.col(SOURCE_ROW) == 1).then(line.str.strip_prefix("\ufeff"))
                       .otherwise(line).alias("line"))


_FIGURES_SCHEMA = {
    "file_id": pl.Int64, "uuid_id": pl.UInt32, "label_id": pl.UInt32, "samples": pl.Int64, "gap_ms": pl.Int64,
    "util_mean": pl.Float64, "util_p95": pl.Float64, "temp_max": pl.Float64, "power_mean": pl.Float64,
    "xid_error_samples": pl.Int64, "first_ms": pl.Int64, "last_ms": pl.Int64, "xid_errors": pl.Int64, "rows": pl.Int64,
    "repeats": pl.Int64,
}
_EMPTY_FIGURES = pl.DataFrame(schema=_FIGURES_SCHEMA)
_EMPTY_REPEATS = pl.DataFrame(schema={"file_id": pl.Int64, SOURCE_ROW: pl.Int64, "metric_id": pl.Int64,
                                      "uuid_id": pl.Int64, "timestamp_ms": pl.Int64})


def _figures(spark, samples, gpus: GpuRegistry, counters: set[int]) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """The per-GPU figures of each file (`_bucket_rollup`'s, and `rows`: the samples read, repeats included), the
    repeated samples, and each file's smallest gap between its scrape times."""
    from pyspark.sql import functions as F

    def of(metric: str):
        ids = gpus.metric_ids((metric,))
        return F.col("metric_id").isin(ids) if ids else F.lit(False)

    mig = gpus.label_sets.filter(pl.col("mig_instance").is_not_null()).select(
        pl.col("label_id").cast(pl.Int64), "mig_instance")
    # most fleets have no MIG instance: the join is only paid where there is one
    samples = samples.join(F.broadcast(spark.createDataFrame(mig.to_arrow())), "label_id", "left") if mig.height \
        else samples.withColumn("mig_instance", F.lit(None).cast("string"))
    # A repeated sample would weigh twice in the day's means: the first one in the file stands. Each GPU's samples
    # are brought together once, for its repeats and then its figures (one shuffle, not two).
    keys = ["file_id", "metric_id", "uuid_id", "mig_instance", "timestamp_ms"]
    firsts = samples.repartition("file_id", "uuid_id").groupBy(*keys).agg(F.min(F.struct(SOURCE_ROW, "label_id", "value")).alias("first"),
                                        F.count("*").alias("copies"))
    kept = firsts.select(*keys, "first.*", "copies", (F.col("copies") - 1).alias("repeats"))
    if mig.height:
        # a GPU split into MIG instances: its sample is their mean utilisation and the highest of the rest
        kept = kept.groupBy("file_id", "metric_id", "uuid_id", "timestamp_ms").agg(
            F.min(F.struct(SOURCE_ROW, "label_id")).alias("first"),
            F.when(of(UTILISATION), F.avg("value")).otherwise(F.max("value")).alias("value"),
            F.sum("copies").alias("copies"),
            F.sum("repeats").alias("repeats"),
        ).select("file_id", "metric_id", "uuid_id", "timestamp_ms", "first.*", "value", "copies", "repeats")
    times = F.array_sort(F.collect_set("timestamp_ms"))
    per_gpu = kept.groupBy("file_id", "uuid_id").agg(
        F.max_by("label_id", F.struct("timestamp_ms", SOURCE_ROW)).alias("label_id"),
        times.alias("times"),
        _mean(F.when(of(UTILISATION), F.col("value"))).alias("util_mean"),
        _linear_p95(F.when(of(UTILISATION), F.col("value"))).alias("util_p95"),
        F.max(F.when(of(TEMPERATURE), F.col("value"))).alias("temp_max"),
        _mean(F.when(of(POWER), F.col("value"))).alias("power_mean"),
        F.count(F.when(of(XID_ERROR) & (F.col("value") != 0), True)).alias("xid_error_samples"),
        F.min("timestamp_ms").alias("first_ms"),
        F.max("timestamp_ms").alias("last_ms"),
        F.sum("copies").alias("rows"),
        F.sum("repeats").alias("repeats"),
    ).select("file_id", "uuid_id", "label_id", F.size("times").cast("bigint").alias("samples"),
             _smallest_gap(F.col("times")).alias("gap_ms"), "util_mean", "util_p95", "temp_max", "power_mean",
             "xid_error_samples", "first_ms", "last_ms", "rows", "repeats")
    if counters:
        # A counter that went down was reset: what it counts since the reset is its value.
        from pyspark.sql import Window

        delta = F.col("value") - F.lag("value").over(Window.partitionBy("file_id", "uuid_id").orderBy("timestamp_ms"))
        increases = kept.filter(F.col("file_id").isin(sorted(counters)) & of(XID_ERROR)).select(
            "file_id", "uuid_id", F.when(delta >= 0, delta).otherwise(F.when(delta.isNotNull(), F.col("value")))
            .alias("increase")).groupBy("file_id", "uuid_id").agg(F.sum("increase").alias("counter_increase"))
        per_gpu = per_gpu.join(increases, ["file_id", "uuid_id"], "left")
        xid_errors = F.when(F.col("file_id").isin(sorted(counters)),
                            F.round(F.coalesce("counter_increase", F.lit(0.0))).cast("bigint")
                            ).otherwise(F.col("xid_error_samples"))
    else:
        xid_errors = F.col("xid_error_samples")
    figures = pl.from_arrow(per_gpu.withColumn("xid_errors", xid_errors).toArrow())
    figures = figures.select(list(_FIGURES_SCHEMA)).cast(_FIGURES_SCHEMA) if figures.height else _EMPTY_FIGURES
    repeats = _EMPTY_REPEATS
    if figures.get_column("repeats").sum():
        stood = firsts.filter(F.col("copies") > 1).select(*(F.col(key).alias(f"stood_{key}") for key in keys),
                                                         F.col("first.source_row").alias("stood_row"))
        condition = [F.col(key).eqNullSafe(F.col(f"stood_{key}")) for key in keys]
        repeated = samples.join(F.broadcast(stood), condition).filter(F.col(SOURCE_ROW) != F.col("stood_row")).select(
            "file_id", SOURCE_ROW, "metric_id", "uuid_id", "timestamp_ms")
        found = pl.from_arrow(repeated.toArrow())
        repeats = found.cast(_EMPTY_REPEATS.schema) if found.height else _EMPTY_REPEATS
    scrape_times = samples.select("file_id", "timestamp_ms").distinct().groupBy("file_id").agg(
        _smallest_gap(F.array_sort(F.collect_list("timestamp_ms"))).alias("gap_ms"))
    gaps = {file_id: gap for file_id, gap in scrape_times.collect()}
    return figures, repeats, gaps


def _mean(values):
    """The mean of a group's values as polars computes it: summed in the order of the file with Kahan's
    compensation, so that both engines give the same figure to the last bit, however Spark split the group."""
    from pyspark.sql import functions as F

    ordered = F.transform(F.array_sort(F.collect_list(F.when(values.isNotNull(), F.struct(SOURCE_ROW, values.alias(
        "value"))))), lambda row: row["value"])

    def add(state, value):
        corrected = value - state["compensation"]
        total = state["total"] + corrected
        return F.struct(total.alias("total"), ((total - state["total"]) - corrected).alias("compensation"))

    start = F.struct(F.lit(0.0).alias("total"), F.lit(0.0).alias("compensation"))
    return F.when(F.size(ordered) > 0, F.aggregate(ordered, start, add)["total"] / F.size(ordered))


def _linear_p95(values):
    """The 95th percentile with linear interpolation between the two nearest values, computed as polars computes
    `quantile(0.95, "linear")` (Spark's `percentile` weighs the two the other way round, which can differ in the
    last bit)."""
    from pyspark.sql import functions as F

    ordered = F.array_sort(F.collect_list(values))
    count = F.size(ordered)
    position = F.lit(0.95) * (count - 1)
    below = F.floor(position)
    low = F.get(ordered, below.cast("int"))
    high = F.get(ordered, F.ceil(position).cast("int"))
    return F.when(count > 0, F.when(below == position, low).otherwise((high - low) * (position - below) + low))


def _smallest_gap(times):
    """The smallest gap between consecutive values of a sorted array of distinct times (null for fewer than two)."""
    from pyspark.sql import functions as F

    return F.array_min(F.transform(times, lambda time, index: F.when(index > 0, time - F.get(times, index - 1))))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
