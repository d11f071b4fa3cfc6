"""The reserve attestation of one day: what finance signs.

Everything in it is a balance of the ledger or a reading of a source with its own cut-off, and the report is
deterministic: the same inputs and code give the same bytes (no generation time; inputs identified by hash).
Generation refuses while a blocker exception is open for the day, unless an override with a named reason is given,
and then the override is printed in the report.
"""
import hashlib
import subprocess
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import dagster as dg
import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from expectations.exceptions import BLOCKER, open_exceptions
from orchestration.partitions import daily_partitions
from orchestration.pools import WAREHOUSE_POOL
from orchestration.resources import BackedHome

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPO_ROOT = Path(__file__).resolve().parent.parent


class AttestationRefused(Exception):
    """A blocker exception is open for the day and no override was given."""


def code_version() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def usd(value) -> str:
    """Format an exact USD amount with thousands separators and cents (banker's rounding for display only)."""
    if value is None:
        return "n/a"
    return f"{Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def ratio(value) -> str:
    if value is None:
        return "n/a"
    return f"{(Decimal(value) * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}%"


def plain(value) -> str:
    """An exact decimal without trailing zeros (a price of 99.048195, not 99.048195000000000000)."""
    if value is None:
        return "n/a"
    text = format(Decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


@dataclass
class Attestation:
    day: date
    html: str
    blockers: list[dict]
    ledger_hash: str


def build_attestation(con: duckdb.DuckDBPyConnection, day: date, override_reason: str | None = None,
                      preparer: str = "") -> Attestation:
    exceptions = open_exceptions(con, on=day)
    blockers = [e for e in exceptions if e["severity"] == BLOCKER]
    if blockers and not override_reason:
        ids = ", ".join(f"{e['check_id']}:{e['entity_key']} ({e['exception_id']})" for e in blockers)
        raise AttestationRefused(f"{len(blockers)} blocker exception(s) open for {day}: {ids}")

    coverage = _rows(con, "select * from main.reserve_coverage where partition_date = ?", [day])
    if not coverage:
        raise AttestationRefused(f"no reserve_coverage for {day}: the ledger for that day has not been built")
    cov = coverage[0]
    balances = _rows(con, """
        select t.account_code, c.account_name, c.account_type, t.closing_balance
        from main.trial_balance t join main.chart_of_accounts c using (account_code)
        where t.partition_date = ? order by t.account_code""", [day])
    stablecoins = _rows(con, """
        select j.sub_account, a.token_symbol, sum(j.debit) - sum(j.credit) as balance
        from main.journal_lines j
        left join (select distinct address, token_symbol from main.stg_chain_address_book) a
          on a.address = split_part(j.sub_account, '@', 1)
        where j.account_code = '1020' and j.partition_date <= ?
        group by j.sub_account, a.token_symbol having sum(j.debit) - sum(j.credit) != 0
        order by j.sub_account""", [day])
    tbills = _rows(con, """
        select cusip, security_description, maturity_date, par_value, price, market_value, custodian_id, account_id
        from main.stg_custodian_statements
        where statement_date = ? and record_type = 'holding' order by cusip""", [day])
    chain_cutoff = _rows(con, "select * from main.stg_chain_days where partition_date = ?", [day])
    inputs = _rows(con, """
        select source, file_name, sha256, rows_in, rows_accepted, rows_quarantined
        from main.stg_input_files where partition_date = ? order by source, file_name""", [day])
    statement_cutoff = _rows(con, """
        select custodian_id, max(cut_off_time) as cut_off_time from main.stg_custodian_statements
        where statement_date = ? group by custodian_id order by custodian_id""", [day])
    ledger_hash = con.execute("""
        select sha256(coalesce(string_agg(entry_id || ':' || line_no || ':' || account_code || ':' || sub_account
               || ':' || cast(debit as varchar) || ':' || cast(credit as varchar), chr(10)
               order by entry_id, line_no), ''))
        from main.journal_lines where partition_date <= ?""", [day]).fetchone()[0]

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      keep_trailing_newline=True)
    env.filters["usd"] = usd
    env.filters["ratio"] = ratio
    env.filters["plain"] = plain
    html = env.get_template("attestation.html.j2").render(
        day=day, coverage=cov, balances=balances, stablecoins=stablecoins, tbills=tbills,
        chain_cutoff=chain_cutoff[0] if chain_cutoff else None, statement_cutoff=statement_cutoff,
        inputs=inputs, exceptions=exceptions, blockers=blockers, override_reason=override_reason,
        preparer=preparer, ledger_hash=ledger_hash, code_version=code_version(),
    )
    return Attestation(day=day, html=html, blockers=blockers, ledger_hash=ledger_hash)


def write_attestation(reports_dir: Path, attestation: Attestation) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"attestation-{attestation.day.isoformat()}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(attestation.html, encoding="utf-8")
    tmp.replace(path)
    return path


class AttestationConfig(dg.Config):
    override_reason: str | None = None
    preparer: str = ""


@dg.asset(
    description="The day's reserve attestation (HTML): supply, reserves by class, coverage, open exceptions, input hashes.",
    group_name="attestation",
    kinds={"html"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    deps=["reserve_coverage", "trial_balance", "journal_lines", "usdai_supply_reconciliation"],
    pool=WAREHOUSE_POOL,
)
def reserve_attestation(context: dg.AssetExecutionContext, config: AttestationConfig,
                        backed_home: BackedHome) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    with duckdb.connect(str(backed_home.warehouse_path), read_only=True) as con:
        try:
            attestation = build_attestation(con, day, config.override_reason, config.preparer)
        except AttestationRefused as exc:
            raise dg.Failure(description=f"attestation refused: {exc}") from exc
    path = write_attestation(backed_home.reports_dir, attestation)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "sha256": hashlib.sha256(attestation.html.encode()).hexdigest(),
        "ledger_hash": attestation.ledger_hash,
        "open_blockers_overridden": len(attestation.blockers),
    })
