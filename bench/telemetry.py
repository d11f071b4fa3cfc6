"""Telemetry ingest throughput and peak memory for one day of a large fleet, beside prometheus_client's own parser
on the same text. A benchmark, not a test: `python bench/telemetry.py [--gpus N] [--interval S]`.

The day is 10,000 GPUs scraped every minute: 1,440 scrapes × 4 DCGM families = 57.6 million samples, about 11 GB of
Prometheus text, written as the concatenation of the day's scrapes (each scrape a whole exposition with its HELP and
TYPE lines, every sample with its millisecond timestamp). It is written to a scratch directory first; each side then
reads the same file in a fresh process, whose peak resident memory is its own:

- backed: `ingest_telemetry_day` end to end (intake: hash and archive; then stream, parse, check, spill, roll up per
  GPU, write Parquet). Its daily rows are then checked against the figures the generator knows from its own values
  (the run fails on any difference).
- backed on Spark: the same `ingest_telemetry_day` with the engine's roll-up (BACKED_ENGINE=spark:
  assets/telemetry/spark_rollup.py), the Spark application on `local[2]` reading the same archived file; its daily
  rows must equal the polars side's to the last bit. Its row is samples/s beside the polars side's on the same day
  (both end to end from the archive: the Spark side's time includes starting Spark, about 10 s). Its memory is
  the JVM's (spark.driver.memory, 2g by default), not compared.
- prometheus_client: `text_fd_to_metric_families` counting samples (parsing only: no checks, no rollup, nothing
  written), over the day's first scrapes (PEER_SAMPLES of them, cut at a scrape's start): at its ~20k samples/s a whole
  day would take hours, and its rate per sample does not change with the length of the file, since it streams
  family by family (which also makes its peak memory that of one family, whatever the file's length).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parent.parent
DAY = date(2026, 1, 5)
FAMILIES = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "gauge"),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", "gauge"),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "gauge"),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", "gauge"),
)
# Scrapes formatted at once while writing the file: bounds the generator's own memory.
SCRAPES_PER_BLOCK = 30
# prometheus_client parses the first scrapes of the day holding at least this many samples (about a minute of it).
PEER_SAMPLES = 1_000_000
SCRAPE_START = b"# HELP " + FAMILIES[0][0].encode()
MODEL = "NVIDIA H100 80GB HBM3"
DAILY_ROWS = "gpu_telemetry_daily.parquet"
SPARK_DAILY_ROWS = "gpu_telemetry_daily-spark.parquet"
# Sizes of a smoke run (`python -m bench --quick`): 200 GPUs scraped every 10 minutes (115,200 samples, ~22 MB),
# without the Spark side: at that size it measures Spark's start, not its rate (tests/test_spark_telemetry.py holds
# its rows to polars').
QUICK_RUN = {"gpus": 200, "scrape_interval_s": 600, "peer_samples": 20_000, "on_spark": False}


def write_day_of_scrapes(path: Path, gpus: int, scrape_interval_s: int, seed: int = 7) -> tuple[int, pl.DataFrame]:
    """The day's scrapes of `gpus` GPUs, streamed to `path`; returns the number of samples, and the day's
    `gpu_telemetry_daily` figures per GPU as the generator knows them (its own values, not a reading of the file):
    the answer the ingest must give."""
    rng = np.random.default_rng(seed)
    # one label set per GPU (not per sample): built once
    labels = pl.Series("labels", [
        f'{{gpu="{n % 8}",UUID="{_uuid(n)}",device="nvidia{n % 8}",'
        f'modelName="{MODEL}",Hostname="{_hostname(n)}",serial="{_serial(n)}"}}'
        for n in range(gpus)
    ])
    day_start_ms = int(datetime.combine(DAY, datetime.min.time(), tzinfo=timezone.utc).timestamp()) * 1000
    scrapes = 86_400 // scrape_interval_s
    samples = 0
    # what the day's figures are made of, per GPU: utilisation is an integer 0-100, so its counts give the 95th
    # percentile exactly
    util_counts = np.zeros((gpus, 101), dtype=np.int64)
    temp_max = np.full(gpus, -np.inf)
    power_sum = np.zeros(gpus)
    xid_samples = np.zeros(gpus, dtype=np.int64)
    with path.open("w", encoding="utf-8") as out:
        for first in range(0, scrapes, SCRAPES_PER_BLOCK):
            count = min(SCRAPES_PER_BLOCK, scrapes - first)
            shape = (count, gpus)
            values = {
                "DCGM_FI_DEV_GPU_UTIL": rng.integers(0, 101, size=shape).astype(str),
                "DCGM_FI_DEV_GPU_TEMP": rng.integers(40, 85, size=shape).astype(str),
                "DCGM_FI_DEV_POWER_USAGE": np.char.mod("%.3f", rng.uniform(80, 700, size=shape)),
                "DCGM_FI_DEV_XID_ERRORS": np.where(rng.random(size=shape) < 1e-4, "79", "0"),
            }
            util = values["DCGM_FI_DEV_GPU_UTIL"].astype(np.int64)
            np.add.at(util_counts, (np.broadcast_to(np.arange(gpus), shape), util), 1)
            temp_max = np.maximum(temp_max, values["DCGM_FI_DEV_GPU_TEMP"].astype(float).max(axis=0))
            power_sum += values["DCGM_FI_DEV_POWER_USAGE"].astype(float).sum(axis=0)
            xid_samples += (values["DCGM_FI_DEV_XID_ERRORS"] != "0").sum(axis=0)
            for offset in range(count):
                stamp = str(day_start_ms + (first + offset) * scrape_interval_s * 1000)
                for family, help_text, kind in FAMILIES:
                    lines = pl.DataFrame({"labels": labels, "value": values[family][offset]}).select(
                        pl.concat_str([pl.lit(family), pl.col("labels"), pl.lit(" "), pl.col("value"),
                                       pl.lit(" " + stamp + "\n")]).str.join("")
                    ).item()
                    out.write(f"# HELP {family} {help_text}\n# TYPE {family} {kind}\n")
                    out.write(lines)
                    samples += gpus
    first_seen = datetime.combine(DAY, datetime.min.time())
    expected = pl.DataFrame({
        "gpu_uuid": [_uuid(n) for n in range(gpus)],
        "gpu_serial": [_serial(n) for n in range(gpus)],
        "hostname": [_hostname(n) for n in range(gpus)],
        "model_name": [MODEL] * gpus,
        "samples": [scrapes] * gpus,
        "scrape_interval_s": [scrape_interval_s] * gpus,
        "minutes_online": [scrapes * scrape_interval_s / 60] * gpus,
        "util_mean": (util_counts * np.arange(101)).sum(axis=1) / scrapes,
        "util_p95": _linear_quantiles(util_counts, 0.95),
        "temp_max": temp_max,
        "power_mean": power_sum / scrapes,
        "xid_error_samples": xid_samples,
        "first_seen": [first_seen] * gpus,
        "last_seen": [first_seen + timedelta(seconds=(scrapes - 1) * scrape_interval_s)] * gpus,
        "xid_errors": xid_samples,
    })
    return samples, expected


def _linear_quantiles(counts: np.ndarray, q: float) -> np.ndarray:
    """Per row of `counts` (how many times each integer 0, 1, … was seen), the `q` quantile of those values with
    linear interpolation between the two nearest, as polars' `quantile(q, "linear")`."""
    position = q * (counts.sum(axis=1) - 1)
    below, fraction = np.floor(position), position - np.floor(position)
    cumulative = counts.cumsum(axis=1)
    # the value at a 0-based rank is the first whose cumulative count exceeds the rank
    low = (cumulative <= below[:, None]).sum(axis=1)
    high = (cumulative <= np.minimum(below + 1, counts.sum(axis=1) - 1)[:, None]).sum(axis=1)
    return low + (high - low) * fraction


def differences(got: pl.DataFrame, expected: pl.DataFrame) -> list[str]:
    """Where the ingest's daily rows differ from the generator's: texts, counts and times exactly, means and
    percentiles to 1e-9 relative (the sums' order is the reader's own)."""
    got = got.sort("gpu_uuid")
    if got.get_column("gpu_uuid").to_list() != expected.get_column("gpu_uuid").to_list():
        return [f"GPUs differ: {got.height} rows for {expected.height} GPUs"]
    problems = []
    for column in expected.columns:
        theirs, ours = got.get_column(column), expected.get_column(column)
        if ours.dtype == pl.Float64:
            wrong = ((theirs - ours).abs() > 1e-9 * ours.abs().clip(lower_bound=1)).fill_null(True)
        else:
            wrong = (theirs.cast(ours.dtype) != ours).fill_null(True)
        if wrong.any():
            problems.append(f"{column}: {int(wrong.sum())} GPUs, e.g. {theirs.filter(wrong)[0]} for {ours.filter(wrong)[0]}")
    return problems


def _uuid(n: int) -> str:
    return f"GPU-{n:08d}-0000-4000-8000-{n:012d}"


def _hostname(n: int) -> str:
    return f"node-{n // 8:04d}"


def _serial(n: int) -> str:
    return f"1652922{n:06d}"


def first_scrapes(path: Path, target: Path, samples: int) -> int:
    """The first whole scrapes of `path` holding at least `samples` samples, copied to `target`; their samples."""
    copied = 0
    with path.open("rb") as source, target.open("wb") as out:
        while True:
            block = source.read(2**20)
            if not block:
                return copied
            if copied >= samples:
                # stop at the first scrape that starts in this block
                cut = block.find(SCRAPE_START)
                if cut >= 0:
                    out.write(block[:cut])
                    return copied + _samples_in(block[:cut])
            out.write(block)
            copied += _samples_in(block)


def _samples_in(text: bytes) -> int:
    # every line is a sample but the HELP and TYPE lines (two per family per scrape)
    return text.count(b"\n") - text.count(b"\n#") - text.startswith(b"#")


def _measure_backed(path: Path, on_spark: bool = False) -> dict:
    from assets.inbox.intake import take_in_inbox
    from assets.telemetry.scrapes import ingest_telemetry_day
    from assets.telemetry.spark_rollup import rollups_on_spark
    from foundation.home import DataHome
    from foundation.lake import Lake

    home = DataHome(Path(tempfile.mkdtemp(prefix="bench-home-", dir=path.parent)))
    try:
        home.inbox.mkdir(parents=True)
        os.link(path, home.inbox / path.name)  # the same bytes, no copy
        started = time.perf_counter()
        lake = Lake(home)
        take_in_inbox(lake)
        (summary,) = ingest_telemetry_day(DAY, lake, rollups_on_spark if on_spark else None)
        seconds = time.perf_counter() - started
        # the day's rows, for the parent to check against the generator's (after the clock stopped)
        shutil.copyfile(lake.partition_path("gpu_telemetry_daily", DAY),
                        path.parent / (SPARK_DAILY_ROWS if on_spark else DAILY_ROWS))
        return {"samples": summary.rows_accepted, "rows_in": summary.rows_in, "seconds": seconds}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _measure_prometheus_client(path: Path) -> dict:
    from prometheus_client.parser import text_fd_to_metric_families

    started = time.perf_counter()
    samples = 0
    with path.open(encoding="utf-8") as stream:
        for family in text_fd_to_metric_families(stream):
            samples += len(family.samples)
    return {"samples": samples, "rows_in": samples, "seconds": time.perf_counter() - started}


def _in_fresh_process(side: str, path: Path) -> dict:
    completed = subprocess.run([sys.executable, "-m", "bench.telemetry", "--measure", side, str(path)], cwd=REPO,
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        # a negative status is the signal that ended it (an OOM kill, say), which leaves stderr empty
        raise RuntimeError(f"{side} failed (exit status {completed.returncode}):\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(gpus: int = 10_000, scrape_interval_s: int = 60, peer_samples: int = PEER_SAMPLES,
        on_spark: bool = True) -> list[dict]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-telemetry-", dir=os.environ.get("BENCH_SCRATCH")))
    try:
        path = scratch / f"dcgm-{DAY.isoformat()}.prom"
        started = time.perf_counter()
        samples, expected = write_day_of_scrapes(path, gpus, scrape_interval_s)
        written_s = time.perf_counter() - started
        size = path.stat().st_size
        sample_path = scratch / "first-scrapes.prom"
        sampled = first_scrapes(path, sample_path, peer_samples)
        backed = _in_fresh_process("backed", path)
        spark = _in_fresh_process("spark", path) if on_spark else None
        baseline = _in_fresh_process("prometheus_client", sample_path)
        # a fast wrong answer is no figure: the day's rows must be the ones the generator wrote, on both engines
        rows = pl.read_parquet(scratch / DAILY_ROWS)
        wrong = differences(rows.select(expected.columns), expected)
        if spark is not None and not pl.read_parquet(scratch / SPARK_DAILY_ROWS).equals(rows, null_equal=True):
            wrong.append("the Spark roll-up's rows are not the polars roll-up's")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    spark_miscounted = spark is not None and spark["samples"] != samples
    if backed["samples"] != samples or spark_miscounted or baseline["samples"] != sampled:
        raise RuntimeError(f"sample counts differ: written {samples} (first scrapes {sampled}), backed {backed}, "
                           f"prometheus_client {baseline}")
    if wrong:
        raise RuntimeError("the ingest's gpu_telemetry_daily differs from the day written: " + "; ".join(wrong))
    day = f"{gpus:,} GPUs × {86_400 // scrape_interval_s:,} scrapes × {len(FAMILIES)} families"
    backed_rate, baseline_rate = samples / backed["seconds"], sampled / baseline["seconds"]
    peer = (f"prometheus_client {version('prometheus_client')} text_fd_to_metric_families, parsing only "
            f"(the day's first {sampled:,} samples)")
    spark_row = [] if spark is None else [
        {"name": "telemetry ingest on Spark local[2] (BACKED_ENGINE=spark), the same day, same rows",
         "value": round(samples / spark["seconds"]), "unit": "samples/s",
         "baseline_name": "backed with polars, the same day (the first row)", "baseline_value": round(backed_rate),
         "ratio": round(samples / spark["seconds"] / backed_rate, 3)}]
    return [
        {"name": f"telemetry ingest, {day} ({size / 1e9:.1f} GB, {samples:,} samples, written in {written_s:.0f} s)",
         "value": round(backed_rate), "unit": "samples/s", "baseline_name": peer,
         "baseline_value": round(baseline_rate), "ratio": round(backed_rate / baseline_rate, 2)},
        {"name": "telemetry ingest wall time for the day", "value": round(backed["seconds"], 1), "unit": "s",
         "baseline_name": f"{peer}, at its rate over the whole day",
         "baseline_value": round(samples / baseline_rate, 1),
         "ratio": round(backed["seconds"] / (samples / baseline_rate), 3)},
        {"name": "telemetry ingest peak resident memory", "value": round(backed["peak_rss_mib"]), "unit": "MiB",
         "baseline_name": f"{peer} (streams family by family)", "baseline_value": round(baseline["peak_rss_mib"]),
         "ratio": round(backed["peak_rss_mib"] / baseline["peak_rss_mib"], 2)},
        *spark_row,
        {"name": "telemetry ingest peak memory / file size", "value": round(backed["peak_rss_mib"] * 2**20 / size, 3),
         "unit": "ratio", "baseline_name": None, "baseline_value": None, "ratio": None},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=60, help="scrape interval in seconds")
    parser.add_argument("--measure", nargs=2, metavar=("SIDE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        side, path = args.measure
        measured = (_measure_prometheus_client(Path(path)) if side == "prometheus_client"
                    else _measure_backed(Path(path), on_spark=side == "spark"))
        measured["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(measured))
        return 0
    for row in run(args.gpus, args.interval):
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
