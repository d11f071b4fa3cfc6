"""GPU telemetry: NVIDIA DCGM exporter samples, in Prometheus text format or JSON lines, rolled up per GPU per day
into `gpu_telemetry_daily`, and joined to the loans' collateral in `collateral_gpu_daily`.

A day of a large fleet is tens of millions of samples (10,000 GPUs × 1,440 scrapes × 4 families = 57.6 million
lines, about 11 GB of text), so a file is never held whole: it is read in batches of lines, and reduced to compact
samples that are spilled to disk in buckets by GPU. Each bucket then holds every sample of its GPUs: repeats are
found and the day's figures computed one bucket at a time. Memory stays bounded by the batch and the bucket,
whatever the file's size.

Text in the exposition format is read in bulk: a thread reads and hashes the file ahead, two others hand each batch's
bytes to polars without a copy, cut its lines at the first `} ` into the series (`metric{labels`, the same text in
every scrape of a GPU's metric, parsed and checked once per file) and the value and timestamp, and check them with
polars' string kernels; no Python runs per line. The lines written otherwise (comments, tabs, labels holding `} `, a
rule broken) go the long way, as every line went before: cut by the anchored patterns of `parse_prometheus`, each
label block parsed, then checked by the rules, which quarantine what they turn away.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from queue import Full, Queue
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from assets.inbox.manifest import FileIngestSummary, record_input_files
from assets.inbox.register import ArchiveTampered, InboxFile, Recognition, current_files
from foundation.lake import SCHEMAS, Lake
from assets.inbox.row_validation import SOURCE_ROW, FieldRule, RowSplit, split_rows, validate_inbox_files
from assets.source import NO_SCRAPE_TIME
from assets.telemetry import inventory

SOURCE = "telemetry"
PROMETHEUS_FORMAT, JSONL_FORMAT = "dcgm_prometheus", "dcgm_jsonl"
# The Prometheus (or Thanos) HTTP API's answer to `query_range` (a matrix) or `query` (a vector), as teams export
# history: one JSON document, read whole (Prometheus caps a query's samples, `query.max-samples`, 50 million by
# default), its samples cut into batches like a text file's lines.
PROMETHEUS_API_FORMAT = "prometheus_api_json"
_API_BATCH_ROWS = 1_000_000
# Threads reading batches of text in bulk; a third reads and hashes the file ahead of them.
_PARSING_THREADS = 2

UTILISATION = "DCGM_FI_DEV_GPU_UTIL"
TEMPERATURE = "DCGM_FI_DEV_GPU_TEMP"
POWER = "DCGM_FI_DEV_POWER_USAGE"
XID_ERROR = "DCGM_FI_DEV_XID_ERRORS"

# Values no GPU reports: beyond them a sample is a unit or exporter error (°C, W, %).
PLAUSIBLE_RANGES = {UTILISATION: (0.0, 100.0), TEMPERATURE: (-40.0, 150.0), POWER: (0.0, 5_000.0),
                    XID_ERROR: (0.0, float(2**31))}

BATCH_BYTES = 32 * 1024 * 1024
# Samples per spill bucket are about the file's size over this; a bucket's samples are held at once.
BUCKET_SOURCE_BYTES = 256 * 1024 * 1024
MAX_BUCKETS = 64

# `metric{labels} value [timestamp_ms]`; a quoted label value may hold `}`, `,`, blanks and escaped quotes.
# A line is cut in three with cheap anchored patterns (the metric name from the start, value and timestamp from the
# end); what lies between is the label block, checked once per distinct block since a GPU repeats its block in
# every scrape. One pattern over the whole line would cost several times more per line.
_SAMPLE_LINE = (
    r'^(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?'
    r'[ \t]+(?P<value>\S+)'
    r'(?:[ \t]+(?P<timestamp>\S+))?[ \t]*$'
)
_METRIC_NAME = r"^([a-zA-Z_:][a-zA-Z0-9_:]*)"
# Neither a value nor a timestamp holds a quote or a brace, so the tail never starts inside the label block.
_VALUE_AND_TIMESTAMP = r'(?P<tail>[ \t]+(?P<value>[^ \t{}"]+)(?:[ \t]+(?P<timestamp>[^ \t{}"]+))?[ \t]*)$'
_LABEL_BLOCK = r'^\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\}$'
_TYPE_LINE = r"^#[ \t]+TYPE[ \t]+(?P<family>\S+)[ \t]+(?P<type>\S+)"
# Matched left to right from the first label, so a label-like text inside a quoted value is never
# taken for a label of its own.
_LABEL_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\]|\\.)*"'
FLOAT_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(Inf|inf)$|^NaN$"
TIMESTAMP_TEXT = r"^-?[0-9]{1,15}$"
# The exporter's labels read, by the column each fills. It writes `Hostname` (older releases) or `hostname`, never
# `serial` (the collateral register maps UUID to serial); a MIG instance's samples carry `GPU_I_ID` beside the GPU's
# UUID. Other labels (`gpu`, `device`, `pci_bus_id`, `DCGM_FI_DRIVER_VERSION`, `GPU_I_PROFILE`, a federation's
# `instance` and `job`) are kept in the label text only.
_LABELS = {"UUID": "gpu_uuid", "serial": "gpu_serial", "Hostname": "hostname", "hostname": "hostname_lower",
           "modelName": "model_name", "GPU_I_ID": "mig_instance"}
_DATE_IN_NAME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})")
# A raw scrape of the exporter's /metrics has no sample timestamps: its samples take the scrape time, written in its
# name in ISO 8601 UTC, basic (20260105T120000Z) or extended (2026-01-05T12:00:00Z, seconds' fractions allowed).
_SCRAPE_TIME_IN_NAME = re.compile(
    r"(?<![0-9])(?P<date>[0-9]{4}-?[0-9]{2}-?[0-9]{2})T(?P<hour>[0-9]{2}):?(?P<minute>[0-9]{2}):?(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,6}))?Z")
_SNIFF_BYTES = 8 * 1024 * 1024
_BYTE_ORDER_MARK = "\ufeff".encode()
# How far before a piece's planned end its newline is looked for: many lines.
_PIECE_SEARCH_BYTES = 64 * 1024
# Epoch milliseconds that fall on a calendar day (years 1 to 9999): a sample stamped outside them has no day.
_EPOCH = datetime(1970, 1, 1)
_DATED_EPOCH_MS = (-62_135_596_800_000, 253_402_300_799_999)

Batch = TypeVar("Batch")


@dataclass(frozen=True)
class LineBatch:
    first_line: int  # 1-based number of the batch's first line in the file
    text: str


def line_batches(path: Path, expected_sha256: str | None = None, batch_bytes: int = BATCH_BYTES,
                 limit_bytes: int | None = None) -> Iterator[LineBatch]:
    """The file's text in batches of whole lines; bytes that are not UTF-8 become U+FFFD (the line is then
    rejected). With `expected_sha256`, the bytes read are checked against it at the end."""
    line = 1
    for data in byte_batches(path, expected_sha256, batch_bytes, limit_bytes):
        yield LineBatch(line, str(data, "utf-8", errors="replace"))
        line += bytes(data).count(b"\n")


def byte_batches(path: Path, expected_sha256: str | None = None, batch_bytes: int = BATCH_BYTES,
                 limit_bytes: int | None = None) -> Iterator[memoryview]:
    """The file's bytes in batches of whole lines (a line longer than a batch is read whole), without the byte order
    mark a file may start with. With `expected_sha256`, the bytes read are checked against it at the end: the
    archived file is hashed in the same pass that reads it.

    Each batch is read into a buffer of its own, never reused, so that what is built on a batch without a copy
    (polars' lines) stays valid; only the part line at a batch's end is copied, to start the next one."""
    digest = hashlib.sha256()
    carry = b""
    read = 0
    first = True
    with path.open("rb", buffering=0) as stream:
        while True:
            buffer = bytearray(len(carry) + batch_bytes)
            view = memoryview(buffer)
            view[:len(carry)] = carry
            filled = len(carry)
            while filled < len(buffer):
                count = stream.readinto(view[filled:])
                if not count:
                    break
                filled += count
            chunk = view[len(carry):filled]
            read += len(chunk)
            digest.update(chunk)
            if not chunk:
                if carry:
                    yield _without_byte_order_mark(view[:filled]) if first else view[:filled]
                break
            cut = buffer.rfind(b"\n", len(carry), filled) + 1
            if cut == 0:
                carry = bytes(view[:filled])  # one line longer than a batch: keep reading
                continue
            carry = bytes(view[cut:filled])
            yield _without_byte_order_mark(view[:cut]) if first else view[:cut]
            first = False
            if limit_bytes is not None and read >= limit_bytes:
                return
    if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
        raise ArchiveTampered(f"{path} no longer has the sha256 {expected_sha256} it was received with")


def _without_byte_order_mark(data: memoryview) -> memoryview:
    return data[len(_BYTE_ORDER_MARK):] if data[:len(_BYTE_ORDER_MARK)] == _BYTE_ORDER_MARK else data


def read_ahead(batches: Iterator[Batch], depth: int = 1) -> Iterator[Batch]:
    """`batches`, read by a thread of their own up to `depth` batches ahead of their consumer: reading the disk and
    hashing (hashlib lets go of the GIL) run beside the parsing. A failure of the reading, a tampered archive
    included, is raised to the consumer in its place; a consumer that stops early stops the thread."""
    handed: Queue[tuple[Batch | None, BaseException | None]] = Queue(maxsize=depth)
    stopped = threading.Event()

    def hand(item: tuple[Batch | None, BaseException | None]) -> bool:
        while not stopped.is_set():
            try:
                handed.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not hand((batch, None)):
                    return
            hand((None, None))
        except BaseException as problem:  # handed over whole, re-raised by the consumer
            hand((None, problem))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="telemetry-reader", daemon=True)
    reader.start()
    try:
        while True:
            batch, problem = handed.get()
            if problem is not None:
                raise problem
            if batch is None:
                return
            yield batch
    finally:
        stopped.set()
        reader.join()


def _decoded(data: bytes, first_line: int) -> str:
    text = data.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff") if first_line == 1 else text


def scrape_time_in_name(name: str) -> datetime | None:
    """The UTC scrape time a raw scrape's file name carries (`dcgm-20260105T120000Z.prom`,
    `node-03_2026-01-05T12:00:00Z.txt`), or None."""
    found = _SCRAPE_TIME_IN_NAME.search(name)
    if found is None:
        return None
    day = found.group("date").replace("-", "")
    try:
        return datetime(int(day[:4]), int(day[4:6]), int(day[6:]), int(found.group("hour")), int(found.group("minute")),
                        int(found.group("second")), int((found.group("fraction") or "0").ljust(6, "0")))
    except ValueError:
        return None


def scrape_series(name: str) -> str | None:
    """The series a raw scrape belongs to: its name with the scrape time as `*` (`node-03-*.prom`), the day's
    scrapes of one exporter by one collector; None for a name without a scrape time."""
    found = _SCRAPE_TIME_IN_NAME.search(name)
    return None if found is None else name[:found.start()] + "*" + name[found.end():]


def _series_rollup(snapshots: pl.DataFrame) -> pl.DataFrame:
    """The day's raw scrapes of a series, each one moment per GPU, rolled up per GPU as one file of all their
    samples would be: samples summed, utilisation and power averaged over the samples, the 95th percentile over
    them, the highest temperature, the interval the smallest gap between scrapes. The row's `source_file` is the
    series (`node-03-*.prom`) and its `source_sha256` the sha256 of its files' sha256s, sorted: each file stays in
    `input_files`. The stock exporter's XID field is a gauge (the last error), so its errors are the samples that
    carry one."""
    series_gap = snapshots.group_by("series").agg(
        (_smallest_gap_expr(pl.col("first_seen").dt.epoch("ms")) // 1000).alias("series_gap_s"))
    members = snapshots.select("series", "source_sha256").unique().group_by("series").agg(
        pl.col("source_sha256").sort().str.join("\n").alias("members"))
    # one digest per series (a few a day), not per row
    members = members.with_columns(pl.Series("series_sha256", [
        hashlib.sha256(text.encode()).hexdigest() for text in members.get_column("members")], dtype=pl.String))
    weight = pl.col("samples")
    rolled = (
        snapshots.sort("first_seen").group_by("series", "gpu_uuid", maintain_order=True).agg(
            pl.col("gpu_serial").drop_nulls().last(),
            pl.col("hostname").drop_nulls().last(),
            pl.col("model_name").drop_nulls().last(),
            weight.sum().alias("samples"),
            ((pl.col("util_mean") * weight).sum() / weight.filter(pl.col("util_mean").is_not_null()).sum())
            .alias("util_mean"),
            pl.col("util_mean").quantile(0.95, "linear").alias("util_p95"),
            pl.col("temp_max").max(),
            ((pl.col("power_mean") * weight).sum() / weight.filter(pl.col("power_mean").is_not_null()).sum())
            .alias("power_mean"),
            pl.col("xid_error_samples").sum(),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("xid_errors").sum(),
        )
        .join(series_gap, on="series", how="left")
        .join(members, on="series", how="left")
    )
    return rolled.select(
        "gpu_uuid", "gpu_serial", "hostname", "model_name", "samples",
        pl.col("series_gap_s").cast(pl.Int64).alias("scrape_interval_s"),
        (pl.col("samples") * pl.col("series_gap_s") / 60).cast(pl.Float64).alias("minutes_online"),
        pl.col("util_mean").cast(pl.Float64), pl.col("util_p95").cast(pl.Float64), "temp_max",
        pl.col("power_mean").cast(pl.Float64), "xid_error_samples", "first_seen", "last_seen", "xid_errors",
        pl.col("series").alias("source_file"), pl.col("series_sha256").alias("source_sha256"),
    )


def parse_prometheus(batch: LineBatch) -> tuple[pl.DataFrame, dict[str, str]]:
    """One row per sample line of the batch (comments and blank lines are not rows), and the `# TYPE` of each
    family declared in it.

    Columns: source_row, line, metric, labels (the raw label text), value_text, timestamp_text, gpu_uuid, gpu_serial,
    hostname, model_name, mig_instance.
    """
    return parsed_lines(_lines(batch))


def parsed_lines(lines: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """`parse_prometheus` of lines already cut (`source_row`, `line`): each line on its own, however it is written."""
    types = (
        lines.filter(pl.col("line").str.starts_with("#"))
        .select(pl.col("line").str.extract_groups(_TYPE_LINE).alias("declared")).unnest("declared")
        .drop_nulls()
    )
    samples = lines.filter(~pl.col("line").str.contains(r"^[ \t]*(#.*)?$"))
    line = pl.col("line")
    # one select: polars runs the two patterns side by side
    cut = samples.select(
        SOURCE_ROW, "line",
        line.str.extract(_METRIC_NAME, 1).alias("metric"),
        line.str.extract_groups(_VALUE_AND_TIMESTAMP).alias("tail_parts"),
    ).unnest("tail_parts")
    block_start = pl.col("metric").str.len_chars()
    cut = cut.with_columns(
        line.str.slice(block_start, line.str.len_chars() - block_start - pl.col("tail").str.len_chars()).alias("block")
    )
    # A GPU repeats the same label block in every scrape: each distinct block is checked and parsed once, then joined.
    blocks = _label_blocks(cut.select(pl.col("block").unique().drop_nulls()))
    parsed = cut.join(blocks, on="block", how="left", maintain_order="left")
    is_sample = pl.col("well_formed").fill_null(False)
    rows = parsed.select(
        SOURCE_ROW, "line",
        pl.when(is_sample).then(pl.col("metric")).alias("metric"),
        pl.col("block").alias("labels"),
        pl.when(is_sample).then(pl.col("value")).alias("value_text"),
        pl.when(is_sample).then(pl.col("timestamp")).alias("timestamp_text"),
        *_label_columns(),
    )
    return rows, dict(zip(types.get_column("family").to_list(), types.get_column("type").to_list()))


def _label_blocks(blocks: pl.DataFrame) -> pl.DataFrame:
    """Each label block (`block`, `{...}` or empty) whether it is well formed, and the labels read from it."""
    label_pairs = pl.col("labels").str.extract_all(_LABEL_PAIR).list.eval(
        pl.element().str.replace(r'^([a-zA-Z0-9_]+)[ \t]*=[ \t]*"', '$1="')
    )
    return (
        blocks.with_columns(pl.col("block").str.extract(_LABEL_BLOCK, 1).alias("labels"))
        .with_columns(((pl.col("block") == "") | pl.col("labels").is_not_null()).alias("well_formed"),
                      label_pairs.alias("pairs"))
        .select("block", "well_formed",
                *(_label_value(pl.col("pairs"), label).alias(column) for label, column in _LABELS.items()))
    )


def parse_json_lines(batch: LineBatch) -> tuple[pl.DataFrame, dict[str, str]]:
    """JSON lines, one sample per line: `{"metric": "DCGM_FI_DEV_GPU_UTIL", "labels": {"UUID": "GPU-…", ...},
    "value": 87, "timestamp_ms": 1767571200000}` (a value may be "NaN", "+Inf" or "-Inf"). Same columns as
    `parse_prometheus`; a line that is not such an object has no metric."""
    lines = _lines(batch).filter(~pl.col("line").str.contains(r"^[ \t]*$"))
    line = pl.col("line")
    rows = lines.select(
        SOURCE_ROW,
        "line",
        line.str.json_path_match("$.metric").alias("metric"),
        line.str.json_path_match("$.labels").alias("labels"),
        line.str.json_path_match("$.value").alias("value_text"),
        line.str.json_path_match("$.timestamp_ms").alias("timestamp_text"),
        *(line.str.json_path_match(f"$.labels.{label}").alias(column) for label, column in _LABELS.items()),
    ).select(SOURCE_ROW, "line", "metric", "labels", "value_text", "timestamp_text", *_label_columns())
    return rows, {}


def _label_columns() -> list[pl.Expr]:
    """The label columns of a parsed batch: `hostname` from either spelling of the exporter's label."""
    return [pl.col("gpu_uuid"), pl.col("gpu_serial"), pl.coalesce("hostname", "hostname_lower").alias("hostname"),
            pl.col("model_name"), pl.col("mig_instance")]


def looks_like_prometheus_api(head: str) -> bool:
    start = head.lstrip()
    # a success names its resultType, a failure its errorType
    return start.startswith("{") and '"status"' in start and ('"resultType"' in start or '"errorType"' in start)


class PrometheusApiError(ValueError):
    """The document is not a successful query answer with a matrix or a vector (the reason says what it is)."""


# The labels read from a series' `metric` object (others, such as `instance` and `job`, are not needed).
_API_LABELS = ("__name__", *_LABELS)


def parse_prometheus_api(text: str) -> pl.DataFrame:
    """One row per sample of a query answer, in document order (series by series; `source_row` counts samples from
    1): the columns of `parse_prometheus`, `timestamp_text` in epoch milliseconds (the API gives seconds with up to
    three decimals). Raises PrometheusApiError for an error answer, a scalar or string result, or bad JSON."""
    pair = pl.List(pl.String)
    dtype = pl.Struct({"status": pl.String, "error": pl.String, "errorType": pl.String, "data": pl.Struct({
        "resultType": pl.String,
        "result": pl.List(pl.Struct({"metric": pl.Struct({label: pl.String for label in _API_LABELS}),
                                     "values": pl.List(pair), "value": pair}))})})
    try:
        answer = pl.Series([text]).str.json_decode(dtype).struct.unnest()
    except pl.exceptions.PolarsError as exc:
        raise PrometheusApiError(f"not a JSON document the Prometheus HTTP API writes: {str(exc).splitlines()[0]}")
    status, kind = answer.select(pl.col("status"), pl.col("data").struct.field("resultType")).row(0)
    if status != "success":
        error = answer.select(pl.col("errorType"), pl.col("error")).row(0)
        raise PrometheusApiError(f"the answer's status is {status!r} ({': '.join(e for e in error if e) or 'no error'})")
    if kind not in ("matrix", "vector"):
        raise PrometheusApiError(f"a {kind!r} result, not a matrix (query_range) or a vector (query)")
    series = (answer.select(pl.col("data").struct.field("result")).explode("result").unnest("result")
              .filter(pl.col("metric").is_not_null()))
    # a matrix gives each series its `values`, a vector one `value`: one [seconds, value] pair per sample
    pairs = (series.select("metric", pl.col("values").alias("pair")).explode("pair") if kind == "matrix"
             else series.select("metric", pl.col("value").alias("pair")))
    seconds = pl.col("pair").list.get(0, null_on_oob=True)
    parts = seconds.str.extract_groups(r"^(?P<whole>-?[0-9]{1,12})(?:\.(?P<fraction>[0-9]{1,3}))?$")
    label = {name: pl.col("metric").struct.field(name) for name in _API_LABELS}
    labels = pl.struct(*(label[name] for name in _LABELS)).struct.json_encode()
    rows = pairs.with_row_index(SOURCE_ROW, offset=1).select(
        pl.col(SOURCE_ROW).cast(pl.Int64),
        pl.format("{} {} {} {}", label["__name__"], labels, seconds,
                  pl.col("pair").list.get(1, null_on_oob=True)).alias("line"),
        label["__name__"].alias("metric"),
        labels.alias("labels"),
        pl.col("pair").list.get(1, null_on_oob=True).alias("value_text"),
        # whole seconds and milliseconds, as text: `invalid_timestamp` names a time that is neither
        pl.when(parts.struct.field("whole").is_not_null())
        .then(pl.concat_str(parts.struct.field("whole"),
                            parts.struct.field("fraction").fill_null("").str.pad_end(3, "0")))
        .otherwise(seconds).alias("timestamp_text"),
        *(label[name].alias(column) for name, column in _LABELS.items()),
    )
    return rows.select(SOURCE_ROW, "line", "metric", "labels", "value_text", "timestamp_text", *_label_columns())


def recognise(path: Path, file_format: str, name: str) -> Recognition:
    """A scrape file's day: for a raw scrape (samples without timestamps), the day of the scrape time its name gives
    (refused without one); else the UTC day of its first timestamped sample, or the date in its name."""
    if file_format == PROMETHEUS_API_FORMAT:
        return _recognise_api_answer(path)
    parse = parse_prometheus if file_format == PROMETHEUS_FORMAT else parse_json_lines
    scraped_at = scrape_time_in_name(name)
    saw_samples = False
    for batch in line_batches(path, batch_bytes=1024 * 1024, limit_bytes=_SNIFF_BYTES):
        samples, _ = parse(batch)
        saw_samples = saw_samples or samples.select(pl.col("metric").is_not_null().any()).item()
        unstamped = samples.select((pl.col("metric").is_not_null() & pl.col("timestamp_text").is_null()).any()).item()
        if unstamped and scraped_at is not None:
            return Recognition(SOURCE, file_format, "dcgm", scraped_at.date())
        stamped = pl.col("timestamp_text").str.contains(TIMESTAMP_TEXT)
        first = samples.select(
            pl.col("timestamp_text").filter(
                pl.col("metric").is_not_null() & stamped
                & pl.col("timestamp_text").cast(pl.Int64, strict=False).is_between(*_DATED_EPOCH_MS)
            ).first()
        ).item()
        if first is not None:
            return Recognition(SOURCE, file_format, "dcgm", (_EPOCH + timedelta(milliseconds=int(first))).date())
    if scraped_at is not None:
        return Recognition(SOURCE, file_format, "dcgm", scraped_at.date())
    if saw_samples:
        return Recognition(SOURCE, file_format, "dcgm", problem=NO_SCRAPE_TIME,
                           detail="a raw scrape: its samples carry no timestamp and its name no scrape time; name it "
                                  "with the UTC time it was scraped (dcgm-20260105T120000Z.prom) or give `backed "
                                  "ingest --scraped-at 2026-01-05T12:00:00Z`")
    in_name = _DATE_IN_NAME.search(name)
    if in_name:
        try:
            return Recognition(SOURCE, file_format, "dcgm", date.fromisoformat(in_name.group(1)))
        except ValueError:
            pass
    return Recognition(SOURCE, file_format, "dcgm", problem="no_as_of_date",
                       detail="no timestamped sample in the first 8 MiB and no date in the file name")


def _recognise_api_answer(path: Path) -> Recognition:
    """A query answer's day: the UTC day of its first sample."""
    try:
        samples = parse_prometheus_api(_decoded(path.read_bytes(), first_line=1))
    except PrometheusApiError as exc:
        return Recognition(SOURCE, PROMETHEUS_API_FORMAT, "dcgm", problem="not_a_query_answer", detail=str(exc))
    first = samples.select(pl.col("timestamp_text").filter(
        pl.col("metric").is_not_null()
        & pl.col("timestamp_text").cast(pl.Int64, strict=False).is_between(*_DATED_EPOCH_MS)).first()).item()
    if first is None:
        return Recognition(SOURCE, PROMETHEUS_API_FORMAT, "dcgm", problem="no_as_of_date",
                           detail="the answer holds no sample with a time")
    return Recognition(SOURCE, PROMETHEUS_API_FORMAT, "dcgm", (_EPOCH + timedelta(milliseconds=int(first))).date())


@dataclass(frozen=True)
class _SampleBatch:
    """A batch of a file: the samples that passed every check in bulk, as spilled (`source_row`, `metric_id`,
    `uuid_id`, `label_id`, `value`, `timestamp_ms`); the rows left to the rules one by one (`parse_prometheus`'s
    columns); the `# TYPE` of each family declared in the batch."""

    in_bulk: pl.DataFrame | None
    rows: pl.DataFrame
    declared: dict[str, str]


def _sample_batches(scrapes: InboxFile, series: KnownSeries, scraped_at: datetime | None) -> Iterator[_SampleBatch]:
    """The file's samples batch by batch: a text file's batches of lines, a query answer's samples in slices."""
    if scrapes.format == PROMETHEUS_API_FORMAT:
        samples = parse_prometheus_api(_decoded(scrapes.read_bytes(), first_line=1))
        for start in range(0, max(samples.height, 1), _API_BATCH_ROWS):
            yield _SampleBatch(None, samples.slice(start, _API_BATCH_ROWS), {})
        return
    if scrapes.format != PROMETHEUS_FORMAT:
        for batch in read_ahead(line_batches(scrapes.path, scrapes.sha256, BATCH_BYTES)):
            yield _SampleBatch(None, *parse_json_lines(batch))
        return
    scraped_ms = None if scraped_at is None else epoch_ms_of(scraped_at)
    # Batches are read in bulk on two threads (polars lets go of the GIL), and handed on in file order.
    parsing = ThreadPoolExecutor(max_workers=_PARSING_THREADS, thread_name_prefix="telemetry-parse")
    batches = read_ahead(byte_batches(scrapes.path, scrapes.sha256, BATCH_BYTES))
    read: deque[Future[tuple[pl.DataFrame, pl.DataFrame, int]]] = deque()
    first_line = 1
    try:
        for data in itertools.chain(batches, [None]):
            if data is not None:
                read.append(parsing.submit(_read_in_bulk, data, series, scraped_ms))
            while read and (data is None or len(read) >= _PARSING_THREADS):
                in_bulk, others, line_count = read.popleft().result()
                # the batch's lines were numbered from 1
                in_bulk, others = (frame.with_columns(pl.col(SOURCE_ROW) + (first_line - 1))
                                   for frame in (in_bulk, others))
                first_line += line_count
                yield _SampleBatch(in_bulk, *parsed_lines(others))
    finally:
        batches.close()
        parsing.shutdown(cancel_futures=True)


def _read_in_bulk(data: memoryview, series: KnownSeries, scraped_ms: int | None
                  ) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """`KnownSeries.bulk_samples` of a batch of bytes, its lines numbered from 1; and the number of its lines."""
    lines, replaced, ascii_only = _line_frame(data, first_line=1)
    in_bulk, others = series.bulk_samples(lines, scraped_ms, may_hold_replacement=replaced, ascii_only=ascii_only)
    return in_bulk, others, lines.height


def _line_frame(data: memoryview, first_line: int) -> tuple[pl.DataFrame, bool, bool]:
    """The batch's lines (`source_row`, `line`); whether a line may hold U+FFFD (bytes that are not UTF-8 become
    U+FFFD as Python decodes them, and each line holding one is rejected as `invalid_encoding`); and whether the
    lines are ASCII, whose byte offsets are their characters'.

    The batch is handed to polars without a copy, as a few pieces cut after newlines, so that polars splits them into
    lines on every core. A piece's last newline leaves an empty text after it, which is no line."""
    cuts = _piece_ends(data, 2 * pl.thread_pool_size())
    binary = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(cuts) - 1, [
        None, pa.py_buffer(np.array(cuts, dtype=np.int64)), pa.py_buffer(data)])
    try:
        text = pl.Series("piece", pl.from_arrow(binary)).cast(pl.String)
    except pl.exceptions.ComputeError:  # not UTF-8
        text = pl.Series("piece", [str(data, "utf-8", errors="replace")])
    (replaced, returns, ascii_only), = text.to_frame().select(
        pl.col("piece").str.contains("\ufffd", literal=True).any().alias("replaced"),
        pl.col("piece").str.contains("\r", literal=True).any().alias("returns"),
        (pl.col("piece").str.len_bytes().sum() == pl.col("piece").str.len_chars().sum()).alias("ascii_only"),
    ).rows()
    lines = text.to_frame().select(pl.col("piece").str.split("\n").alias("lines"),
                                   pl.col("piece").str.ends_with("\n").cast(pl.UInt32).alias("ends")).select(
        pl.col("lines").list.head(pl.col("lines").list.len() - pl.col("ends")).alias("line")).explode("line")
    if returns:
        lines = lines.select(pl.col("line").str.strip_suffix("\r"))
    return (lines.with_row_index(SOURCE_ROW, offset=first_line).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64)),
            replaced, ascii_only)


def _piece_ends(data: memoryview, count: int) -> list[int]:
    """Offsets cutting `data` in about `count` pieces just after newlines (0 first, the length last); a piece with
    no newline near its end is left whole with the next."""
    cuts = [0]
    for part in range(1, count):
        target = len(data) * part // count
        window = bytes(data[max(cuts[-1], target - _PIECE_SEARCH_BYTES):target])
        found = window.rfind(b"\n")
        if found >= 0:
            cuts.append(target - len(window) + found + 1)
    cuts.append(len(data))
    return cuts


def looks_like_prometheus(head: str) -> bool:
    first = next((line for line in head.splitlines() if line.strip()), "")
    return first.startswith("# HELP") or first.startswith("# TYPE") or re.match(_SAMPLE_LINE, first) is not None


def looks_like_json_lines(head: str) -> bool:
    first = next((line for line in head.splitlines() if line.strip()), "")
    try:
        sample = json.loads(first)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than any sample
        return False
    return isinstance(sample, dict) and "metric" in sample and "value" in sample


# What rolls up a day's files of Prometheus text elsewhere (on Spark): each file's RowSplit by (name, sha256).
TextRollups = Callable[[list[InboxFile], date, Lake], dict[tuple[str, str], RowSplit]]


def ingest_telemetry_day(day: date, lake: Lake, text_rollups: TextRollups | None = None) -> list[FileIngestSummary]:
    """Ingest the day's DCGM files and GPU inventories; rewrites the day's `gpu_telemetry_daily` and `gpu_inventory`
    partitions. With `text_rollups`, the files of Prometheus text are parsed, checked and rolled up by it, each to
    the same RowSplit `_validate` gives."""
    files, _ = current_files(lake, SOURCE, day)
    rolled_up = text_rollups([file for file in files if file.format == PROMETHEUS_FORMAT], day, lake) \
        if text_rollups is not None else {}

    def validate(file: InboxFile) -> RowSplit:
        if file.format == inventory.INVENTORY_FORMAT:
            return inventory.validate(file)
        return rolled_up.get((file.name, file.sha256)) or _validate(file, day, lake)

    validated = validate_inbox_files(lake, SOURCE, day, files, validate)
    rollups, listed, snapshots = [], [], []
    for file in validated:
        if file.accepted is None:
            continue
        if file.inbox_file.format == inventory.INVENTORY_FORMAT:
            listed.append(file.accepted)
            continue
        rollup = file.accepted.with_columns(pl.lit(file.inbox_file.name).alias("source_file"),
                                            pl.lit(file.inbox_file.sha256).alias("source_sha256"))
        series = scrape_series(file.inbox_file.name)
        one_moment = rollup.select((pl.col("first_seen").n_unique() == 1).alias("one_time"),
                                   (pl.col("first_seen") == pl.col("last_seen")).all().alias("one_scrape")
                                   ).row(0) == (True, True)
        if series is not None and rollup.height and one_moment:
            snapshots.append(rollup.with_columns(pl.lit(series).alias("series")))
        else:
            rollups.append(rollup)
    if snapshots:
        rollups.append(_series_rollup(pl.concat(snapshots)))
    lake.write_table("gpu_inventory", day,
                     pl.concat(listed).to_arrow() if listed else SCHEMAS["gpu_inventory"].empty_table())
    rows = SCHEMAS["gpu_telemetry_daily"].empty_table()
    if rollups:
        # The stock exporter writes no serial: a GPU's is the latest inventory's up to the day (today's included).
        rows = (pl.concat(rollups).join(inventory.serials_as_of(day, lake), on="gpu_uuid", how="left",
                                        maintain_order="left")
                .with_columns(pl.coalesce("gpu_serial", "inventory_serial").alias("gpu_serial"))
                .drop("inventory_serial").to_arrow())
    lake.write_table("gpu_telemetry_daily", day, rows)
    summaries = [file.summary for file in validated]
    record_input_files(lake, day, SOURCE, summaries)
    return summaries


def join_collateral_telemetry(day: date, lake: Lake) -> int:
    """`collateral_gpu_daily`: every GPU of the day's collateral schedules with its telemetry of the day, matched by
    serial (or by UUID where the schedule names the GPU by UUID). A GPU with no telemetry has `reporting` false.
    Returns the number of collateral GPUs that did not report."""
    collateral = lake.read_table("loan_collateral", day)
    telemetry = lake.read_table("gpu_telemetry_daily", day)
    collateral = pl.from_arrow(collateral if collateral is not None else SCHEMAS["loan_collateral"].empty_table())
    telemetry = pl.from_arrow(telemetry if telemetry is not None else SCHEMAS["gpu_telemetry_daily"].empty_table())
    # A GPU seen in two files of the day (two collectors) counts with the file that saw it most.
    per_gpu = telemetry.sort("samples", "source_file", "source_sha256", descending=[True, False, False]).unique(
        "gpu_uuid", keep="first", maintain_order=True)
    figures = ["samples", "minutes_online", "util_mean", "util_p95", "temp_max", "power_mean", "xid_error_samples",
               "last_seen"]
    reported = per_gpu.select(
        "gpu_uuid", pl.col("gpu_serial").alias("reported_serial"), *figures,
        pl.col("source_file").alias("telemetry_source_file"), pl.col("source_sha256").alias("telemetry_source_sha256"),
    )
    by_serial = collateral.filter(pl.col("gpu_serial").is_not_null()).drop("gpu_uuid").join(
        reported.filter(pl.col("reported_serial").is_not_null()).unique("reported_serial", keep="first",
                                                                          maintain_order=True),
        left_on="gpu_serial", right_on="reported_serial", how="left")
    by_uuid = collateral.filter(pl.col("gpu_serial").is_null()).join(
        reported.drop("reported_serial"), on="gpu_uuid", how="left")
    joined = pl.concat([by_serial, by_uuid], how="diagonal_relaxed").with_columns(
        pl.col("samples").is_not_null().alias("reporting"),
        pl.col("samples").fill_null(0),
    )
    rows = joined.select(SCHEMAS["collateral_gpu_daily"].names[1:])
    lake.write_table("collateral_gpu_daily", day, rows.to_arrow())
    return int(rows.filter(~pl.col("reporting")).height)


# --- one file ---------------------------------------------------------------------------------------------------

def _validate(scrapes: InboxFile, day: date, lake: Lake) -> RowSplit:
    """Parse, check and roll up one file. The accepted frame is the per-GPU rollup (the samples are not kept)."""
    buckets = max(1, min(MAX_BUCKETS, scrapes.size_bytes // BUCKET_SOURCE_BYTES))
    spill_root = lake.home.spill
    spill_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="telemetry-", dir=spill_root) as spill_dir:
        spill = _Spill(Path(spill_dir), buckets)
        gpus = GpuRegistry()
        series = KnownSeries(gpus, day)
        rejected, rows_in, rows_quarantined = [], 0, 0
        timestamps: list[pl.Series] = []
        types: dict[str, str] = {}
        rules = sample_rules(day)
        scraped_at = scrape_time_in_name(scrapes.name)
        for batch in _sample_batches(scrapes, series, scraped_at):
            types.update(batch.declared)
            # the samples checked in bulk broke no rule: they are rows in, none quarantined
            accepted_parts = [batch.in_bulk] if batch.in_bulk is not None else []
            rows_in += sum(frame.height for frame in accepted_parts)
            if batch.rows.height:  # a batch of the text format read whole in bulk has none (its comments are no rows)
                split = checked_one_by_one(batch.rows, rules, scrapes.name, scraped_at, gpus)
                rows_in += split.rows_in
                rows_quarantined += split.rows_quarantined
                rejected.append(split.rejected)
                if split.accepted is not None:
                    accepted_parts.append(split.accepted)
            if not accepted_parts:
                continue
            accepted = pl.concat(accepted_parts)
            timestamps.append(accepted.get_column("timestamp_ms").unique())
            spill.write(accepted)
        spill.close()
        file_gap_ms = _smallest_gap(pl.concat(timestamps).unique().sort() if timestamps else pl.Series([], dtype=pl.Int64))
        counters = {metric for metric, kind in types.items() if kind == "counter"}
        rollups = []
        for bucket in spill.buckets():
            repeats, rollup = _bucket_rollup(bucket, gpus, counters, scrapes.name)
            rejected.append(repeats)
            rows_quarantined += repeats.height
            rollups.append(rollup)
    rollup = pl.concat(rollups) if rollups else _empty_rollup()
    return RowSplit(
        accepted=finished_rollup(rollup, gpus, file_gap_ms),
        rejected=pl.concat(rejected),
        rows_in=rows_in,
        rows_quarantined=rows_quarantined,
    )


def checked_one_by_one(rows: pl.DataFrame, rules: list[FieldRule], source_file: str, scraped_at: datetime | None,
                       gpus: GpuRegistry) -> RowSplit:
    """Parsed sample rows (`parse_prometheus`'s columns) checked by the rules one by one: the quarantine entries,
    and the accepted samples identified as spilled (None when there are none)."""
    if scraped_at is not None:
        # a raw scrape: every sample was read at the scrape time its name gives
        rows = rows.with_columns(pl.col("timestamp_text").fill_null(str(epoch_ms_of(scraped_at))))
    # Quarantine entries name the sample's own parts: its value, its timestamp, its UUID label.
    rows = rows.with_columns(pl.col("value_text").alias("value"), pl.col("timestamp_text").alias("timestamp"),
                             pl.col("gpu_uuid").alias("UUID"))
    split = split_rows(rows, rules, source_file)
    # identifying no samples gives columns without their types, which the bulk part's would not take
    accepted = gpus.identify(split.accepted).select(
        SOURCE_ROW,
        "metric_id",
        "uuid_id",
        "label_id",
        pl.col("value_text").cast(pl.Float64).alias("value"),
        pl.col("timestamp_text").cast(pl.Int64).alias("timestamp_ms"),
    ) if split.accepted.height else None
    return RowSplit(accepted=accepted, rejected=split.rejected, rows_in=split.rows_in,
                    rows_quarantined=split.rows_quarantined)


def sample_rules(day: date) -> list[FieldRule]:
    day_start = epoch_ms(day)
    day_end = epoch_ms(day + timedelta(days=1))
    timestamp_ms = pl.col("timestamp_text").cast(pl.Int64, strict=False)
    well_formed_timestamp = pl.col("timestamp_text").str.contains(TIMESTAMP_TEXT)
    is_sample = pl.col("metric").is_not_null()
    value = pl.when(pl.col("value_text").str.contains(FLOAT_TEXT)).then(pl.col("value_text").cast(pl.Float64))
    implausible = pl.lit(False)
    for metric, (low, high) in PLAUSIBLE_RANGES.items():
        implausible = implausible | ((pl.col("metric") == metric) & value.is_finite() & ((value < low) | (value > high)))
    uuid = pl.col("gpu_uuid")
    return [
        FieldRule("line", "invalid_encoding", pl.col("line").str.contains("\ufffd", literal=True)),
        FieldRule("line", "unparseable_line", ~is_sample),
        FieldRule("value", "invalid_value", is_sample & ~pl.col("value_text").str.contains(FLOAT_TEXT)),
        FieldRule("value", "implausible_value", implausible),
        FieldRule("timestamp", "missing_timestamp", is_sample & pl.col("timestamp_text").is_null()),
        FieldRule("timestamp", "invalid_timestamp", ~well_formed_timestamp),
        FieldRule(
            "timestamp",
            "outside_day",
            well_formed_timestamp & ((timestamp_ms < day_start) | (timestamp_ms >= day_end)),
        ),
        # A sample that names no GPU, or not in DCGM's `GPU-` UUID form, cannot be tied to any collateral.
        FieldRule("UUID", "missing_label", is_sample & uuid.is_null()),
        FieldRule("UUID", "unknown_gpu", uuid.is_not_null() & ~uuid.str.contains(inventory.GPU_UUID_TEXT)),
    ]


def _lines(batch: LineBatch) -> pl.DataFrame:
    return (
        pl.Series("line", [batch.text]).str.split("\n").explode().str.strip_suffix("\r").to_frame()
        .with_row_index(SOURCE_ROW, offset=batch.first_line)
        .with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
    )


@dataclass
class GpuRegistry:
    """Small integer ids for the label sets, GPUs (UUIDs) and metric names of a file, so that spilled samples are
    a few numbers each; the label sets' texts and their GPU attributes are kept once here."""

    label_sets: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(
        schema={"labels": pl.String, "label_id": pl.UInt32, "gpu_uuid": pl.String, "gpu_serial": pl.String,
                "hostname": pl.String, "model_name": pl.String, "mig_instance": pl.String}))
    uuids: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(
        schema={"gpu_uuid": pl.String, "uuid_id": pl.UInt32}))
    metrics: dict[str, int] = field(default_factory=dict)
    # batches are parsed on two threads: one registers a file's new label sets at a time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def identify(self, samples: pl.DataFrame) -> pl.DataFrame:
        with self.lock:
            return self._identified(samples)

    def _identified(self, samples: pl.DataFrame) -> pl.DataFrame:
        fresh = samples.select("labels", "gpu_uuid", "gpu_serial", "hostname", "model_name", "mig_instance").unique(
            "labels", keep="first", maintain_order=True).join(self.label_sets.select("labels"), on="labels", how="anti")
        if fresh.height:
            self.label_sets = pl.concat([self.label_sets, fresh.with_row_index(
                "label_id", offset=self.label_sets.height).select(self.label_sets.columns)])
        new_uuids = fresh.select("gpu_uuid").unique(maintain_order=True).join(self.uuids, on="gpu_uuid", how="anti")
        if new_uuids.height:
            self.uuids = pl.concat([self.uuids, new_uuids.with_row_index("uuid_id", offset=self.uuids.height)
                                    .select("gpu_uuid", "uuid_id")])
        for metric in samples.get_column("metric").unique(maintain_order=True).to_list():
            self.metrics.setdefault(metric, len(self.metrics))
        return (
            samples.join(self.label_sets.select("labels", "label_id"), on="labels", how="left", maintain_order="left")
            .join(self.uuids, on="gpu_uuid", how="left", maintain_order="left")
            # as wide as the other ids: a file may name more metric families than 16 bits count
            .with_columns(pl.col("metric").replace_strict(self.metrics, return_dtype=pl.UInt32).alias("metric_id"))
        )

    def metric_ids(self, names: set[str] | tuple[str, ...]) -> list[int]:
        return [self.metrics[name] for name in names if name in self.metrics]


class KnownSeries:
    """The series of a file found well formed: `metric{labels`, a sample line up to the closing brace of its label
    block, the same text in every scrape of one GPU's metric. Each is parsed and checked once, the first time it
    is seen, and kept with the ids its samples are spilled under and its metric's plausible range; a series not
    well formed, or naming no GPU, is not kept (its lines go the long way each time)."""

    def __init__(self, gpus: GpuRegistry, day: date) -> None:
        self.gpus = gpus
        self.day_ms = (epoch_ms(day), epoch_ms(day + timedelta(days=1)))
        self.lock = threading.Lock()
        self.known = pl.DataFrame(schema={"series": pl.String, "metric_id": pl.UInt32, "uuid_id": pl.UInt32,
                                          "label_id": pl.UInt32, "low": pl.Float64, "high": pl.Float64})

    def bulk_samples(self, lines: pl.DataFrame, scraped_ms: int | None, may_hold_replacement: bool,
                     ascii_only: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The batch's sample lines written the common way, `metric{labels} value` and an optional ` timestamp`
        with single blanks, that break none of `_rules`, ready to spill; and the batch's other lines (`source_row`,
        `line`: comments, blank lines, lines written otherwise or breaking a rule), which `parsed_lines` and the
        rules read one by one, the same way as if none had been taken in bulk.

        A line is cut at its first `} `. Where a label value holds `} ` the text before it ends inside a quoted
        value, which is no well-formed series, so the line goes the long way. Once the series is well formed and
        the value and the timestamp read as such (no blank, brace or quote in them), the anchored patterns of
        `parsed_lines` would cut the line at the same places."""
        line = pl.col("line")
        if ascii_only:
            # `find` counts bytes and `slice` characters: the same in ASCII, and cheaper than `splitn`'s struct
            brace = line.str.find("} ", literal=True)
            halves = lines.select(SOURCE_ROW, line.str.slice(0, brace).alias("series"),
                                  line.str.slice(brace + 2).alias("tail"))
        else:
            halves = lines.select(SOURCE_ROW, line.str.splitn("} ", 2).struct.rename_fields(["series", "tail"])
                                  .alias("halves")).unnest("halves")
        tail = pl.col("tail").str.splitn(" ", 2)
        cut = halves.select(SOURCE_ROW, "series", tail.struct.field("field_0").alias("value_text"),
                            tail.struct.field("field_1").alias("timestamp_text"))
        value = pl.col("value_text").cast(pl.Float64, strict=False)
        timestamp_ms = pl.col("timestamp_text").cast(pl.Int64, strict=False)
        stamped = pl.col("timestamp_text").str.contains(TIMESTAMP_TEXT)
        if scraped_ms is not None:
            stamped = stamped | pl.col("timestamp_text").is_null()
            timestamp_ms = timestamp_ms.fill_null(scraped_ms)
        implausible = value.is_finite() & ((value < pl.col("low")) | (value > pl.col("high")))
        passes = (
            pl.col("metric_id").is_not_null()
            & pl.col("value_text").str.contains(FLOAT_TEXT)
            & stamped
            & timestamp_ms.is_between(*self.day_ms, closed="left")
            & ~implausible.fill_null(False)
        ).fill_null(False)
        seen = self.known
        known = cut.join(seen, on="series", how="left", maintain_order="left")
        unseen = known.filter(pl.col("metric_id").is_null() & pl.col("value_text").is_not_null())
        if unseen.height:
            self.learn(unseen.select(pl.col("series").unique()))
            if self.known is not seen:
                known = cut.join(self.known, on="series", how="left", maintain_order="left")
        checked = known.select(SOURCE_ROW, "metric_id", "uuid_id", "label_id", value.alias("value"),
                               timestamp_ms.alias("timestamp_ms"), passes.alias("passes"))
        passed = checked.get_column("passes")
        if may_hold_replacement:
            passed = passed & ~lines.get_column("line").str.contains("\ufffd", literal=True)
        return checked.filter(passed).drop("passes"), lines.filter(~passed)

    def learn(self, series: pl.DataFrame) -> None:
        """Keeps the well-formed series of `series` that name a GPU (and that another thread did not keep first)."""
        with self.lock:
            fresh = series.join(self.known.select("series"), on="series", how="anti")
            if fresh.height:
                self._keep(fresh)

    def _keep(self, series: pl.DataFrame) -> None:
        parsed = series.with_columns(pl.col("series").str.extract(_METRIC_NAME, 1).alias("metric")).with_columns(
            pl.concat_str(pl.col("series").str.slice(pl.col("metric").str.len_chars()), pl.lit("}")).alias("block"))
        blocks = _label_blocks(parsed.select(pl.col("block").unique().drop_nulls()))
        uuid = pl.col("gpu_uuid")
        named = parsed.join(blocks, on="block", how="left").filter(
            pl.col("metric").is_not_null() & pl.col("block").str.starts_with("{") & pl.col("well_formed")
            & uuid.is_not_null() & uuid.str.contains(inventory.GPU_UUID_TEXT)
        ).select("series", "metric", pl.col("block").alias("labels"), *_label_columns())
        if named.is_empty():
            return
        ranges = {metric: low for metric, (low, _) in PLAUSIBLE_RANGES.items()}, {
            metric: high for metric, (_, high) in PLAUSIBLE_RANGES.items()}
        learnt = self.gpus.identify(named).select(
            "series", "metric_id", "uuid_id", "label_id",
            *(pl.col("metric").replace_strict(bound, default=None, return_dtype=pl.Float64).alias(name)
              for name, bound in zip(("low", "high"), ranges)))
        self.known = pl.concat([self.known, learnt])


class _Spill:
    """Accepted samples on disk, in Arrow IPC streams, one per bucket of GPUs."""

    _SCHEMA = pa.schema([
        pa.field(SOURCE_ROW, pa.int64()), pa.field("metric_id", pa.uint32()), pa.field("uuid_id", pa.uint32()),
        pa.field("label_id", pa.uint32()), pa.field("value", pa.float64()), pa.field("timestamp_ms", pa.int64()),
    ])

    def __init__(self, directory: Path, buckets: int) -> None:
        self.paths = [directory / f"bucket-{number}.arrows" for number in range(buckets)]
        self.writers = [ipc.new_stream(str(path), self._SCHEMA) for path in self.paths]

    def write(self, samples: pl.DataFrame) -> None:
        if samples.is_empty():
            return
        # sorted by bucket once, then each bucket's rows are a slice of one Arrow table (no copy per bucket)
        bucket = (pl.col("uuid_id") % len(self.paths)).alias("bucket")
        ordered = samples.with_columns(bucket).sort("bucket")
        counts = ordered.group_by("bucket").len().sort("bucket")
        table = ordered.drop("bucket").to_arrow().cast(self._SCHEMA)
        start = 0
        for number, rows in counts.iter_rows():  # one step per bucket, not per sample
            self.writers[number].write_table(table.slice(start, rows))
            start += rows

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def buckets(self) -> Iterator[pl.DataFrame]:
        for path in self.paths:
            with ipc.open_stream(str(path)) as reader:
                yield pl.from_arrow(reader.read_all())


def _bucket_rollup(samples: pl.DataFrame, gpus: GpuRegistry, counters: set[str],
                   source_file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quarantine entries for repeated samples, and the per-GPU figures of the bucket's GPUs."""
    ordered = samples.sort(SOURCE_ROW)
    mig = gpus.label_sets.filter(pl.col("mig_instance").is_not_null()).select("label_id", "mig_instance")
    # most fleets have no MIG instance: the join is only paid where there is one
    ordered = (ordered.join(mig, on="label_id", how="left", maintain_order="left") if mig.height
               else ordered.with_columns(pl.lit(None, dtype=pl.String).alias("mig_instance")))
    # A repeated sample would weigh twice in the day's means: the first one in the file stands. The MIG instances of
    # one GPU are not repeats of each other.
    ordered = ordered.with_columns(_first_of_its_sample(ordered, len(gpus.metrics)).alias("first_of_its_sample"))
    repeat = ~pl.col("first_of_its_sample")
    repeats = repeat_entries(ordered.filter(repeat), gpus, source_file)
    kept = ordered.filter(~repeat).with_columns(
        pl.when(pl.col("value").is_finite()).then(pl.col("value")).alias("value"),
    )

    def of(metric: str) -> pl.Expr:
        ids = gpus.metric_ids((metric,))
        return pl.col("metric_id").is_in(ids) if ids else pl.lit(False)

    # A GPU split into MIG instances reports each instance: its sample at a scrape time is their mean utilisation
    # and the highest of the rest (temperature, power and XID are the whole GPU's, repeated per instance).
    if kept.get_column("mig_instance").is_not_null().any():
        kept = kept.group_by("metric_id", "uuid_id", "timestamp_ms", maintain_order=True).agg(
            pl.col(SOURCE_ROW).min(),
            pl.col("label_id").first(),
            pl.when(of(UTILISATION).first()).then(pl.col("value").mean()).otherwise(pl.col("value").max())
            .alias("value"),
        )

    per_gpu = kept.group_by("uuid_id").agg(
        pl.col("label_id").sort_by("timestamp_ms").last(),
        pl.col("timestamp_ms").n_unique().cast(pl.Int64).alias("samples"),
        _smallest_gap_expr(pl.col("timestamp_ms")).alias("gap_ms"),
        pl.col("value").filter(of(UTILISATION)).mean().alias("util_mean"),
        pl.col("value").filter(of(UTILISATION)).quantile(0.95, "linear").alias("util_p95"),
        pl.col("value").filter(of(TEMPERATURE)).max().alias("temp_max"),
        pl.col("value").filter(of(POWER)).mean().alias("power_mean"),
        (of(XID_ERROR) & (pl.col("value") != 0)).sum().cast(pl.Int64).alias("xid_error_samples"),
        pl.col("timestamp_ms").min().alias("first_ms"),
        pl.col("timestamp_ms").max().alias("last_ms"),
    )
    if XID_ERROR not in counters:
        return repeats, per_gpu.with_columns(pl.col("xid_error_samples").alias("xid_errors"))
    increases = (
        kept.filter(of(XID_ERROR)).sort("uuid_id", "timestamp_ms")
        .with_columns(pl.col("value").diff().over("uuid_id").alias("delta"))
        # A counter that went down was reset: what it counts since the reset is its value.
        .group_by("uuid_id").agg(
            pl.when(pl.col("delta") >= 0).then(pl.col("delta")).otherwise(
                pl.when(pl.col("delta").is_not_null()).then(pl.col("value"))).sum().alias("counter_increase"))
    )
    return repeats, per_gpu.join(increases, on="uuid_id", how="left").with_columns(
        pl.col("counter_increase").fill_null(0).round(0).cast(pl.Int64).alias("xid_errors")
    ).drop("counter_increase")


def repeat_entries(repeats: pl.DataFrame, gpus: GpuRegistry, source_file: str) -> pl.DataFrame:
    """Quarantine entries for repeated samples (`source_row`, `metric_id`, `uuid_id`, `timestamp_ms`), each naming
    its metric, GPU and time."""
    names = {metric_id: name for name, metric_id in gpus.metrics.items()}
    return repeats.join(gpus.uuids, on="uuid_id", how="left", maintain_order="left").select(
        pl.lit(source_file).alias("source_file"),
        pl.col(SOURCE_ROW),
        pl.lit("line").alias("field"),
        pl.format("{} {} {}", pl.col("metric_id").replace_strict(names, return_dtype=pl.String), pl.col("gpu_uuid"),
                  pl.col("timestamp_ms")).alias("value"),
        pl.lit("duplicate_sample").alias("reason"),
    )


def _first_of_its_sample(samples: pl.DataFrame, metrics: int) -> pl.Expr:
    """True on the first row of each sample (metric, GPU, MIG instance, time). Without MIG instances the four are
    packed into one 64-bit number when they fit (GPU and metric ids, and the time from the bucket's first in 27
    bits, over 37 hours of milliseconds), which polars tells apart many times faster than a struct of them."""
    if samples.is_empty() or samples.get_column("mig_instance").is_not_null().any():
        return pl.struct("metric_id", "uuid_id", "mig_instance", "timestamp_ms").is_first_distinct()
    earliest, latest, last_uuid = samples.select(
        pl.col("timestamp_ms").min().alias("earliest"), pl.col("timestamp_ms").max().alias("latest"),
        pl.col("uuid_id").max()).row(0)
    if latest - earliest >= 2**27 or (last_uuid + 1) * max(metrics, 1) >= 2**37:
        return pl.struct("metric_id", "uuid_id", "timestamp_ms").is_first_distinct()
    series = pl.col("uuid_id").cast(pl.UInt64) * max(metrics, 1) + pl.col("metric_id").cast(pl.UInt64)
    return (series * 2**27 + (pl.col("timestamp_ms") - earliest).cast(pl.UInt64)).is_first_distinct()


def finished_rollup(per_gpu: pl.DataFrame, gpus: GpuRegistry, file_gap_ms: int | None) -> pl.DataFrame:
    """The scrape interval is the smallest positive gap between a GPU's scrapes, in whole seconds; a GPU scraped
    once takes the file's smallest gap, since one sample alone says nothing about the cadence (and a file with a
    single scrape time leaves interval and minutes online null)."""
    gap_ms = pl.col("gap_ms") if file_gap_ms is None else pl.col("gap_ms").fill_null(file_gap_ms)
    interval_s = gap_ms.cast(pl.Float64).truediv(1000).round(0).cast(pl.Int64).clip(lower_bound=1)
    return (
        per_gpu.join(gpus.uuids, on="uuid_id", how="left")
        .join(gpus.label_sets.select("label_id", "gpu_serial", "hostname", "model_name"), on="label_id", how="left")
        .with_columns(interval_s.alias("scrape_interval_s"))
        .select(
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
            as_timestamp(pl.col("first_ms")).alias("first_seen"),
            as_timestamp(pl.col("last_ms")).alias("last_seen"),
            "xid_errors",
        )
        .sort("gpu_uuid")
    )


def _empty_rollup() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "uuid_id": pl.UInt32, "label_id": pl.UInt32, "samples": pl.Int64, "gap_ms": pl.Int64,
        "util_mean": pl.Float64, "util_p95": pl.Float64, "temp_max": pl.Float64, "power_mean": pl.Float64,
        "xid_error_samples": pl.Int64, "first_ms": pl.Int64, "last_ms": pl.Int64, "xid_errors": pl.Int64,
    })


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


def _smallest_gap_expr(timestamps_ms: pl.Expr) -> pl.Expr:
    gaps = timestamps_ms.unique().sort().diff()
    return gaps.filter(gaps > 0).min()


def _smallest_gap(sorted_timestamps: pl.Series) -> int | None:
    gaps = sorted_timestamps.diff()
    return gaps.filter(gaps > 0).min()


def as_timestamp(epoch_ms: pl.Expr) -> pl.Expr:
    return (epoch_ms * 1000).cast(pl.Datetime("us"))


def epoch_ms_of(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def epoch_ms(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp()) * 1000
