"""Benchmark of the ledger (dbt on DuckDB), not a test: `python -m bench.ledger [--days N] [--home DIR]`.

It writes a synthetic lake of a year (and one day more) whose journal has over 10 million lines — USDai mints and
burns, sUSDai stakes, a book of GPU loans accruing daily with some delinquent and some with dark GPUs (so the
allowance moves every day), a T-bill marked daily — then measures:

- journal lines per second of `dbt build` over the whole year (what a backfill runs: every model and every test),
  beside beancount loading and balancing the same transactions (a beancount file written from the built journal,
  its first million lines: beancount keeps every entry in memory; installed, pinned, in a venv the benchmark
  creates) and beside DuckDB's raw scan-and-aggregate of the same lines (the journal exported to Parquet, summed by
  account and sub-account: the floor for any engine);
- the cost of adding day N+1 to a year of history divided by the cost of day 1 (each a `dbt build` of one day, the
  first on an empty warehouse, the second after the year is built): near 1 when a day's build does not grow with
  the history.

`run()` returns rows {name, value, unit, baseline_name, baseline_value, ratio}. Timings are wall-clock; each dbt
build is a fresh `dbt` process, as Dagster runs it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assets.ledger import DUCKDB_DBT, dbt_environment  # noqa: E402
from foundation.home import DataHome  # noqa: E402
from foundation.lake import SCHEMAS, Lake  # noqa: E402
from bench import row  # noqa: E402

PROJECT_DIR = REPO / "dbt_project"
BEANCOUNT_REQUIREMENT = "beancount==3.2.3"
# beancount holds every entry in memory (about 3.4 GB per million journal lines): it loads the year's first days
# up to this many lines; its rate per line does not depend on how many there are.
BEANCOUNT_LINES = 1_000_000

START = date(2025, 1, 1)
YEAR = 365

USDAI = "0x0A1a1A107E45b7Ced86833863f482BC5f4ed82EF"
SUSDAI = "0x0B2b2B2076d95dda7817e785989fE353fe955ef9"
LOAN_ROUTER = "0x0C2ED170F2bB1DF1a44292Ad621B577b3C9597D1"
BASE_TOKEN = "0x46850aD61C2B7d64d08c9C754F45254596696984"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
CUSTODIAN = "0xC5c5C5c5c5C5c5C5C5C5c5C5C5C5c5c5C5c5c5C5"


@dataclass(frozen=True)
class Volume:
    """Events per day. The defaults give about 28,600 journal lines a day: 10.4 million in a year."""

    mints: int = 6_000  # USDai Deposited: 2 lines each
    burns: int = 3_000  # USDai Withdrawn by holders: 2 lines
    stakes: int = 1_500  # sUSDai Deposit: 2 lines
    loans: int = 3_500  # tape rows accruing daily: 2 lines; originated on the first day: 2 lines each
    # Every 20th loan falls delinquent after 30 days and every 25th has a dark GPU: their allowance moves daily.
    delinquent_every: int = 20
    dark_gpu_every: int = 25


# Sizes of a smoke run (`python -m bench --quick`): every step, over 3 days at 2% of the volume.
QUICK_RUN = {"days": 3, "volume": Volume(mints=120, burns=60, stakes=30, loans=70), "beancount_lines": 10_000}


# Each table of the lake for all days at once, from DuckDB's range(): $days days from $start, deterministic.
LAKE_QUERIES: dict[str, str] = {
    "chain_address_book": """
        select d.day as partition_date, role, address, is_protocol, token_symbol, token_decimals
        from days d, (values
            ('usdai', '{USDAI}', true, 'USDai', 18), ('susdai', '{SUSDAI}', true, 'sUSDai', 18),
            ('loan_router', '{LOAN_ROUTER}', true, null, null), ('base_token', '{BASE_TOKEN}', false, 'PYUSD', 6),
            ('usdc', '{USDC}', false, 'USDC', 6), ('custodian', '{CUSTODIAN}', false, null, null)
        ) as book(role, address, is_protocol, token_symbol, token_decimals)""",
    "chain_days": """
        select day as partition_date, 31337 as chain_id, 'bench' as profile, k * 100000 as from_block,
               k * 100000 + 99999 as to_block, '0x' || sha256('block ' || (k * 100000 + 99999)) as to_block_hash,
               day + interval 86399 second as to_block_time, k * 100000 + 99999 as state_block,
               '0x' || sha256('block ' || (k * 100000 + 99999)) as state_block_hash,
               0 as log_count
        from days""",
    "chain_state": """
        select day as partition_date, k * 100000 + 99999 as block_number,
               '0x' || sha256('block ' || (k * 100000 + 99999)) as block_hash,
               day + interval 86399 second as block_time, 'usdai' as contract_role, '{USDAI}' as contract_address,
               'totalSupply' as method, '' as key, 'value' as field, cast(0 as decimal(38, 0)) as value
        from days""",
    "chain_events": """
        with usdai_events as (
            select d.day, d.k, i, 'Deposited' as event, {mints} as n from days d, range({mints}) r(i)
            union all
            select d.day, d.k, i, 'Withdrawn', {burns} from days d, range({burns}) r(i)
        ),
        vault_events as (
            select d.day, d.k, i, 'Deposit' as event from days d, range({stakes}) r(i)
        ),
        originations as (
            select d.day, d.k, i, 'LoanOriginated' as event from days d, range({loans}) r(i) where d.k = 0
        ),
        logs as (
            select day, k, i, event, 'usdai' as contract_role, '{USDAI}' as contract_address,
                   case event when 'Deposited' then 0 else {mints} end + i as position
            from usdai_events
            union all
            select day, k, i, event, 'susdai', '{SUSDAI}', {mints} + {burns} + i from vault_events
            union all
            select day, k, i, event, 'loan_router', '{LOAN_ROUTER}', {mints} + {burns} + {stakes} + i from originations
        )
        select
            day as partition_date, k * 100000 + position // 10 as block_number,
            '0x' || sha256('block ' || (k * 100000 + position // 10)) as block_hash,
            day + to_seconds(position // 10) as block_time,
            '0x' || lpad(to_hex(k * 1000000 + position), 64, '0') as tx_hash, position % 10 as log_index,
            contract_address, contract_role, event,
            '0x' || lpad(to_hex(1000 + (k * 7919 + i) % 50000), 40, '0') as holder,
            100 + hash(k, i, event) % 10000 as dollars, i
        from logs""",
    "loan_tapes": """
        select
            d.day as partition_date, d.day as as_of_date, 'lender-bench' as lender_id, 'L-' || j as loan_id,
            '0x' || sha256('loan ' || j) as loan_terms_hash, 'B-' || (j % 300) as borrower_id,
            'Borrower ' || (j % 300) as borrower_name, 'USDC' as currency,
            cast(100000 as decimal(38, 18)) as original_principal, cast(100000 as decimal(38, 18)) as principal_outstanding,
            cast('27.39726' as decimal(38, 18)) * (d.k + 1) as accrued_interest,
            cast('27.39726' as decimal(38, 18)) as daily_interest, 1000 as interest_rate_bps,
            case when j % {delinquent_every} = 0 and d.k >= 30 then 'delinquent' else 'current' end as status,
            case when j % {delinquent_every} = 0 and d.k >= 30 then d.k - 29 else 0 end as days_past_due,
            date '{start}' as origination_date, date '{start}' + interval 730 day as maturity_date,
            'lender-bench-' || strftime(d.day, '%Y-%m-%d') || '.csv' as source_file,
            sha256('lender-bench-' || strftime(d.day, '%Y-%m-%d')) as source_sha256, j + 1 as source_row,
            cast('0.70' as decimal(38, 18)) as insurance_cover_ratio, 21 as insurance_waiting_period_days
        from days d, range({loans}) r(j)""",
    "loan_collateral": """
        select
            d.day as partition_date, 'lender-bench' as lender_id, '0x' || sha256('loan ' || j) as loan_terms_hash,
            cast(j as varchar) as nft_token_id, cast(1000000000000 + 2 * j + g as varchar) as gpu_serial,
            'lender-bench-' || strftime(d.day, '%Y-%m-%d') || '.csv' as source_file,
            sha256('lender-bench-' || strftime(d.day, '%Y-%m-%d')) as source_sha256, j + 1 as source_row
        from days d, range({loans}) r(j), range(2) gpus(g)""",
    "gpu_telemetry_daily": """
        select
            d.day as partition_date, 'GPU-' || (2 * j + g) as gpu_uuid, cast(1000000000000 + 2 * j + g as varchar) as gpu_serial,
            'node-' || (j // 4) as hostname, 'NVIDIA H100 80GB HBM3' as model_name, 144 as samples,
            600 as scrape_interval_s, cast(1440 as double) as minutes_online, cast(80 as double) as util_mean,
            cast(95 as double) as util_p95, cast(70 as double) as temp_max, cast(600 as double) as power_mean,
            0 as xid_error_samples, cast(d.day as timestamp) as first_seen,
            d.day + interval 86399 second as last_seen, 'dcgm-' || strftime(d.day, '%Y-%m-%d') || '.prom' as source_file,
            sha256('dcgm-' || strftime(d.day, '%Y-%m-%d')) as source_sha256
        from days d, range({loans}) r(j), range(2) gpus(g)
        where not (g = 1 and j % {dark_gpu_every} = 0)""",
    "custodian_statements": """
        select
            d.day as partition_date, d.day as statement_date, d.day + interval 86399 second as cut_off_time,
            'custodian-bench' as custodian_id, 'reserve-1' as account_id, 'holding' as record_type,
            '912797QM2' as cusip, 'US TREASURY BILL' as security_description,
            date '{start}' + interval 400 day as maturity_date, cast(1000000 as decimal(38, 18)) as par_value,
            cast(96 as decimal(38, 18)) as price, cast(960000 + 10 * d.k as decimal(38, 18)) as market_value,
            cast(null as decimal(38, 18)) as amount, 'USD' as currency, null as transaction_type, null as reference,
            'custodian-bench-' || strftime(d.day, '%Y-%m-%d') || '.csv' as source_file,
            sha256('custodian-bench-' || strftime(d.day, '%Y-%m-%d')) as source_sha256, 1 as source_row
        from days d""",
    "input_files": """
        select d.day as partition_date, 'loan_tapes' as source,
               'lender-bench-' || strftime(d.day, '%Y-%m-%d') || '.csv' as file_name,
               sha256('lender-bench-' || strftime(d.day, '%Y-%m-%d')) as sha256, 0 as size_bytes,
               {loans} as rows_in, {loans} as rows_accepted, 0 as rows_quarantined
        from days d""",
}

# chain_events' argument columns from the generic log rows above (dollars whole: raw amounts are exact).
EVENT_ARGUMENTS = """
    select * exclude (holder, dollars, i),
        case when event in ('Deposited', 'Withdrawn') then holder end as caller,
        case when event in ('Deposited', 'Withdrawn') then holder end as recipient,
        case when event = 'Deposited' then '{USDC}' end as deposit_token,
        case when event = 'Withdrawn' then '{BASE_TOKEN}' end as withdraw_token,
        case when event = 'Deposit' then holder end as sender,
        case when event = 'Deposit' then holder end as owner,
        case when event = 'Deposited' then cast(dollars as decimal(38, 0)) * 1000000 end as deposit_amount,
        case when event = 'Deposited' then cast(dollars as decimal(38, 0)) * 1000000000000000000 end as mint_amount,
        case when event = 'Withdrawn' then cast(dollars as decimal(38, 0)) * 1000000000000000000 end as usdai_amount,
        case when event = 'Withdrawn' then cast(dollars as decimal(38, 0)) * 1000000 end as withdraw_amount,
        case when event = 'Deposit' then cast(dollars as decimal(38, 0)) * 1000000000000000000 end as assets,
        case when event = 'Deposit' then cast(dollars as decimal(38, 0)) * 1000000000000000000 end as shares,
        case when event = 'LoanOriginated' then '0x' || sha256('loan ' || i) end as loan_terms_hash,
        case when event = 'LoanOriginated' then '0x' || lpad(to_hex(90000 + i % 300), 40, '0') end as borrower,
        case when event = 'LoanOriginated' then '{USDC}' end as currency_token,
        case when event = 'LoanOriginated' then cast(100000000000 as decimal(38, 0)) end as principal,
        case when event = 'LoanOriginated' then cast(0 as decimal(38, 0)) end as origination_fee
    from ({events}) as logs"""


def write_lake(home: Path, days: int, volume: Volume, queries: dict[str, str] | None = None) -> Lake:
    """The synthetic lake of `days` days from START, one Parquet file per table per day (foundation.lake.Lake): every
    table of LAKE_QUERIES, or only those of `queries` (same templates and parameters; bench/year.py writes the
    chain's tables only)."""
    lake = Lake(home)
    parameters = dict(USDAI=USDAI, SUSDAI=SUSDAI, LOAN_ROUTER=LOAN_ROUTER, BASE_TOKEN=BASE_TOKEN, USDC=USDC,
                      CUSTODIAN=CUSTODIAN, start=START.isoformat(), **volume.__dict__)
    with duckdb.connect() as con:
        con.execute(f"""create temp table days as
                        select cast(date '{START.isoformat()}' + interval (k) day as date) as day, k
                        from range({days}) r(k)""")
        for table, template in (LAKE_QUERIES if queries is None else queries).items():
            sql = template.format(**parameters)
            if table == "chain_events":
                sql = EVENT_ARGUMENTS.format(events=sql, **parameters)
            rows = con.sql(f"select * from ({sql}) order by partition_date").to_arrow_table()
            _write_by_day(lake, table, rows)
    empty = SCHEMAS["chain_logs_unknown"].empty_table()
    for offset in range(days):
        lake.write_table("chain_logs_unknown", START + timedelta(days=offset), empty)
    return lake


def _write_by_day(lake: Lake, table: str, rows: pa.Table) -> None:
    """Slice the rows (sorted by day) into the lake's daily partitions; columns not generated are null."""
    schema = SCHEMAS[table]
    missing = [field for field in schema if field.name not in rows.column_names]
    for field in missing:
        rows = rows.append_column(field.name, pa.nulls(rows.num_rows, field.type))
    days = pc.value_counts(rows.column("partition_date").combine_chunks())
    offset = 0
    for entry in sorted(days.to_pylist(), key=lambda e: e["values"]):
        lake.write_table(table, entry["values"], rows.slice(offset, entry["counts"]).select(schema.names))
        offset += entry["counts"]


def dbt_build(home: Path, first: date, last: date, command: str = "build") -> float:
    """Seconds of one `dbt build` (seeds, models, tests) of the days `first` through `last`, in a fresh process.
    dbt's environment is the pipeline's: the home and the window (so that dbt reuses the parse its last run in the
    home saved, as the pipeline's runs do), its file log at info, no JSON artifacts."""
    env = {**os.environ, **dbt_environment(DataHome(home), (first, last)), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    command = [str(DUCKDB_DBT), command, "--project-dir", str(PROJECT_DIR), "--target-path", str(home / "dbt_target"),
               "--log-path", str(home / "dbt_logs")]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"dbt build failed in {home}:\n{result.stdout[-4000:]}")
    return elapsed


def journal_line_count(home: Path) -> int:
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        return con.execute("select count(*) from main.journal_lines").fetchall()[0][0]


def export_journal(home: Path, parquet_path: Path, beancount_path: Path, beancount_lines: int) -> int:
    """The built journal as Parquet, and its first days holding at least `beancount_lines` lines as a beancount
    file: one transaction per entry, accounts per code and sub-account (beancount names cannot hold addresses: a
    sub-account is named by a digest of it). Returns the journal lines in the beancount file."""
    beancount_account = """
        case a.account_type when 'asset' then 'Assets:A' when 'liability' then 'Liabilities:L'
             when 'equity' then 'Equity:E' when 'income' then 'Income:I' else 'Expenses:X' end
        || j.account_code || case when j.sub_account = '' then '' else ':S' || upper(left(md5(j.sub_account), 12)) end"""
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        con.execute(f"copy (select * from main.journal_lines) to '{parquet_path}' (format parquet)")
        # the first day by which `beancount_lines` are reached; the last day if the journal is shorter (quick runs)
        last_day = con.execute("""
            select coalesce(min(partition_date) filter (where lines_through >= ?), max(partition_date)) from (
                select partition_date, sum(count(*)) over (order by partition_date) as lines_through
                from main.journal_lines group by partition_date
            ) as days""", [beancount_lines]).fetchall()[0][0]
        exported = con.execute("select count(*) from main.journal_lines where partition_date <= ?",
                               [last_day]).fetchall()[0][0]
        text = con.sql(f"""
            with lines as (
                select j.*, {beancount_account} as account
                from main.journal_lines j join main.chart_of_accounts a using (account_code)
                where j.partition_date <= '{last_day}'
            ),
            opens as (
                select min(partition_date) as partition_date, account from lines group by account
            ),
            beancount_lines as (
                select partition_date, '' as entry_id, 0 as line_no,
                       strftime(partition_date, '%Y-%m-%d') || ' open ' || account as line
                from opens
                union all
                select partition_date, entry_id, 0, strftime(partition_date, '%Y-%m-%d') || ' *'
                from lines where line_no = 1
                union all
                select partition_date, entry_id, line_no,
                       '  ' || account || ' ' || cast(debit - credit as varchar) || ' USD'
                from lines
            )
            select line from beancount_lines order by partition_date, entry_id, line_no""").to_arrow_table()
    pa_csv.write_csv(text, str(beancount_path),
                     pa_csv.WriteOptions(include_header=False, quoting_style="none", delimiter="\t"))
    return exported


BEANCOUNT_LOAD = """
import sys, time
from beancount import loader
from beancount.core import realization
started = time.perf_counter()
entries, errors, options = loader.load_file(sys.argv[1])
if errors:
    raise SystemExit(f"beancount reported {len(errors)} errors, the first: {errors[0]}")
balances = realization.realize(entries)
print(time.perf_counter() - started)
"""


def beancount_python(cache: Path) -> Path:
    """A venv with the pinned beancount, created once under `cache`."""
    venv = cache / "beancount-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", BEANCOUNT_REQUIREMENT], check=True)
    return python


def beancount_seconds(python: Path, beancount_path: Path) -> float:
    """beancount parsing, booking (every transaction must balance), validating and realizing the balances."""
    result = subprocess.run([str(python), "-c", BEANCOUNT_LOAD, str(beancount_path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"beancount failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def duckdb_scan_seconds(parquet_path: Path) -> float:
    with duckdb.connect() as con:
        started = time.perf_counter()
        con.execute(f"""select account_code, sub_account, sum(debit) - sum(credit)
                        from read_parquet('{parquet_path}') group by all""").fetchall()
        return time.perf_counter() - started


def run(days: int = YEAR, volume: Volume = Volume(), home: Path | None = None, keep: bool = False,
        beancount_lines: int = BEANCOUNT_LINES) -> list[dict]:
    work = Path(home) if home else Path(tempfile.mkdtemp(prefix="backed-bench-ledger-"))
    try:
        year, first_day = work / "year", work / "first_day"
        for path in (year, first_day):
            shutil.rmtree(path, ignore_errors=True)
        # The year plus day N+1, and, apart, the first day alone.
        write_lake(year, days + 1, volume)
        write_lake(first_day, 1, volume)
        last, next_day = START + timedelta(days=days - 1), START + timedelta(days=days)

        # Each home's parse of the project made first, untimed: a deployment's runs start from the last one's.
        for built in (first_day, year):
            dbt_build(built, START, START, command="parse")
        first_day_seconds = dbt_build(first_day, START, START)
        year_seconds = dbt_build(year, START, last)
        lines = journal_line_count(year)
        parquet_path, beancount_path = work / "journal_lines.parquet", work / "journal.beancount"
        beancount_lines = export_journal(year, parquet_path, beancount_path, beancount_lines)
        next_day_seconds = dbt_build(year, next_day, next_day)

        scan = duckdb_scan_seconds(parquet_path)
        beancount = beancount_seconds(beancount_python(work / "cache"), beancount_path)
        ledger_rate = lines / year_seconds
        return [
            row(f"journal lines/s, dbt build of {days} days ({lines:,} lines)", ledger_rate, "lines/s",
                f"beancount load + balance of the same transactions (the first {beancount_lines:,} lines)",
                beancount_lines / beancount),
            row(f"journal lines/s, dbt build of {days} days ({lines:,} lines)", ledger_rate, "lines/s",
                "DuckDB raw scan-and-aggregate of the same lines (Parquet)", lines / scan),
            row(f"seconds to add day {days + 1} to {days} days of history", next_day_seconds, "s",
                "seconds to build day 1 on an empty warehouse", first_day_seconds),
        ]
    finally:
        if not keep and home is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=YEAR, help="days of history (default a year)")
    parser.add_argument("--scale", type=float, default=1.0, help="events per day relative to the default volume")
    parser.add_argument("--home", type=Path, help="work directory to keep (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    base = Volume()
    volume = Volume(**{name: max(1, round(value * args.scale)) if name not in ("delinquent_every", "dark_gpu_every")
                       else value for name, value in base.__dict__.items()})
    for result in run(args.days, volume, args.home):
        ratio = f"{result['ratio']:.3g}" if result["ratio"] is not None else "n/a"
        print(f"{result['name']}: {result['value']:,.4g} {result['unit']}"
              f"  | {result['baseline_name']}: {result['baseline_value']:,.4g}  | ratio {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
