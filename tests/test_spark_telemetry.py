"""The telemetry roll-up on Spark (BACKED_ENGINE=spark: assets/telemetry/spark_rollup.py) gives the day polars gives:
the same `gpu_telemetry_daily` rows to the last bit, the same quarantine entries, the same counts and messages.

One day holds every shape at once, so that one Spark application (local[2], as the pipeline starts it) reads them
all: the bulk parse's hostile day (escaped label values, `} ` inside them, MIG instances, CRLF, a byte order mark,
bytes that are not UTF-8, NaN and infinities, repeats, lines the rules turn away), raw scrapes of one exporter
named by their scrape time, an XID field declared a counter that resets, and a bench-shaped day of 200 GPUs whose
figures the generator knows from its own values. Like the ledger on Spark, `make reliability`'s and `make
scale-test`'s (a Spark application per day is minutes on two cores).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

import polars as pl
import pytest

from assets.inbox.intake import take_in_inbox
from assets.inbox.register import ArchiveTampered
from assets.telemetry import scrapes
from assets.telemetry.spark_rollup import SPARK_PYTHON, rollups_on_spark
from bench import telemetry as bench
from foundation.lake import Lake
from tests.test_telemetry_bulk_parse import DAY, DAY_MS, HELP, POWER, TEMP, UTIL, XID, day_outcome, \
    edge_case_files, exposition_day, tampered_archive, uuid

pytestmark = pytest.mark.long

assert DAY == bench.DAY


def counter_day() -> tuple[str, dict[str, int]]:
    """Three GPUs scraped every 20 minutes, whose XID field is declared a counter: it climbs, and on one GPU it is
    reset to zero at noon (what it counts after the reset is its value). Returns the text and each GPU's errors."""
    rng = random.Random(41)
    lines, counts = [], {gpu: 0 for gpu in (21, 22, 23)}
    errors = {uuid(gpu): 0 for gpu in counts}
    for scrape in range(72):
        stamp = DAY_MS + scrape * 1_200_000
        for family in (UTIL, TEMP, POWER, XID):
            lines += [f"# HELP {family} {HELP[family]}", f"# TYPE {family} {'counter' if family == XID else 'gauge'}"]
            for gpu in counts:
                if family == XID:
                    step = rng.choice([0, 0, 0, 1, 2]) if scrape else 0
                    counts[gpu] = 0 if gpu == 22 and scrape == 36 else counts[gpu] + step
                    errors[uuid(gpu)] += 0 if gpu == 22 and scrape == 36 else step
                    value = str(counts[gpu])
                else:
                    value = str(rng.randint(0, 100)) if family != POWER else f"{rng.uniform(80, 700):.3f}"
                lines.append(f'{family}{{UUID="{uuid(gpu)}",modelName="NVIDIA H100 80GB HBM3",Hostname="node-21"}} '
                             f"{value} {stamp}")
    return "\n".join(lines) + "\n", errors


def the_day(folder: Path) -> tuple[dict[str, bytes], pl.DataFrame, dict[str, int]]:
    files = dict(edge_case_files())
    text, errors = counter_day()
    files["counters-2026-01-05.prom"] = text.encode()
    # more raw scrapes of the edge day's exporter: its series is rolled up from all of them
    for minute in (30, 45):
        files[f"node-01-20260105T10{minute}00Z.prom"] = exposition_day(seed=13 + minute, stamped=False).encode()
    fleet = folder / "fleet-2026-01-05.prom"
    _, expected = bench.write_day_of_scrapes(fleet, bench.QUICK_RUN["gpus"], bench.QUICK_RUN["scrape_interval_s"])
    files[fleet.name] = fleet.read_bytes()
    return files, expected, errors


def ingested(home: Path, files: dict[str, bytes], on_spark: bool) -> tuple:
    lake = Lake(home)
    lake.home.inbox.mkdir(parents=True)
    for name, content in files.items():
        (lake.home.inbox / name).write_bytes(content)
    take_in_inbox(lake)
    summaries = scrapes.ingest_telemetry_day(DAY, lake, rollups_on_spark if on_spark else None)
    return day_outcome(lake, summaries)


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> tuple:
    """The day on both engines, and what the Spark side logged of each file: samples, and those checked in bulk."""
    if not SPARK_PYTHON.exists():
        pytest.fail(f"the Spark engine is not installed ({SPARK_PYTHON}): run `make spark-setup`")
    folder = tmp_path_factory.mktemp("spark-telemetry")
    files, expected, errors = the_day(folder)
    logged = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.args)
    logger = logging.getLogger("assets.telemetry.spark_rollup")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        on_spark = ingested(folder / "spark", files, on_spark=True)
    finally:
        logger.removeHandler(handler)
    return ingested(folder / "polars", files, on_spark=False), on_spark, (expected, errors, logged)


def test_spark_rolls_up_every_gpu_as_polars_does_to_the_last_bit(both):
    (rows, _, _), (spark_rows, _, _), _ = both
    assert rows.height > 200
    # the raw scrapes' series is one row, not a row per scrape file
    assert rows.filter(pl.col("source_file") == "node-01-*.prom").height > 0
    assert rows.filter(pl.col("source_file").str.starts_with("node-01-2026")).height == 0
    assert spark_rows.schema == rows.schema
    assert spark_rows.equals(rows, null_equal=True)


def test_spark_quarantines_what_polars_quarantines_and_counts_alike(both):
    (_, quarantined, counts), (_, spark_quarantined, spark_counts), _ = both
    assert spark_quarantined == quarantined
    assert spark_counts == counts
    reasons = {reason for _, _, _, _, per_file, _ in counts for reason, _ in per_file}
    assert reasons >= {"invalid_value", "implausible_value", "outside_day", "invalid_timestamp", "missing_label",
                       "unknown_gpu", "unparseable_line", "duplicate_sample", "invalid_encoding"}


def test_the_counter_and_the_bench_day_are_the_figures_they_were_written_with(both):
    _, (rows, _, _), (expected, errors, _) = both
    fleet = rows.filter(pl.col("source_file") == "fleet-2026-01-05.prom").select(expected.columns)
    assert bench.differences(fleet, expected) == []
    counted = rows.filter(pl.col("source_file") == "counters-2026-01-05.prom").select("gpu_uuid", "xid_errors")
    assert dict(counted.iter_rows()) == errors


def test_spark_checks_the_samples_written_the_common_way_in_bulk(both):
    """Spark checks every sample written the common way; the driver reads only the rest (comments, the lines
    written otherwise or breaking a rule)."""
    *_, (_, _, logged) = both
    samples = {name: (accepted, in_bulk) for name, accepted, in_bulk in logged}
    accepted, in_bulk = samples["fleet-2026-01-05.prom"]
    assert in_bulk == accepted == 115_200
    accepted, in_bulk = samples["dcgm-2026-01-05.prom"]
    assert 0.8 * accepted < in_bulk < accepted  # but the GPU with `} ` in a label value, tabs, extra blanks


def test_a_tampered_archive_is_refused_on_spark(tmp_path):
    with pytest.raises(ArchiveTampered):
        scrapes.ingest_telemetry_day(DAY, tampered_archive(tmp_path / "home"), rollups_on_spark)
