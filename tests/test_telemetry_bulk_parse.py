"""DCGM text read in bulk gives the day the line-by-line reading gives: the same `gpu_telemetry_daily` rows, the
same quarantine entries, the same counts, on a day written to hold what the exporters and a hostile file write
(escaped quotes, `}` and `} ` in label values, MIG instances, `Hostname` or `hostname`, raw scrapes without sample
timestamps, NaN and infinities, repeated samples, comments, HELP and TYPE lines, tabs, CRLF, text that is not UTF-8),
read in batches small enough that lines are cut across them. A plain Python reading, line by line, gives the same
figures for each GPU.
"""
from __future__ import annotations

import math
import random
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from assets.inbox.intake import take_in_inbox
from assets.inbox.register import ArchiveTampered, current_files
from assets.telemetry import scrapes as telemetry
from assets.telemetry.scrapes import ingest_telemetry_day
from foundation.lake import Lake

DAY = date(2026, 1, 5)
DAY_MS = int(datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()) * 1000
UTIL, TEMP, POWER, XID = (telemetry.UTILISATION, telemetry.TEMPERATURE, telemetry.POWER, telemetry.XID_ERROR)
HELP = {UTIL: "GPU utilization (in %).", TEMP: "GPU temperature (in C).", POWER: "Power draw (in W).",
        XID: "Value of the last XID error encountered."}


def uuid(n: int) -> str:
    return f"GPU-{n:08x}-1c3e-4b7a-9d42-{n:012x}"


# Label blocks as exporters write them, and as a hostile file may: each keeps its GPU's UUID.
LABEL_BLOCKS = [
    f'gpu="0",UUID="{uuid(1)}",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-01"',
    f'gpu="1",UUID="{uuid(2)}",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",hostname="node-02"',
    # a quoted value holding an escaped quote, a brace, `} ` and a backslash pair
    f'UUID="{uuid(3)}",modelName="H100 \\"SXM\\" {{x}} 80GB",job="a}} b",path="C:\\\\n",Hostname="node-03"',
    # blanks around `=`, and a value that is no UUID after the first
    f'UUID = "{uuid(4)}", modelName="NVIDIA L40S",Hostname="node-04"',
    f'UUID="{uuid(5)}",modelName="NVIDIA H200",Hostname="n\u0153ud-05"',  # not ASCII
]
MIG_BLOCKS = [f'gpu="0",UUID="{uuid(6)}",modelName="NVIDIA H100 80GB HBM3",Hostname="node-06",'
              f'GPU_I_PROFILE="3g.40gb",GPU_I_ID="{instance}"' for instance in (1, 2)]


def value_text(rng: random.Random, family: str) -> str:
    special = rng.random()
    if special < 0.02:
        return rng.choice(["NaN", "+Inf", "-Inf", "inf", "1e2", ".5", "5.", "-0"])
    if family == UTIL:
        return str(rng.randint(0, 100))
    if family == TEMP:
        return str(rng.randint(30, 90))
    if family == POWER:
        return f"{rng.uniform(80, 700):.3f}"
    return rng.choice(["0"] * 30 + ["79", "48"])


def hostile_line(rng: random.Random, stamp: int) -> str:
    """A line the rules turn away, or that the bulk reading leaves to the line-by-line one."""
    block = rng.choice(LABEL_BLOCKS)
    return rng.choice([
        f"{UTIL}{{{block}}} oops {stamp}",  # invalid value
        f"{TEMP}{{{block}}} 500 {stamp}",  # implausible
        f"{UTIL}{{{block}}} 5 {stamp + 86_400_000}",  # outside the day
        f"{UTIL}{{{block}}} 5 12x",  # invalid timestamp
        f"{UTIL}{{{block}}} 5 {stamp} ",  # a trailing blank: still a sample
        f"{UTIL}{{{block}}}\t7\t{stamp}",  # tabs: still a sample
        f"{UTIL}{{{block}}}  8   {stamp}",  # several blanks: still a sample
        f"{UTIL} 9 {stamp}",  # no labels: no GPU
        f'{UTIL}{{UUID="GPU-nope"}} 9 {stamp}',  # not a DCGM UUID
        f'{UTIL}{{UUID="{uuid(7)}",a="unterminated}} 9 {stamp}',  # a label block never closed
        f"{UTIL}{{{block}}} 9 {stamp} extra",  # too many fields
        f'{UTIL}{{{block},x="}} 1 {stamp}"}} 9 {stamp}',  # `} ` and a whole sample's text inside a value
        f"{UTIL}{{{block}}}",  # no value
        f"9bad{{{block}}} 1 {stamp}",  # no metric name
        "  # a comment after blanks",
        "   ",
        "# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).",
        f"DCGM_FI_DEV_FB_USED{{{block}}} 1024 {stamp}",  # a family with no figure of its own
    ])


def exposition_day(seed: int, interval_s: int = 1_200, stamped: bool = True) -> str:
    """A day of scrapes in the text format, HELP and TYPE per family per scrape, with hostile lines, repeated
    samples and reordered lines sprinkled in (stamped), or one raw scrape without sample timestamps."""
    rng = random.Random(seed)
    lines = []
    for scrape in range(0, 86_400, interval_s) if stamped else (0,):
        stamp = DAY_MS + scrape * 1000
        suffix = f" {stamp}" if stamped else ""
        for family in (UTIL, TEMP, POWER, XID):
            lines += [f"# HELP {family} {HELP[family]}", f"# TYPE {family} gauge"]
            for block in LABEL_BLOCKS + MIG_BLOCKS:
                if rng.random() < 0.03:
                    continue  # a GPU that missed a scrape
                lines.append(f"{family}{{{block}}} {value_text(rng, family)}{suffix}")
                if rng.random() < 0.01:
                    lines.append(lines[-1])  # the same sample twice
                if rng.random() < 0.01:
                    lines.append(f"{family}{{{block}}} {value_text(rng, family)}{suffix}")  # same time, other value
        if stamped:
            lines += [hostile_line(rng, stamp) for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.1:
                lines.append("")
    return "\n".join(lines) + "\n"


def line_by_line(scrapes, series, scraped_at):
    """Every line through the reading that was there before the bulk one: text batches decoded by Python, each
    line cut by the anchored patterns and checked by the rules."""
    if scrapes.format != telemetry.PROMETHEUS_FORMAT:
        yield from ORIGINAL_SAMPLE_BATCHES(scrapes, series, scraped_at)
        return
    for batch in telemetry.line_batches(scrapes.path, scrapes.sha256, telemetry.BATCH_BYTES):
        yield telemetry._SampleBatch(None, *telemetry.parse_prometheus(batch))


ORIGINAL_SAMPLE_BATCHES = telemetry._sample_batches


def ingested(home: Path, files: dict[str, bytes], monkeypatch, bulk: bool, batch_bytes: int) -> tuple:
    lake = Lake(home)
    lake.home.inbox.mkdir(parents=True)
    for name, content in files.items():
        (lake.home.inbox / name).write_bytes(content)
    take_in_inbox(lake)
    taken_in_bulk = []
    bulk_samples = telemetry.KnownSeries.bulk_samples

    def counted(self, *args, **kwargs):
        in_bulk, others = bulk_samples(self, *args, **kwargs)
        taken_in_bulk.append(in_bulk.height)
        return in_bulk, others

    with monkeypatch.context() as patch:
        patch.setattr(telemetry, "BATCH_BYTES", batch_bytes)
        patch.setattr(telemetry.KnownSeries, "bulk_samples", counted)
        if not bulk:
            patch.setattr(telemetry, "_sample_batches", line_by_line)
        summaries = ingest_telemetry_day(DAY, lake)
    # The bulk reading takes the samples written the common way (all but the GPU with `} ` in a label value, and
    # the lines with tabs or extra blanks), the line-by-line one none.
    accepted = sum(summary.rows_accepted for summary in summaries)
    assert (sum(taken_in_bulk) > 0.8 * accepted) if bulk else not taken_in_bulk
    return day_outcome(lake, summaries)


def day_outcome(lake: Lake, summaries: list) -> tuple:
    """The day's rows, each file's quarantine entries, and each file's counts and messages."""
    rows = pl.from_arrow(lake.read_table("gpu_telemetry_daily", DAY))
    quarantined = {}
    for inbox_file in current_files(lake, "telemetry", DAY)[0]:
        table = lake.read_quarantine("telemetry", DAY, inbox_file.name, inbox_file.sha256)
        quarantined[inbox_file.name] = None if table is None else pl.from_arrow(table).to_dicts()
    counts = sorted((s.file_name, s.rows_in, s.rows_accepted, s.rows_quarantined, tuple(sorted(s.reasons.items())),
                     s.messages) for s in summaries)
    return rows, quarantined, counts


def edge_case_files() -> dict[str, bytes]:
    stamped = exposition_day(seed=11)
    return {
        "dcgm-2026-01-05.prom": stamped.encode(),
        # the same day from a collector that writes CRLF, a byte order mark, and one line not in UTF-8
        "collector-b-2026-01-05.prom": (
            "\ufeff" + exposition_day(seed=12).replace("\n", "\r\n")).encode().replace(
            b"node-02", b"n\xf6de-02", 1),
        # a raw scrape of /metrics: no sample timestamps, the scrape time in its name
        "node-01-20260105T101500Z.prom": exposition_day(seed=13, stamped=False).encode(),
    }


@pytest.mark.parametrize("batch_bytes", [3_001, 65_536])
def test_bulk_reading_gives_the_line_by_line_readings_day(tmp_path, monkeypatch, batch_bytes):
    files = edge_case_files()
    bulk = ingested(tmp_path / "bulk", files, monkeypatch, bulk=True, batch_bytes=batch_bytes)
    reference = ingested(tmp_path / "line-by-line", files, monkeypatch, bulk=False,
                         batch_bytes=telemetry.BATCH_BYTES)
    rows, quarantined, counts = bulk
    assert rows.height >= 3 * len(LABEL_BLOCKS)  # every GPU of every file but the one with no DCGM UUID's
    assert rows.equals(reference[0], null_equal=True)
    assert quarantined == reference[1]
    assert counts == reference[2]
    reasons = {reason for _, _, _, _, per_file, _ in counts for reason, _ in per_file}
    assert reasons >= {"invalid_value", "implausible_value", "outside_day", "invalid_timestamp", "missing_label",
                       "unknown_gpu", "unparseable_line", "duplicate_sample", "invalid_encoding"}


def test_the_days_figures_are_a_plain_reading_of_its_lines(tmp_path, monkeypatch):
    text = exposition_day(seed=21)
    rows, _, _ = ingested(tmp_path / "bulk", {"dcgm-2026-01-05.prom": text.encode()}, monkeypatch, bulk=True,
                          batch_bytes=4096)
    got = {row["gpu_uuid"]: row for row in rows.to_dicts()}
    expected = plain_reading(text)
    assert got.keys() == expected.keys()
    for gpu, figures in expected.items():
        for name, value in figures.items():
            assert got[gpu][name] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), (
                gpu, name)


def tampered_archive(home: Path) -> Lake:
    """A lake whose one archived DCGM file had a digit changed after it was received."""
    lake = Lake(home)
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "dcgm-2026-01-05.prom").write_text(exposition_day(seed=31))
    take_in_inbox(lake)
    (archived,) = current_files(lake, "telemetry", DAY)[0]
    content = bytearray(archived.path.read_bytes())
    content[-30] = ord("9") if content[-30] != ord("9") else ord("8")
    archived.path.chmod(0o644)
    archived.path.write_bytes(bytes(content))
    return lake


def test_a_tampered_archive_is_refused_though_read_ahead_of_its_parsing(tmp_path, monkeypatch):
    lake = tampered_archive(tmp_path / "home")
    monkeypatch.setattr(telemetry, "BATCH_BYTES", 4096)
    with pytest.raises(ArchiveTampered):
        ingest_telemetry_day(DAY, lake)


def test_repeated_samples_are_told_apart_alike_packed_or_not():
    rows = 20_000
    rng = random.Random(5)
    samples = pl.DataFrame({
        "metric_id": [rng.randrange(3) for _ in range(rows)], "uuid_id": [rng.randrange(50) for _ in range(rows)],
        "timestamp_ms": [DAY_MS + rng.randrange(40) * 60_000 for _ in range(rows)],
        "mig_instance": pl.Series([None] * rows, dtype=pl.String),
    }, schema_overrides={"metric_id": pl.UInt32, "uuid_id": pl.UInt32})
    plain = samples.select(pl.struct("metric_id", "uuid_id", "mig_instance", "timestamp_ms").is_first_distinct())
    packed = samples.select(telemetry._first_of_its_sample(samples, metrics=3))
    assert packed.to_series().to_list() == plain.to_series().to_list()
    assert 0 < plain.to_series().sum() < rows


# --- a plain reading --------------------------------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\}[ \t]+([^ \t{}"]+)'
                    r'(?:[ \t]+([^ \t{}"]+))?[ \t]*$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"')
FLOAT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(Inf|inf)$|^NaN$")
RANGES = telemetry.PLAUSIBLE_RANGES


def plain_reading(text: str) -> dict[str, dict]:
    """Per GPU: the day's figures, each line read on its own with Python's `re`: samples (scrape times), mean and
    95th percentile of utilisation, highest temperature, mean power, XID samples, first and last seen, the model and
    host of its latest sample. A repeated sample (metric, GPU, MIG instance, time) counts once, the first; MIG
    instances' utilisation is averaged, the rest taken at its highest."""
    seen, by_gpu = set(), {}
    for line in text.split("\n"):
        found = SAMPLE.match(line)
        if not found:
            continue
        metric, block, value, stamp = found.groups()
        labels = {name: unescaped(raw) for name, raw in LABEL.findall(block)}
        gpu = labels.get("UUID")
        if (not gpu or not re.fullmatch(r"GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", gpu)
                or not FLOAT.match(value) or stamp is None or not re.fullmatch(r"-?[0-9]{1,15}", stamp)
                or not DAY_MS <= int(stamp) < DAY_MS + 86_400_000):
            continue
        number = float(value)
        low, high = RANGES.get(metric, (-math.inf, math.inf))
        if math.isfinite(number) and not low <= number <= high:
            continue
        key = (metric, gpu, labels.get("GPU_I_ID"), int(stamp))
        if key in seen:
            continue
        seen.add(key)
        gpu_samples = by_gpu.setdefault(gpu, {})
        gpu_samples.setdefault((metric, int(stamp)), []).append(
            (number if math.isfinite(number) else None, labels))
    return {gpu: figures(samples) for gpu, samples in by_gpu.items()}


def figures(samples: dict[tuple[str, int], list]) -> dict:
    def merged(metric: str, values: list) -> float | None:
        present = [v for v in values if v is not None]
        if not present:
            return None
        return sum(present) / len(present) if metric == UTIL else max(present)

    per_metric: dict[str, list[float]] = {}
    xid_samples = 0
    for (metric, _), readings in sorted(samples.items(), key=lambda item: item[0][1]):
        value = merged(metric, [v for v, _ in readings])
        if metric == XID and value is not None and value != 0:
            xid_samples += 1
        if value is not None:
            per_metric.setdefault(metric, []).append(value)
    stamps = sorted({stamp for _, stamp in samples})
    latest = max(samples.items(), key=lambda item: item[0][1])[1][-1][1]
    util = sorted(per_metric.get(UTIL, []))
    return {
        "samples": len(stamps),
        "util_mean": sum(util) / len(util) if util else None,
        "util_p95": linear_quantile(util, 0.95) if util else None,
        "temp_max": max(per_metric[TEMP]) if per_metric.get(TEMP) else None,
        "power_mean": sum(per_metric[POWER]) / len(per_metric[POWER]) if per_metric.get(POWER) else None,
        "xid_error_samples": xid_samples,
        "first_seen": datetime(1970, 1, 1) + timedelta(milliseconds=stamps[0]),
        "last_seen": datetime(1970, 1, 1) + timedelta(milliseconds=stamps[-1]),
        "model_name": latest.get("modelName"),
    }


def linear_quantile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def unescaped(raw: str) -> str:
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), raw)
