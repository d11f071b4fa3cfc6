"""A year, end to end, at realistic scale: `python -m bench.year [--days N] [--scale X] [--gpus N] [--home DIR]`.

A benchmark, not a test. A simulated year goes through the pipeline's own code: ingestion of every day, the ledger
of the year, the reconciliation checks and the attestation, on this machine; it reports the wall time of each phase
and of the whole, the peak resident memory, and how the cost of one more day grows with the history.

What is simulated, and how:
- The chain: its tables for the year (and one day more) are written straight into the lake by bench/ledger.py's
  `write_lake` (LAKE_QUERIES at its default Volume: about 10,500 chain events a day, 3,500 loans originated on the
  first day, over 10 million journal lines a year), with the day's `loanState` of every loan added to `chain_state`
  (status active, principal as on the tapes) so that R5 compares the tapes with the chain loan by loan. Reading a
  real node is measured by bench/chain_ingest.py; here the chain ingest is not run.
- The off-chain sources are real files dropped into `inbox/` day by day and taken in by the real intake and
  ingestion code (`take_in_inbox`, `ingest_loan_tapes_day`, `ingest_telemetry_day`, `join_collateral_telemetry`,
  `ingest_custodian_day`: the functions the Dagster assets call):
  - a loan tape per lender per day (LENDERS lenders sharing the loans: the tape schema's CSV, written by DuckDB from
    the same LAKE_QUERIES["loan_tapes"] rows the ledger benchmark writes, so every tape loan is a chain loan with its
    principal; two collateral GPUs per loan by 13-digit serial);
  - the custodian's CSV statement (the T-bill holding, marked daily, as bench/ledger.py's custodian rows);
  - DCGM telemetry in Prometheus text (sandbox/file_drops.write_dcgm_scrapes, the simulator's own writer) for the
    fleet of `gpus` GPUs (10,000 by default: the loans' collateral GPUs, every 25th loan's second GPU dark, and the
    rest of the fleet unpledged), scraped every `scrape_interval_s` seconds (every 6 hours by default: 4 scrapes ×
    4 families × 10,000 GPUs = 160,000 samples, about 31 MB a day; hourly, 184 MB a day, takes about 10 s a day to
    ingest here, an hour for the year). A year of one-minute scrapes of 10,000 GPUs is about 4 TB of text:
    bench/telemetry.py measures one such day (its rate per sample is what a minute cadence would multiply); here
    the cadence is coarser so a year fits in a bench run of about 40 minutes. Each day's telemetry file is removed
    from the inbox archive once ingested (the archive keeps every file in production) so disk stays bounded.
- The pipeline: each day ingested in turn (the drop of the next day waits for the previous day's ingest); then the
  year's ledger in one window, a run of the Definitions' ledger assets (dbt build of every partitioned model and
  its tests) with their reconciliation checks (R1..R9, H1..H6 as Dagster asset checks running Great Expectations);
  then the attestation job (HTML and PDF, every loan listed) for the first day, the last, and every
  `attest_every`-th day between (an attestation costs seconds; 365 of them would dominate the run: the year's
  total adds the sampled mean × the days not attested, and says so).
  Ingestion calls the asset functions rather than a Dagster run per day: a run costs seconds of its own, which the
  day N+1 figure below does include.
- The cost of one more day: day N+1 after the year, against day 1 on an empty home, each the same runs through the
  Definitions' jobs: `inbox_ingestion` (what the inbox sensor launches: the day's off-chain ingestion, the ledger
  and its checks) then `attestation`. Near 1 when a day's cost grows with its own data, not with the history.
  Day 1 creates every table of the warehouse; from day 2 on, a day's models are incremental (a delete and an
  insert, the previous day carried forward), so day 2 after day 1 is measured too: day N+1 against day 2 is the
  growth with the history alone.

Breaks the checks raise on this data, by design of the synthetic chain (the point is timing): R1, since the chain's
tables carry Deposited/Withdrawn but no USDai Transfer events and `totalSupply` reads 0 — a blocker every day, so
the attestations are generated with an override reason (as `backed attest DAY --override` does); others as the
checks find them (the counts are reported). Loan tapes agree with the chain (R5).

Each phase runs in a fresh process of its own (day 1, the year's ingestion, the year's ledger run, each sampled
attestation, day N+1), as each Dagster run does in production (the run launcher starts a process per run): one
process for everything would carry the year's objects into day N+1 and measure the bench, not the pipeline. Peak
memory is the largest of the phases': each process's own (VmHWM) and its children's (each `dbt` process). The synthetic chain lake is written
before, in the parent process, and counted apart (its setup time is reported, not in the year's total).
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
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import row  # noqa: E402
from bench.ledger import LAKE_QUERIES, LOAN_ROUTER, START, YEAR, Volume, write_lake  # noqa: E402
from foundation.home import DataHome  # noqa: E402

GPUS = 10_000
SCRAPE_INTERVAL_S = 21_600
LENDERS = 5
ATTEST_EVERY = 60
CUSTODIAN_ID = "custodian-a"
OVERRIDE = "bench/year.py: synthetic chain without USDai Transfer events or totalSupply (R1 breaks by design)"
# One night: the window a daily pipeline has between the day's close and the business day.
NIGHT_S = 8 * 3600

# Sizes of a smoke run (`python -m bench --quick`): 3 days at 2% of the volume, 300 GPUs every 6 hours.
QUICK_RUN = {"days": 3, "volume": Volume(mints=120, burns=60, stakes=30, loans=70), "gpus": 300,
             "scrape_interval_s": 21_600, "attest_every": 1}

# The chain's tables of bench/ledger.py (the off-chain tables come from the files), and in chain_state each loan's
# loanState at the day's last block: active (status 1), its principal (100,000 USD, 18 decimals) outstanding.
CHAIN_TABLES = ("chain_address_book", "chain_days", "chain_events")
LOAN_STATE = """
        select d.day as partition_date, d.k * 100000 + 99999 as block_number,
               '0x' || sha256('block ' || (d.k * 100000 + 99999)) as block_hash,
               d.day + interval 86399 second as block_time, 'loan_router' as contract_role,
               '{LOAN_ROUTER}' as contract_address, 'loanState' as method, '0x' || sha256('loan ' || j) as key,
               f.field, case f.field when 'status' then cast(1 as decimal(38, 0))
                                     else cast('100000000000000000000000' as decimal(38, 0)) end as value
        from days d, range({loans}) r(j), (values ('status'), ('scaledBalance')) f(field)"""


def chain_queries() -> dict[str, str]:
    queries = {table: LAKE_QUERIES[table] for table in CHAIN_TABLES}
    queries["chain_state"] = LAKE_QUERIES["chain_state"] + "\n        union all" + LOAN_STATE
    return queries


# A day's tapes: LAKE_QUERIES["loan_tapes"] rows (loan j is row j + 1) as the tape schema's CSV, loans dealt to
# LENDERS lenders; amounts as plain decimal text (exact), dates ISO.
TAPE_CSV = """
    select strftime(as_of_date, '%Y-%m-%d') as as_of_date,
           'lender-bench-' || ((source_row - 1) % {lenders} + 1) as lender_id, loan_id, loan_terms_hash, borrower_id,
           borrower_name, currency, {original_principal} as original_principal,
           {principal_outstanding} as principal_outstanding, {accrued_interest} as accrued_interest,
           {daily_interest} as daily_interest, interest_rate_bps, status, days_past_due,
           strftime(origination_date, '%Y-%m-%d') as origination_date,
           strftime(maturity_date, '%Y-%m-%d') as maturity_date,
           cast(source_row - 1 as varchar) || '=' || cast(1000000000000 + 2 * (source_row - 1) as varchar) || '|'
               || cast(1000000000000 + 2 * (source_row - 1) + 1 as varchar) as collateral,
           {insurance_cover_ratio} as insurance_cover_ratio, insurance_waiting_period_days
    from ({tapes}) as tapes"""


def _decimal_text(column: str) -> str:
    # decimal(38, 18) as text without trailing zeros: '27.397260000000000000' -> '27.39726', '100000.0…' -> '100000'
    return f"rtrim(rtrim(cast({column} as varchar), '0'), '.')"


def write_tapes(inbox: Path, day: date, volume: Volume, lenders: int) -> int:
    """The day's tape of each lender, written atomically into inbox/loan_tapes/; returns the bytes written."""
    parameters = dict(start=START.isoformat(), **volume.__dict__)
    tapes = LAKE_QUERIES["loan_tapes"].format(**parameters)
    sql = TAPE_CSV.format(tapes=tapes, lenders=lenders, **{
        column: _decimal_text(column) for column in ("original_principal", "principal_outstanding",
                                                     "accrued_interest", "daily_interest", "insurance_cover_ratio")})
    folder = inbox / "loan_tapes"
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with duckdb.connect() as con:
        con.execute(f"create temp table days as select date '{day.isoformat()}' as day, {(day - START).days} as k")
        con.execute(f"create temp table tape as {sql}")
        for lender in range(1, lenders + 1):
            name = f"lender-bench-{lender}-{day.isoformat()}.csv"
            partial = folder / f"{name}.part"  # intake leaves `.part` files alone: renamed once whole
            con.execute(f"copy (select * from tape where lender_id = 'lender-bench-{lender}' order by loan_id) "
                        f"to '{partial}' (header, delimiter ',')")
            written += partial.stat().st_size
            os.replace(partial, folder / name)
    return written


def write_statement(inbox: Path, day: date) -> int:
    """The custodian's CSV statement of the day: the T-bill holding of bench/ledger.py, marked at 96."""
    from sandbox.file_drops import StatementRow, custodian_statement_path, write_custodian_statement

    path = custodian_statement_path(inbox, CUSTODIAN_ID, day)
    holding = StatementRow("holding", cusip="912797QM2", security_description="US TREASURY BILL",
                           maturity_date=START + timedelta(days=400), par_value=Decimal(1_000_000),
                           price=Decimal(96), market_value=Decimal(960_000 + 10 * (day - START).days))
    write_custodian_statement(path, day, CUSTODIAN_ID, "reserve-1", [holding])
    return path.stat().st_size


def fleet(gpus: int, volume: Volume) -> list:
    """The DCGM view of the fleet: loan j's collateral GPUs are serials 10^12 + 2j and + 2j + 1 (every
    dark_gpu_every-th loan's second GPU sends nothing); the GPUs beyond the loans' are unpledged."""
    from sandbox.file_drops import GpuFeed

    pledged = 2 * volume.loans
    return [GpuFeed(uuid=f"GPU-{n:08x}-0000-4000-8000-{n:012x}", serial=str(1_000_000_000_000 + n), index=n % 8,
                    hostname=f"node-{n // 8:05d}", model_name="NVIDIA H100 80GB HBM3", util_base=60 + n % 30,
                    temp_base=55 + n % 15, power_base_mw=650_000,
                    dark_from_s=0 if n < pledged and n % 2 == 1 and (n // 2) % volume.dark_gpu_every == 0 else None)
            for n in range(max(gpus, pledged))]


def write_telemetry(inbox: Path, day: date, feeds: list, scrape_interval_s: int) -> int:
    from sandbox.file_drops import dcgm_path, write_dcgm_scrapes

    path = dcgm_path(inbox, day)
    write_dcgm_scrapes(path, day, feeds, scrape_interval_s, seed=7)
    return path.stat().st_size


def drop_day(home: Path, day: date, volume: Volume, feeds: list, scrape_interval_s: int, lenders: int) -> int:
    inbox = DataHome(home).inbox
    return (write_tapes(inbox, day, volume, lenders) + write_statement(inbox, day)
            + write_telemetry(inbox, day, feeds, scrape_interval_s))


def ingest_day(home: Path, day: date) -> dict:
    """The day's off-chain ingestion by the functions the Dagster assets call, in the assets' order."""
    from assets.custodian.statements import ingest_custodian_day
    from assets.inbox.intake import take_in_inbox
    from assets.loan_tapes.tape import ingest_loan_tapes_day
    from assets.telemetry.scrapes import ingest_telemetry_day, join_collateral_telemetry
    from foundation.lake import Lake

    lake = Lake(home)
    take_in_inbox(lake)
    summaries = [*ingest_loan_tapes_day(day, lake), *ingest_telemetry_day(day, lake), *ingest_custodian_day(day, lake)]
    dark = join_collateral_telemetry(day, lake)
    drop_archived_telemetry(home, day)
    return {"files": len(summaries), "rows_in": sum(s.rows_in for s in summaries),
            "rows_quarantined": sum(s.rows_quarantined for s in summaries), "collateral_gpus_dark": dark}


def drop_archived_telemetry(home: Path, day: date) -> None:
    # The bench's only departure from production: the archive keeps every file; a year of DCGM text would not fit.
    shutil.rmtree(DataHome(home).archive / "telemetry" / day.isoformat(), ignore_errors=True)


# --- the Definitions' jobs ------------------------------------------------------------------------------------

class Pipeline:
    """The Definitions and the Dagster instance of one home; each job run in process, as `backed demo` does."""

    def __init__(self, home: Path) -> None:
        from orchestration.definitions import build_definitions
        from orchestration.instance import instance_for

        self.home = home
        self.defs = build_definitions(home, "sandbox")
        self.instance = instance_for(home)

    def run(self, job: str, days: list[date], asset_selection=None, run_config: dict | None = None) -> dict:
        """One run of `job` over the window of `days` (or unpartitioned); its wall time, the seconds of each step
        (from the run's event log), and the failures other than blocking checks that found blockers."""
        from orchestration.pipeline import QUIET_RUN_CONFIG, range_tags, step_crashes

        config = {**QUIET_RUN_CONFIG, **(run_config or {})}
        kwargs = {"tags": range_tags(days[0], days[-1])} if days else {}
        if asset_selection is not None:
            kwargs["asset_selection"] = list(asset_selection)
        started = time.perf_counter()
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance, run_config=config, raise_on_error=False, **kwargs)
        seconds = time.perf_counter() - started
        crashes = step_crashes(result)
        if crashes:
            raise RuntimeError(f"the {job} run failed:\n" + "\n".join(crashes[:5]))
        return {"seconds": seconds, "steps": self._step_seconds(result.run_id), "success": result.success}

    def _step_seconds(self, run_id: str) -> dict[str, float]:
        started: dict[str, float] = {}
        seconds: dict[str, float] = {}
        for entry in self.instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or not entry.step_key:
                continue
            if event.event_type_value == "STEP_START":
                started[entry.step_key] = entry.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in started:
                seconds[entry.step_key] = entry.timestamp - started[entry.step_key]
        return seconds

    def ledger_keys(self):
        from orchestration.jobs import LEDGER

        return LEDGER.resolve(self.defs.resolve_asset_graph())

    def attest(self, day: date) -> dict:
        config = {"ops": {"reserve_attestation": {"config": {"override_reason": OVERRIDE}}}}
        return self.run("attestation", [day], run_config=config)


def split_steps(steps: dict[str, float]) -> dict[str, float]:
    """A run's step seconds by phase: ingestion assets, dbt (ledger_models: the build and its tests), the
    reconciliation checks (a step each), other steps (the lake's partition checks)."""
    from expectations.reconciliation import RECONCILIATIONS

    RECONCILIATION_STEPS = [recon.name for recon in RECONCILIATIONS]
    ingestion = ("chain_ingestion", "loan_tape_ingestion", "gpu_telemetry_daily", "collateral_gpu_daily",
                 "custodian_ingestion")
    out = {"ingestion": 0.0, "ledger": 0.0, "checks": 0.0, "other": 0.0}
    for step, seconds in steps.items():
        if step in ingestion:
            out["ingestion"] += seconds
        elif step == "ledger_models":
            out["ledger"] += seconds
        elif any(step.endswith(name) for name in RECONCILIATION_STEPS):
            out["checks"] += seconds
        else:
            out["other"] += seconds
    return out


def open_exceptions(home: Path) -> dict[str, int]:
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        rows = con.execute("""select check_id || ' ' || severity, count(*) from recon.exceptions
                              where status != 'resolved' group by 1 order by 1""").fetchall()
    return {key: count for key, count in rows}


def peak_mib() -> dict[str, float]:
    """This process's peak resident memory, and its children's (each dbt). Not ru_maxrss for this process: Linux
    carries the high-water mark across exec, so a process started by the bench's parent (gigabytes after writing
    the synthetic lake) would report the parent's peak; VmHWM is this process's own. A child's ru_maxrss can
    likewise include this process's peak at the spawn, which the larger of the two already counts."""
    status = Path("/proc/self/status").read_text()
    own_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return {"self": own_kib / 1024, "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def one_day_through_jobs(pipeline: Pipeline, day: date, volume: Volume, feeds: list, scrape_interval_s: int,
                         lenders: int) -> dict:
    """A day as production runs it: files dropped, the inbox sensor's `inbox_ingestion` run, the attestation."""
    started = time.perf_counter()
    dropped = drop_day(pipeline.home, day, volume, feeds, scrape_interval_s, lenders)
    files_s = time.perf_counter() - started
    ingest = pipeline.run("inbox_ingestion", [day])
    drop_archived_telemetry(pipeline.home, day)
    attest = pipeline.attest(day)
    phases = split_steps(ingest["steps"])
    return {"day": day.isoformat(), "files_seconds": files_s, "file_bytes": dropped,
            "inbox_run_seconds": ingest["seconds"], "attestation_seconds": attest["seconds"],
            "seconds": ingest["seconds"] + attest["seconds"], **{f"{k}_seconds": v for k, v in phases.items()},
            "steps": {**ingest["steps"], **attest["steps"]}}


def _log(message: str) -> None:
    print(f"bench.year: {message}", file=sys.stderr, flush=True)


def measure_phase(phase: str, work: Path, days: int, volume: Volume, gpus: int, scrape_interval_s: int,
                  lenders: int, attest_every: int) -> dict:
    """One phase of the benchmark, timed in this (fresh) process: a Dagster run in production is a process of its
    own (the run launcher's), so each run here starts from a fresh process too, and its peak memory is its own.
    `phase` is day_1, day_2, ingestion, ledger, attestation:<day> or day_n1. Returns the figures as a dict."""
    feeds = fleet(gpus, volume)
    all_days = [START + timedelta(days=i) for i in range(days)]
    out: dict = {}
    if phase == "day_1":
        # Day 1 on an empty home (its chain lake of one day was written by the parent).
        first = Pipeline(work / "first_day")
        first.run("reference_data", [])
        out = one_day_through_jobs(first, START, volume, feeds, scrape_interval_s, lenders)
        out["open_exceptions"] = open_exceptions(first.home)
        _log(f"day 1 on an empty home: {out['seconds']:.1f} s")
    elif phase == "day_2":
        # Day 2 after day 1: the first day whose dbt models are incremental (day 1 creates every table).
        out = one_day_through_jobs(Pipeline(work / "first_day"), START + timedelta(days=1), volume, feeds,
                                   scrape_interval_s, lenders)
        _log(f"day 2 after day 1: {out['seconds']:.1f} s")
    elif phase == "ingestion":
        year = Pipeline(work / "year")
        out["reference_data_seconds"] = year.run("reference_data", [])["seconds"]
        # Ingestion, day by day: the day's files dropped (not timed), then its ingest.
        files_s = ingest_s = 0.0
        dropped_bytes = rows_in = quarantined = 0
        for number, day in enumerate(all_days, 1):
            started = time.perf_counter()
            dropped_bytes += drop_day(year.home, day, volume, feeds, scrape_interval_s, lenders)
            files_s += time.perf_counter() - started
            started = time.perf_counter()
            summary = ingest_day(year.home, day)
            ingest_s += time.perf_counter() - started
            rows_in += summary["rows_in"]
            quarantined += summary["rows_quarantined"]
            if number % 30 == 0 or number == days:
                _log(f"ingested {number} days ({ingest_s:.0f} s ingest, {files_s:.0f} s writing the files)")
        out.update(seconds=ingest_s, files={"seconds": files_s, "bytes": dropped_bytes, "rows_in": rows_in,
                                            "rows_quarantined": quarantined})
    elif phase == "ledger":
        # The year's ledger and its checks in one window.
        year = Pipeline(work / "year")
        ledger = year.run("inbox_ingestion", all_days, asset_selection=year.ledger_keys())
        out.update(seconds=ledger["seconds"], steps=ledger["steps"], phases=split_steps(ledger["steps"]),
                   exceptions_after_year=open_exceptions(year.home))
        with duckdb.connect(str(DataHome(year.home).warehouse), read_only=True) as con:
            out["journal_lines"] = con.execute("select count(*) from main.journal_lines").fetchall()[0][0]
        _log(f"ledger and checks of {days} days: {ledger['seconds']:.0f} s ({out['journal_lines']:,} journal lines)")
    elif phase.startswith("attestation:"):
        out["seconds"] = Pipeline(work / "year").attest(date.fromisoformat(phase.split(":", 1)[1]))["seconds"]
    elif phase == "day_n1":
        # Day N+1 after the year (its chain tables were written with the year's).
        out = one_day_through_jobs(Pipeline(work / "year"), START + timedelta(days=days), volume, feeds,
                                   scrape_interval_s, lenders)
        _log(f"day {days + 1} after {days} days: {out['seconds']:.1f} s")
    else:
        raise ValueError(f"unknown phase {phase!r}")
    out["peak_mib"] = max(peak_mib().values())
    return out


def measure(work: Path, sizes: dict) -> dict:
    """Every phase, each in a fresh process; the figures gathered as one dict."""
    days, attest_every = sizes["days"], sizes["attest_every"]
    all_days = [START + timedelta(days=i) for i in range(days)]
    m: dict = {"phases": {}, "peaks_mib": {}}
    m["day_1"] = _in_fresh_process(work, "day_1", sizes)
    m["day_2"] = _in_fresh_process(work, "day_2", sizes)
    ingestion = _in_fresh_process(work, "ingestion", sizes)
    m["phases"]["reference data (dbt seeds)"] = ingestion["reference_data_seconds"]
    m["phases"]["ingestion"] = ingestion["seconds"]
    m["files"] = ingestion["files"]
    ledger = _in_fresh_process(work, "ledger", sizes)
    m["phases"]["ledger (dbt build of the window)"] = ledger["phases"]["ledger"]
    m["phases"]["checks (R1..R9, H1..H6 over the window)"] = ledger["phases"]["checks"]
    m["phases"]["ledger run: other steps and Dagster"] = (ledger["seconds"] - ledger["phases"]["ledger"]
                                                          - ledger["phases"]["checks"])
    m.update(ledger_steps=ledger["steps"], exceptions_after_year=ledger["exceptions_after_year"],
             journal_lines=ledger["journal_lines"])
    # Attestations: first, last and every attest_every-th day, each its own run.
    sampled = sorted({all_days[0], all_days[-1], *all_days[::attest_every]})
    attestations = [_in_fresh_process(work, f"attestation:{day.isoformat()}", sizes) for day in sampled]
    attest_s = [a["seconds"] for a in attestations]
    m["attestations"] = {"days": len(sampled), "seconds": sum(attest_s), "mean": sum(attest_s) / len(attest_s)}
    m["phases"][f"attestation ({len(sampled)} days sampled)"] = sum(attest_s)
    _log(f"{len(sampled)} attestations: {sum(attest_s):.0f} s")
    m["day_n1"] = _in_fresh_process(work, "day_n1", sizes)
    m["peaks_mib"] = {"day_1": m["day_1"]["peak_mib"], "day_2": m["day_2"]["peak_mib"],
                      "ingestion": ingestion["peak_mib"],
                      "ledger": ledger["peak_mib"], "attestation": max(a["peak_mib"] for a in attestations),
                      "day_n1": m["day_n1"]["peak_mib"]}
    m["peak_mib"] = max(m["peaks_mib"].values())
    return m


def _in_fresh_process(work: Path, phase: str, sizes: dict) -> dict:
    completed = subprocess.run([sys.executable, "-m", "bench.year", "--measure", phase, str(work), json.dumps(sizes)],
                               cwd=REPO, stdout=subprocess.PIPE, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"the {phase} phase failed (exit status {completed.returncode}); its stderr is above")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(days: int = YEAR, volume: Volume = Volume(), gpus: int = GPUS, scrape_interval_s: int = SCRAPE_INTERVAL_S,
        lenders: int = LENDERS, attest_every: int = ATTEST_EVERY, home: Path | None = None) -> list[dict]:
    work = Path(home) if home else Path(tempfile.mkdtemp(prefix="backed-bench-year-",
                                                         dir=os.environ.get("BENCH_SCRATCH")))
    try:
        for path in (work / "year", work / "first_day"):
            shutil.rmtree(path, ignore_errors=True)
        started = time.perf_counter()
        write_lake(work / "year", days + 1, volume, chain_queries())  # the year and day N+1
        write_lake(work / "first_day", 2, volume, chain_queries())  # day 1 and day 2
        setup_s = time.perf_counter() - started
        sizes = {"days": days, "volume": asdict(volume), "gpus": gpus, "scrape_interval_s": scrape_interval_s,
                 "lenders": lenders, "attest_every": attest_every}
        m = measure(work, sizes)
    finally:
        if home is None:
            shutil.rmtree(work, ignore_errors=True)

    fleet_size = max(gpus, 2 * volume.loans)
    events = volume.mints + volume.burns + volume.stakes
    scale = (f"{days} days, {volume.loans:,} loans of {lenders} lenders, {fleet_size:,} GPUs scraped every "
             f"{scrape_interval_s // 60} min, {events:,} chain events/day, {m['journal_lines']:,} journal lines")
    attested = m["attestations"]
    # The year's total: every phase measured, and the attestations of the days not sampled at the sampled mean.
    measured_s = sum(m["phases"].values())
    total_s = measured_s + attested["mean"] * (days - attested["days"])
    memory_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    d1, d2, dn = m["day_1"], m["day_2"], m["day_n1"]
    print(f"bench.year: {scale}", file=sys.stderr)
    for phase, seconds in m["phases"].items():
        print(f"bench.year:   {phase}: {seconds:.1f} s", file=sys.stderr)
    print(f"bench.year: files dropped: {m['files']['bytes'] / 1e9:.2f} GB in {m['files']['seconds']:.0f} s "
          f"(not in the total); synthetic chain lake written in {setup_s:.0f} s (not in the total)", file=sys.stderr)
    print(f"bench.year: open exceptions after the year: {m['exceptions_after_year']}", file=sys.stderr)
    for name, figures in (("day 1", d1), ("day 2", d2), ("day N+1", dn)):
        print(f"bench.year: {name}: " + json.dumps({k: v for k, v in figures.items() if k != "steps"}), file=sys.stderr)
    print(f"bench.year: peaks (MiB) by phase: {json.dumps(m['peaks_mib'])}", file=sys.stderr)
    slowest = sorted(m["ledger_steps"].items(), key=lambda item: -item[1])[:8]
    print("bench.year: the year's ledger run, slowest steps: "
          + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in slowest), file=sys.stderr)
    grown = sorted(dn["steps"], key=lambda step: -(dn["steps"][step] - d1["steps"].get(step, 0)))[:8]
    print(f"bench.year: day {days + 1} vs day 1, the steps that grew most: "
          + ", ".join(f"{step} {d1['steps'].get(step, 0):.1f} -> {dn['steps'][step]:.1f} s" for step in grown),
          file=sys.stderr)
    rows = [
        row(f"a year end to end, wall time ({scale}; attestations: {attested['days']} days run, the other "
            f"{days - attested['days']} at their mean {attested['mean']:.1f} s)", round(total_s), "s",
            "the limit: one night (8 h)", NIGHT_S),
        row(f"ingestion of {days} days, files taken in day by day ({m['files']['bytes'] / 1e9:.1f} GB of tapes, "
            "statements and DCGM text)", round(m["phases"]["ingestion"]), "s", "the limit: one night (8 h)", NIGHT_S),
        row(f"ledger: dbt build of the {days} days in one run ({m['journal_lines']:,} journal lines)",
            round(m["phases"]["ledger (dbt build of the window)"]), "s", "the limit: one night (8 h)", NIGHT_S),
        row(f"checks: the reconciliation checks over the {days} days in that run",
            round(m["phases"]["checks (R1..R9, H1..H6 over the window)"]), "s", "the limit: one night (8 h)", NIGHT_S),
        row(f"attestation of one day (HTML and PDF; mean of {attested['days']})", round(attested["mean"], 2), "s"),
        row(f"day {days + 1} after {days} days: inbox_ingestion run (ingest, ledger, checks) + attestation",
            round(dn["seconds"], 1), "s", "day 1 on an empty home, the same runs", round(d1["seconds"], 1)),
        row(f"  of which ingestion (day {days + 1} / day 1)", round(dn["ingestion_seconds"], 1), "s",
            "day 1", round(d1["ingestion_seconds"], 1)),
        row(f"  of which ledger, dbt build (day {days + 1} / day 1)", round(dn["ledger_seconds"], 1), "s",
            "day 1", round(d1["ledger_seconds"], 1)),
        row(f"  of which checks (day {days + 1} / day 1)", round(dn["checks_seconds"], 1), "s",
            "day 1", round(d1["checks_seconds"], 1)),
        row(f"  of which attestation (day {days + 1} / day 1)", round(dn["attestation_seconds"], 1), "s",
            "day 1", round(d1["attestation_seconds"], 1)),
        # Day 1 creates every dbt table; from day 2 on a day's models are incremental: day N+1 against day 2 is
        # the growth with history alone.
        row(f"day {days + 1} after {days} days, the same runs", round(dn["seconds"], 1), "s",
            "day 2 after day 1", round(d2["seconds"], 1)),
        row(f"  of which ledger, dbt build (day {days + 1} / day 2)", round(dn["ledger_seconds"], 1), "s",
            "day 2", round(d2["ledger_seconds"], 1)),
        row("peak resident memory: the largest phase (a run's process and its dbt children)", round(m["peak_mib"]), "MiB",
            "machine memory", round(memory_mib)),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.year", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=YEAR)
    parser.add_argument("--scale", type=float, default=1.0, help="chain events and loans relative to the default")
    parser.add_argument("--gpus", type=int, default=GPUS)
    parser.add_argument("--interval", type=int, default=SCRAPE_INTERVAL_S, help="DCGM scrape interval, seconds")
    parser.add_argument("--attest-every", type=int, default=ATTEST_EVERY)
    parser.add_argument("--home", type=Path, help="work directory to keep (default: a temporary one, removed)")
    parser.add_argument("--measure", nargs=3, metavar=("PHASE", "WORK", "SIZES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        phase, work, sizes = args.measure[0], Path(args.measure[1]), json.loads(args.measure[2])
        sizes["volume"] = Volume(**sizes["volume"])
        print(json.dumps(measure_phase(phase, work, **sizes)))
        return 0
    base = Volume()
    volume = Volume(**{name: max(1, round(value * args.scale)) if name not in ("delinquent_every", "dark_gpu_every")
                       else value for name, value in base.__dict__.items()})
    for result in run(args.days, volume, args.gpus, args.interval, attest_every=args.attest_every, home=args.home):
        print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
