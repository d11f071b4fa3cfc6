"""GPU telemetry: DCGM exporter scrapes in Prometheus text format (`inbox/telemetry/dcgm-<YYYY-MM-DD>.prom`)
rolled up per GPU per day into `gpu_telemetry_daily`.

The file is parsed as a column of lines with regular expressions (no per-line Python): a day of a large
fleet is millions of samples.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import polars as pl

from assets.inbox import FileIngestSummary, InboxFile, files_of_day, record_input_files
from assets.lake import SCHEMAS, Lake
from assets.row_validation import SOURCE_ROW, FieldRule, RowSplit, UnreadableFile, split_rows, validate_inbox_files

SOURCE = "telemetry"

UTILISATION = "DCGM_FI_DEV_GPU_UTIL"
TEMPERATURE = "DCGM_FI_DEV_GPU_TEMP"
POWER = "DCGM_FI_DEV_POWER_USAGE"
XID_ERROR = "DCGM_FI_DEV_XID_ERRORS"

# `metric{labels} value [timestamp_ms]`; a quoted label value may hold `}`, `,` and escaped quotes.
_SAMPLE_LINE = (
    r'^(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?'
    r'[ \t]+(?P<value>\S+)'
    r'(?:[ \t]+(?P<timestamp>\S+))?[ \t]*$'
)
# Matched left to right from the first label, so a label-like text inside a quoted value is never
# taken for a label of its own.
_LABEL_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\]|\\.)*"'
_FLOAT_TEXT = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Inf|inf)$|^NaN$"
_LABELS = {"UUID": "gpu_uuid", "serial": "gpu_serial", "Hostname": "hostname", "modelName": "model_name"}


def ingest_telemetry_day(day: date, lake: Lake) -> list[FileIngestSummary]:
    """Ingest the day's DCGM scrape files; rewrites the day's `gpu_telemetry_daily` partition."""
    validated = validate_inbox_files(
        lake, SOURCE, day, files_of_day(lake, SOURCE, day, "prom"), lambda scrapes: _validate(scrapes, day)
    )
    rollups = [
        gpu_daily_rollup(file.accepted).with_columns(
            pl.lit(file.inbox_file.name).alias("source_file"),
            pl.lit(file.inbox_file.sha256).alias("source_sha256"),
        )
        for file in validated
        if file.accepted is not None
    ]
    rows = pl.concat(rollups).to_arrow() if rollups else SCHEMAS["gpu_telemetry_daily"].empty_table()
    lake.write_table("gpu_telemetry_daily", day, rows)
    summaries = [file.summary for file in validated]
    record_input_files(lake, day, SOURCE, summaries)
    return summaries


def parse_samples(text: str) -> pl.DataFrame:
    """One row per sample line (comments and blank lines dropped), with its 1-based line number.

    Columns: source_row, line, metric, value_text, timestamp_text, gpu_uuid, gpu_serial, hostname, model_name.
    """
    lines = (
        pl.Series("line", [text]).str.split("\n").explode().str.strip_suffix("\r").to_frame()
        .with_row_index(SOURCE_ROW, offset=1)
        .with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
        .filter(~pl.col("line").str.contains(r"^[ \t]*(#.*)?$"))
    )
    parsed = lines.with_columns(pl.col("line").str.extract_groups(_SAMPLE_LINE).alias("sample")).unnest("sample")
    # A GPU repeats the same label set in every scrape: the label sets are parsed once each, then joined.
    label_pairs = pl.col("labels").str.extract_all(_LABEL_PAIR).list.eval(
        pl.element().str.replace(r'^([a-zA-Z0-9_]+)[ \t]*=[ \t]*"', '$1="')
    )
    label_sets = (
        parsed.select(pl.col("labels").unique().drop_nulls())
        .with_columns(label_pairs.alias("pairs"))
        .select("labels", *(_label_value(pl.col("pairs"), label).alias(column) for label, column in _LABELS.items()))
    )
    return parsed.join(label_sets, on="labels", how="left", maintain_order="left").select(
        SOURCE_ROW,
        "line",
        "metric",
        pl.col("value").alias("value_text"),
        pl.col("timestamp").alias("timestamp_text"),
        *_LABELS.values(),
    )


def gpu_daily_rollup(samples: pl.DataFrame) -> pl.DataFrame:
    """Per GPU: scrapes seen, scrape interval, minutes online and the day's utilisation, heat, power, errors.

    The scrape interval is the smallest positive gap between a GPU's scrapes, in whole seconds; a GPU scraped
    once takes the file's smallest gap, since one sample alone says nothing about the cadence.
    """
    measured = samples.with_columns(
        pl.when(pl.col("value").is_finite()).then(pl.col("value")).alias("value"),
    )
    per_gpu = measured.group_by("gpu_uuid").agg(
        pl.col("gpu_serial").sort_by("timestamp_ms").drop_nulls().last(),
        pl.col("hostname").sort_by("timestamp_ms").drop_nulls().last(),
        pl.col("model_name").sort_by("timestamp_ms").drop_nulls().last(),
        pl.col("timestamp_ms").n_unique().cast(pl.Int64).alias("samples"),
        _smallest_gap_ms(pl.col("timestamp_ms")).alias("gap_ms"),
        pl.col("value").filter(pl.col("metric") == UTILISATION).mean().alias("util_mean"),
        pl.col("value").filter(pl.col("metric") == UTILISATION).quantile(0.95, "linear").alias("util_p95"),
        pl.col("value").filter(pl.col("metric") == TEMPERATURE).max().alias("temp_max"),
        pl.col("value").filter(pl.col("metric") == POWER).mean().alias("power_mean"),
        ((pl.col("metric") == XID_ERROR) & (pl.col("value") != 0)).sum().cast(pl.Int64).alias("xid_error_samples"),
        pl.col("timestamp_ms").min().alias("first_ms"),
        pl.col("timestamp_ms").max().alias("last_ms"),
    )
    file_gap_ms = measured.select(
        _smallest_gap_ms(pl.col("timestamp_ms").unique()).alias("gap")
    ).item()
    # A file with a single scrape says nothing about the cadence: interval and minutes online stay null.
    gap_ms = pl.col("gap_ms") if file_gap_ms is None else pl.col("gap_ms").fill_null(file_gap_ms)
    interval_s = gap_ms.cast(pl.Float64).truediv(1000).round(0).cast(pl.Int64).clip(lower_bound=1)
    return per_gpu.with_columns(interval_s.alias("scrape_interval_s")).select(
        "gpu_uuid",
        "gpu_serial",
        "hostname",
        "model_name",
        "samples",
        "scrape_interval_s",
        (pl.col("samples") * pl.col("scrape_interval_s") / 60).cast(pl.Float64).alias("minutes_online"),
        pl.col("util_mean").cast(pl.Float64),
        pl.col("util_p95").cast(pl.Float64),
        pl.col("temp_max").cast(pl.Float64),
        pl.col("power_mean").cast(pl.Float64),
        "xid_error_samples",
        _as_timestamp(pl.col("first_ms")).alias("first_seen"),
        _as_timestamp(pl.col("last_ms")).alias("last_seen"),
    )


def _validate(scrapes: InboxFile, day: date) -> RowSplit:
    try:
        text = scrapes.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile("unreadable_file", "", f"not UTF-8 at byte {exc.start}") from exc
    samples = parse_samples(text).with_columns(
        pl.col("value_text").alias("value"),
        pl.col("timestamp_text").alias("timestamp"),
        pl.col("gpu_uuid").alias("UUID"),
    )
    day_start = _epoch_ms(day)
    day_end = _epoch_ms(day + timedelta(days=1))
    timestamp_ms = pl.col("timestamp_text").cast(pl.Int64, strict=False)
    well_formed_timestamp = pl.col("timestamp_text").str.contains(r"^-?\d{1,15}$")
    is_sample = pl.col("metric").is_not_null()
    rules = [
        FieldRule("line", "unparseable_line", ~is_sample),
        FieldRule("value", "invalid_value", is_sample & ~pl.col("value_text").str.contains(_FLOAT_TEXT)),
        FieldRule("timestamp", "missing_timestamp", is_sample & pl.col("timestamp_text").is_null()),
        FieldRule("timestamp", "invalid_timestamp", ~well_formed_timestamp),
        FieldRule(
            "timestamp",
            "outside_day",
            well_formed_timestamp & ((timestamp_ms < day_start) | (timestamp_ms >= day_end)),
        ),
        FieldRule("UUID", "missing_label", is_sample & pl.col("gpu_uuid").is_null()),
    ]
    well_formed = split_rows(samples, rules, scrapes.name)
    # A repeated sample would weigh twice in the day's means: the first well-formed one stands.
    repeated = FieldRule(
        "line", "duplicate_sample", ~pl.struct("metric", "gpu_uuid", "timestamp_text").is_first_distinct()
    )
    unique = split_rows(well_formed.accepted, [repeated], scrapes.name)
    accepted = unique.accepted.select(
        "metric",
        "gpu_uuid",
        "gpu_serial",
        "hostname",
        "model_name",
        pl.col("value_text").cast(pl.Float64).alias("value"),
        pl.col("timestamp_text").cast(pl.Int64).alias("timestamp_ms"),
    )
    return RowSplit(
        accepted=accepted,
        rejected=pl.concat([well_formed.rejected, unique.rejected]),
        rows_in=well_formed.rows_in,
        rows_quarantined=well_formed.rows_quarantined + unique.rows_quarantined,
    )


def _label_value(label_pairs: pl.Expr, label: str) -> pl.Expr:
    prefix = f'{label}="'
    quoted = label_pairs.list.eval(pl.element().filter(pl.element().str.starts_with(prefix))).list.first()
    escaped = quoted.str.strip_prefix(prefix).str.strip_suffix('"')
    # Prometheus escapes only backslash, quote and newline; the backslash pair is parked first so that
    # `\\n` stays a backslash followed by `n`.
    return (
        escaped.str.replace_all("\\\\", "\x00", literal=True)
        .str.replace_all('\\"', '"', literal=True)
        .str.replace_all("\\n", "\n", literal=True)
        .str.replace_all("\x00", "\\", literal=True)
    )


def _smallest_gap_ms(timestamps_ms: pl.Expr) -> pl.Expr:
    gaps = timestamps_ms.unique().sort().diff()
    return gaps.filter(gaps > 0).min()


def _as_timestamp(epoch_ms: pl.Expr) -> pl.Expr:
    return (epoch_ms * 1000).cast(pl.Datetime("us"))


def _epoch_ms(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp()) * 1000
