"""The monthly reserve report (`backed report monthly 2026-01`): the month's position, flows, exceptions and
corrections in one signed document, HTML and PDF.

It is an `Attestation` like a day's (assets/attestation/document.py), laid out by the same template and PDF renderer,
measured at the close of the month's last ledger day and named by the month (`period_label`). Its figures are read
from the warehouse, read-only: the marts and the attestation views of the month's days, the exceptions table, and
what each day's attestation was issued on (attestations/DAY/). Like the daily report it commits every figure to a
canonical manifest (kind `backed.monthly-report`), kept with records.write_manifest under attestations/YYYY-MM/,
whose sha256 the signatures cover; the chief executive and chief financial officers certify it on top of the
preparer's and approver's sign-off. Nothing comes from the clock: the same warehouse and records give the same bytes.
"""
from __future__ import annotations

import calendar
import json
import re
from datetime import date, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from assets.attestation.document import ISSUER, Attestation, Section, Table
from assets.attestation.facts import code_version, management_assertion, sign_off
from assets.attestation.html import render_html
from assets.attestation.journal_chain import chain_through, first_break
from assets.attestation.manifest import (MANIFEST_VERSION, MONTHLY_MANIFEST_KIND, ManifestError, canonical_json,
                                         digest_of, ledger_policy, read_manifest)
from assets.attestation.records import read_publication, write_manifest
from assets.attestation.signing import read_signatures
from expectations.exceptions import MANUAL_RESOLUTION, list_exceptions
from expectations.policy import ReconciliationPolicy
from foundation.home import DataHome
from foundation.lake import write_bytes_atomically
from foundation.money import plain, ratio, usd

# The officers who certify a monthly report, on top of the sign-off's preparer and approver.
CERTIFYING_ROLES = ("chief executive officer", "chief financial officer")

# The reserve classes of the liquid coverage, by ledger account, as reserve_coverage names their balances.
RESERVE_CLASSES = (
    ("custodian cash", "1000", "custodian_cash"),
    ("T-bills", "1010", "tbills"),
    ("stablecoins on chain", "1020", "onchain_stablecoins"),
)


class MonthlyReportRefused(Exception):
    """The month has no ledger day to report on, or the journal changed in the warehouse after the ledger's build."""


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last calendar day of a month written YYYY-MM."""
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    year, number = int(month[:4]), int(month[5:])
    if not 1 <= number <= 12:
        raise ValueError(f"{month!r} is not a month (YYYY-MM): there is no month {number}")
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row)) for row in cur.fetchall()]


def _total(values) -> Decimal:
    """An exact sum of USD amounts. DECIMAL(38,18) values carry up to 38 digits, more than the default context's 28:
    summed in it they would be rounded."""
    with localcontext() as exact:
        exact.prec = 80
        return sum((Decimal(v) for v in values if v is not None), Decimal(0))


def _short(value: str | None, keep: int = 10) -> str:
    if not value:
        return ""
    return value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-6:]}"


def _falls_short(day: dict, policy: ReconciliationPolicy) -> bool:
    """The daily attestation's rule: liquid coverage below the floor, or total assets short of the liabilities."""
    return (day["liquid_coverage"] is None or day["liquid_coverage"] < Decimal(policy.coverage_floor)
            or day["total_buffer"] is None or day["total_buffer"] < 0)


def _range(days: list[dict], measure: str) -> dict:
    """The lowest and highest value of a measure over the days, each with its day (the earliest on a tie); days
    without a value (a zero denominator) are left out."""
    valued = [d for d in days if d[measure] is not None]
    if not valued:
        return {"lowest": None, "lowest_on": None, "highest": None, "highest_on": None}
    lowest = min(valued, key=lambda d: (d[measure], d["partition_date"]))
    highest = max(valued, key=lambda d: (d[measure], -d["partition_date"].toordinal()))
    return {"lowest": lowest[measure], "lowest_on": lowest["partition_date"],
            "highest": highest[measure], "highest_on": highest["partition_date"]}


def _position(days: list[dict], policy: ReconciliationPolicy, ranges: dict[str, dict]) -> Section:
    end = days[-1]
    measures = [
        ("USDai total supply: totalSupply()", usd(end["usdai_total_supply"])),
        ("bridged supply: bridgedSupply()", usd(end["usdai_bridged_supply"])),
        ("held by the protocol, eliminated", usd(end["usdai_held_by_protocol"])),
        ("USDai outstanding, held outside the protocol (2000)", usd(end["usdai_outstanding"])),
        ("liquid reserves (1000 + 1010 + 1020)", usd(end["liquid_reserves"])),
        ("excess" if end["liquid_buffer"] >= 0 else "DEFICIT", usd(end["liquid_buffer"])),
        ("liquid coverage = (1000 + 1010 + 1020) / 2000", ratio(end["liquid_coverage"])),
        ("total assets net of allowance", usd(end["total_assets_net"])),
        ("total liabilities (2000 + 2100 + 2110)", usd(end["total_liabilities"])),
        ("excess" if end["total_buffer"] >= 0 else "DEFICIT", usd(end["total_buffer"])),
        ("total coverage = total assets net / total liabilities", ratio(end["total_coverage"])),
    ]
    spread = [(label, ratio(r["lowest"]), str(r["lowest_on"] or ""), ratio(r["highest"]), str(r["highest_on"] or ""))
              for label, r in (("liquid coverage", ranges["liquid_coverage"]),
                               ("total coverage", ranges["total_coverage"]))]
    short = [str(d["partition_date"]) for d in days if _falls_short(d, policy)]
    return Section(
        key="position", title="Month-end position and coverage over the month",
        intro=(f"The position at the close of the month's last ledger day, {end['partition_date']}, from the ledger "
               f"(USD), and the range of the daily coverage over the month's {len(days)} ledger day(s), "
               f"{days[0]['partition_date']} to {end['partition_date']}. Liquid coverage must stay at or above "
               f"{ratio(policy.coverage_floor)}."),
        tables=[Table(columns=("measure", "month end"), rows=measures, numeric=frozenset({1})),
                Table(columns=("daily coverage", "lowest", "on", "highest", "on"), rows=spread,
                      numeric=frozenset({1, 3}))],
        notes=[f"Coverage fell short on: {', '.join(short)}." if short
               else "Liquid and total coverage held on every ledger day of the month."],
    )


def _flows(rows: list[dict]) -> dict:
    """USDai issued and redeemed over some days, from usdai_supply_reconciliation: issued by the protocol's events
    (deposits' mints and the yield's harvests) against redeemed (withdrawals' burns), and the same flows as the
    token's Transfers from and to the zero address."""
    deposits = _total(r["minted_by_deposits"] for r in rows)
    harvests = _total(r["minted_by_harvests"] for r in rows)
    withdrawals = _total(r["burned_by_withdrawals"] for r in rows)
    minted = _total(r["minted_by_transfers"] for r in rows)
    burned = _total(r["burned_by_transfers"] for r in rows)
    return {
        "days": len(rows), "minted_by_deposits": deposits, "minted_by_harvests": harvests,
        "issued": _total((deposits, harvests)), "burned_by_withdrawals": withdrawals,
        "net_issuance": _total((deposits, harvests, -withdrawals)),
        "minted_by_transfers": minted, "burned_by_transfers": burned, "net_by_transfers": _total((minted, -burned)),
    }


def _issuance(supply: list[dict], first: date, end: date) -> tuple[Section, dict]:
    windows = {"month": first, "rolling_7_days": end - timedelta(days=6), "rolling_30_days": end - timedelta(days=29)}
    flows = {name: _flows([r for r in supply if start <= r["partition_date"] <= end])
             for name, start in windows.items()}
    lines = [
        ("issued: minted by deposits (Deposited)", "minted_by_deposits"),
        ("issued: minted by yield harvests (Harvested)", "minted_by_harvests"),
        ("issued", "issued"),
        ("redeemed: burned by withdrawals (Withdrawn)", "burned_by_withdrawals"),
        ("net issuance (issued \u2212 redeemed)", "net_issuance"),
        ("Transfers from 0x0 (mints)", "minted_by_transfers"),
        ("Transfers to 0x0 (burns)", "burned_by_transfers"),
        ("net by Transfers", "net_by_transfers"),
    ]
    rows = [(label, *(usd(flows[name][key]) for name in windows)) for label, key in lines]
    rows.append(("days with chain data", *(str(flows[name]["days"]) for name in windows)))
    notes = []
    if supply and supply[0]["partition_date"] > windows["rolling_30_days"]:
        notes.append(f"The chain's record starts on {supply[0]['partition_date']}: a window reaching before it holds "
                     f"only the days since.")
    section = Section(
        key="issuance", title="Issuance and redemption of USDai",
        intro=("USDai issued and redeemed, in USD (1 USDai = 1 USD), from the protocol's events: over the month, and "
               f"over the 7 and 30 days ending at its last ledger day, {end}. Transfers from and to the zero address "
               "count the same flows from the token's side, USDai bridged out and back in included."),
        tables=[Table(columns=("USDai", f"month ({first} to {end})", f"7 days ({windows['rolling_7_days']} to {end})",
                               f"30 days ({windows['rolling_30_days']} to {end})"),
                      rows=rows, numeric=frozenset({1, 2, 3}))],
        notes=notes,
    )
    return section, flows


def _composition(end: dict, tbills: list[dict]) -> tuple[Section, list[dict]]:
    """The reserves by class at the month's close: the ledger's balance beside the market value. Cash and stablecoins
    are worth their face; T-bills are worth what the custodian's statement of the day prices them at."""
    tbill_market = _total(t["market_value"] for t in tbills) if tbills else None
    classes = []
    for name, account, measure in RESERVE_CLASSES:
        market = tbill_market if account == "1010" else end[measure]
        classes.append({"class": name, "account": account, "ledger_balance": end[measure], "market_value": market})
    liquid_market = (_total(c["market_value"] for c in classes)
                     if all(c["market_value"] is not None for c in classes) else None)

    def share(value) -> str:
        if value is None or not end["liquid_reserves"]:
            return "n/a"
        with localcontext() as exact:
            exact.prec = 80
            return ratio(value / end["liquid_reserves"])

    rows = [(c["class"], c["account"], usd(c["ledger_balance"]), usd(c["market_value"]), share(c["ledger_balance"]))
            for c in classes]
    rows.append(("liquid reserves", "", usd(end["liquid_reserves"]), usd(liquid_market), share(end["liquid_reserves"])))
    if tbill_market is None:
        valued = ("No custodian statement of the day holds a T-bill: their market value is not stated, only the "
                  "ledger's 1010 balance.")
    elif tbill_market == end["tbills"]:
        valued = ("T-bills at the custodian statement's market value, which equals the ledger's 1010 balance: the "
                  "ledger carries them at the statement's fair value.")
    else:
        valued = (f"T-bills at the custodian statement's market value, which differs from the ledger's 1010 balance "
                  f"by {usd(tbill_market - end['tbills'])} USD.")
    detail = [(t["cusip"], t["security_description"] or "", str(t["maturity_date"] or ""), usd(t["par_value"]),
               plain(t["price"]), usd(t["market_value"]), usd(t["ledger_balance"]),
               f"{t['custodian_id']} / {t['account_id']}") for t in tbills]
    section = Section(
        key="composition", title="Reserve composition at month end",
        intro=(f"The liquid reserves by class at the close of {end['partition_date']}: notional (the ledger's balance) "
               f"beside market value, in USD. Custodian cash and stablecoins on chain are worth their face value. "
               f"{valued}"),
        tables=[Table(columns=("class", "ledger account", "notional (ledger balance)", "market value",
                               "share of liquid reserves"),
                      rows=rows, numeric=frozenset({2, 3, 4}), total_row=True),
                Table(columns=("CUSIP", "description", "maturity", "par", "price", "market value (statement)",
                               "ledger 1010", "custodian / account"),
                      rows=detail, numeric=frozenset({3, 4, 5, 6}), code=frozenset({0}),
                      empty="no T-bill on the custodian's statement of the day")],
    )
    return section, classes


def _resolution(e: dict) -> str:
    """What became of an exception: who acknowledged or resolved it and why, or that it is open."""
    if e["status"] == "resolved":
        if e.get("resolved_by_run") == MANUAL_RESOLUTION:
            return f"resolved by {e.get('resolved_by')}: {e.get('resolved_reason')}"
        return f"resolved by the run that no longer found the break ({e['resolved_by_run']})"
    if e["status"] == "acknowledged":
        return f"acknowledged by {e['acknowledged_by']}: {e['acknowledged_reason']}"
    if e.get("resolved_by"):
        return f"open: found again after {e['resolved_by']} resolved it ({e.get('resolved_reason')})"
    return "open"


def _exceptions(exceptions: list[dict], month: str) -> Section:
    blockers = sum(1 for e in exceptions if e["severity"] == "blocker")
    unresolved = sum(1 for e in exceptions if e["status"] != "resolved")
    return Section(
        key="exceptions", title="Exceptions of the month",
        intro=(f"Every break the reconciliation checks found on the days of {month}: {len(exceptions)} exception(s), "
               f"{blockers} blocker(s), {unresolved} not resolved when this report was written, with what became of "
               f"each." if exceptions else f"The reconciliation checks found no break on any day of {month}."),
        tables=[Table(columns=("exception", "check", "day", "entity", "severity", "status",
                               "resolution / acknowledgement"),
                      rows=[(e["exception_id"], e["check_id"], str(e["check_date"]), e["entity_key"], e["severity"],
                             e["status"], _resolution(e)) for e in exceptions],
                      code=frozenset({0}), empty="no exception")],
    )


def _attested_day(home: DataHome, day: date) -> dict | None:
    """The day's journal as it was first attested (records.record_attested_journal), if it was."""
    path = home.attested_day(day)
    if not path.exists():
        return None
    return pq.read_table(path).to_pylist()[0]


def _seals(home: DataHome, month: str) -> list[dict]:
    """The seals of this month and the months before it: {"month", "days": {DAY: {"digest", "ledger_hash"}}}."""
    if not home.seals.exists():
        return []
    seals = []
    for path in sorted(home.seals.glob("*.json")):
        seal = json.loads(path.read_text())
        # a seal is named by its month (attestations/seals/YYYY-MM.json) as well as stating it
        seal_month = seal.get("month") or path.stem
        if seal_month <= month:
            seals.append({"month": seal_month, "days": seal.get("days") or {}})
    return seals


def _post_seal_adjustments(home: DataHome, seals: list[dict], journal: dict[date, dict]) -> list[dict]:
    """The days of sealed months whose journal is not what was attested when they were sealed: a line posted, edited
    or removed on them since (their digest changed), and ledger days of a sealed month the seal does not hold."""
    adjusted = []
    for seal in seals:
        sealed_days = {date.fromisoformat(d) for d in seal["days"]}
        first, last = month_bounds(seal["month"])
        for day in sorted(sealed_days | {d for d in journal if first <= d <= last}):
            now = journal.get(day)
            then = _attested_day(home, day) if day in sealed_days else None
            if then is not None and now is not None and then["day_digest"] == now["day_digest"]:
                continue
            adjusted.append({"month": seal["month"], "day": day,
                             "lines_then": then["line_count"] if then else None,
                             "lines_now": now["line_count"] if now else None,
                             "digest_then": then["day_digest"] if then else None,
                             "digest_now": now["day_digest"] if now else None,
                             "sealed": day in sealed_days})
    return adjusted


def _corrections(restatements: list[dict], seals: list[dict], adjusted: list[dict], month: str) -> Section:
    def then(a: dict) -> str:
        if not a["sealed"]:
            return "not in the seal"
        return "no record" if a["lines_then"] is None else str(a["lines_then"])

    notes = []
    if not seals:
        notes.append(f"No month up to {month} is sealed (no seal under attestations/seals/): no post-seal adjustment "
                     "can exist yet.")
    else:
        notes.append(f"Sealed months checked: {', '.join(s['month'] for s in seals)}. A post-seal adjustment is a day "
                     "of a sealed month whose journal lines no longer hash to the digest recorded when the day was "
                     "attested (attestations/DAY/attested-day.parquet).")
    return Section(
        key="restatements", title="Restatements and post-seal adjustments",
        intro=("What the ledger corrected on the month's days, by reversing lines posted before and posting revised "
               "ones (a posted line is never edited), and every day of a sealed month whose journal changed after "
               "the month was sealed."),
        tables=[Table(columns=("day", "restatement", "reason", "source", "entries", "lines", "USD (debits)"),
                      rows=[(str(r["partition_date"]), r["kind"], r["reason"], r["source"], str(r["entries"]),
                             str(r["lines"]), usd(r["amount"])) for r in restatements],
                      numeric=frozenset({4, 5, 6}), empty="no reversal or revised entry is dated in this month"),
                Table(columns=("sealed month", "day", "lines when attested", "lines now", "journal digest attested",
                               "journal digest now"),
                      rows=[(a["month"], str(a["day"]), then(a), "absent" if a["lines_now"] is None
                             else str(a["lines_now"]), _short(a["digest_then"]), _short(a["digest_now"]))
                            for a in adjusted],
                      numeric=frozenset({2, 3}), code=frozenset({4, 5}),
                      empty="no adjustment after a seal" if seals else "no month sealed")],
        notes=notes,
    )


def _contract_changes(changes: list[dict], month: str) -> Section:
    return Section(
        key="contract_changes", title="Changes to the contracts",
        intro=(f"The protocol's contracts changed in {month}; each change was an H8 warning until reviewed."
               if changes else f"No contract of the protocol changed in {month}: no upgrade, admin or role change, "
               "pause or new parameter."),
        tables=[Table(columns=("day", "mined at (UTC)", "contract", "kind", "event", "change", "transaction"),
                      rows=[(str(c["partition_date"]), str(c["block_time"] or ""),
                             c["contract_role"] or _short(c["contract_address"]), c["change_kind"], c["event"],
                             c["change"], _short(c["tx_hash"])) for c in changes],
                      code=frozenset({6}), empty="no change to the contracts in this month")],
    )


def _daily_attestation(home: DataHome, day: date, journal_now: dict | None) -> dict:
    """What the day's attestation was issued as: its manifest's digest and verdict, whether the journal changed
    since, who signed that digest and where it was published."""
    period = day.isoformat()
    path = home.attestation_manifest(period)
    if not path.exists():
        return {"day": day, "digest": None, "state": "not attested"}
    try:
        document, _, digest = read_manifest(path)
    except ManifestError:
        return {"day": day, "digest": None, "state": "manifest not in canonical form: edited after it was written"}
    attested_digest = (document.get("ledger") or {}).get("day_digest")
    signers = [f"{s.role} {s.name}" for s in read_signatures(home.attestation_signatures(period))
               if s.digest == digest]
    publication = read_publication(home.attestation_publication(period))
    published = publication if publication and publication.get("digest") == digest else None
    return {
        "day": day, "digest": digest,
        "state": ("coverage held" if document.get("verdict_ok") else "coverage SHORT")
                 + (", issued with an OVERRIDE" if document.get("override") else ""),
        "journal": ("unchanged" if journal_now and journal_now["day_digest"] == attested_digest
                    else "changed since"),
        "signed_by": signers,
        "published": (f"block {published['block_number']}, transaction {_short(published['transaction_hash'])}"
                      if published else None),
    }


def _daily_attestations(attested: list[dict], month: str) -> Section:
    missing = [str(a["day"]) for a in attested if a["digest"] is None]
    return Section(
        key="daily_attestations", title="Daily attestations of the month",
        intro=(f"The reserve attestation of each ledger day of {month}, by the sha256 of its manifest (what its "
               "signatures cover and the registry publishes), whether the day's journal still hashes to what it "
               "attested, who signed it and where it was published."),
        tables=[Table(columns=("day", "manifest sha256", "verdict", "journal since", "signed by", "published"),
                      rows=[(str(a["day"]), a["digest"] or "", a["state"], a.get("journal", ""),
                             ", ".join(a.get("signed_by") or []) or "not signed", a.get("published") or "not published")
                            for a in attested],
                      code=frozenset({1}))],
        notes=[f"Days without a valid attestation: {', '.join(missing)}."] if missing else [],
    )


def certification_section(month: str, digest: str, signatures: list) -> Section:
    """The officers' certification of the month: the chief executive officer's and the chief financial officer's
    signatures over the manifest's digest; an officer who has not signed yet is a blank line to sign."""
    blank = "\u00a0" * 40
    signed = [s for s in signatures if s.digest == digest and s.role in CERTIFYING_ROLES]
    rows = [(s.role, s.name, s.signed_at[:10], s.fingerprint) for s in signed]
    rows += [(role, blank, blank, "not signed") for role in CERTIFYING_ROLES if not any(s.role == role for s in signed)]
    return Section(
        key="certification", title="Certification by the officers",
        intro=(f"The chief executive officer and the chief financial officer of {ISSUER} certify that they have "
               f"reviewed this report for {month}; that, to their knowledge, it states fairly in every material "
               "respect the reserves backing USDai and the protocol's position over the month; and that every "
               "exception, restatement and post-seal adjustment of the month is listed in it. Each signs the manifest "
               f"whose sha256 is {digest}."),
        tables=[Table(columns=("role", "name", "date signed (UTC)", "Ed25519 key fingerprint"), rows=rows,
                      code=frozenset({3}))],
        notes=["Each certification is an Ed25519 signature over the manifest's bytes." if signed else
               f"Not certified yet: `backed attest sign {month} --key KEYFILE --role \"chief executive officer\"` "
               "(and \"chief financial officer\") adds a signature."],
    )


def _manifest_section(s: Section) -> dict:
    return {"key": s.key, "title": s.title, "intro": s.intro, "notes": s.notes,
            "tables": [{"columns": list(t.columns), "rows": [list(r) for r in t.rows]} for t in s.tables]}


def gather_monthly_report(con: duckdb.DuckDBPyConnection, home: DataHome, month: str,
                          policy: ReconciliationPolicy) -> Attestation:
    """Every figure of the month's report in sections, and its manifest; refuses a month without a ledger day and a
    journal changed in the warehouse after the ledger's build."""
    first, last = month_bounds(month)
    days = _rows(con, "select * from main.reserve_coverage where partition_date between ? and ? "
                      "order by partition_date", [first, last])
    if not days:
        raise MonthlyReportRefused(
            f"no ledger day of {month} in {home.warehouse}: build the month's days first (`backed backfill --from "
            f"{first} --to {last}`, or `backed demo` for a sandbox)")
    end = days[-1]["partition_date"]
    journal_rows = chain_through(con, end)
    journal = {r["partition_date"]: r for r in journal_rows}
    broken = first_break(journal_rows)
    if broken is not None:
        row, what = broken
        raise MonthlyReportRefused(
            f"integrity break: the journal's lines of {row['partition_date']} no longer hash to what the ledger's "
            f"build recorded ({row['line_count']} lines now, {row['stored_line_count']} recorded): a journal line "
            f"was changed in the warehouse after the build; restore it from the lake (`backed backfill`)"
            if what == "lines" else
            f"integrity break: the stored hash chain does not link at {row['partition_date']}: a hash in "
            f"journal_day_hashes was changed in the warehouse after the build; restore it from the lake "
            f"(`backed backfill`)")
    if end not in journal:
        raise MonthlyReportRefused(f"the journal of {end} is not built: `backed backfill --from {end} --to {end}`")
    # the 30 days ending at the month's last ledger day may start in the month before
    supply = _rows(con, "select partition_date, minted_by_deposits, minted_by_harvests, burned_by_withdrawals, "
                        "minted_by_transfers, burned_by_transfers from main.usdai_supply_reconciliation "
                        "where partition_date between ? and ? order by partition_date",
                   [min(first, end - timedelta(days=29)), end])
    tbills = _rows(con, "select * from main.attestation_reserve_tbills where partition_date = ? "
                        "order by cusip, custodian_id, account_id, statement_date", [end])
    restatements = _rows(con, "select * from main.attestation_restatements where partition_date between ? and ? "
                              "order by partition_date, kind, reason, source", [first, last])
    changes = _rows(con, "select * from main.attestation_contract_changes where partition_date between ? and ? "
                         "order by partition_date, block_time, tx_hash, log_index", [first, last])
    exceptions = [e for e in list_exceptions(con, status="all", today=end) if first <= e["check_date"] <= last]

    ranges = {measure: _range(days, measure) for measure in ("liquid_coverage", "total_coverage")}
    issuance_section, flows = _issuance(supply, first, end)
    composition_section, classes = _composition(days[-1], tbills)
    seals = _seals(home, month)
    adjusted = _post_seal_adjustments(home, seals, journal)
    attested = [_daily_attestation(home, d["partition_date"], journal.get(d["partition_date"])) for d in days]
    sections = [
        _position(days, policy, ranges),
        issuance_section,
        composition_section,
        _exceptions(exceptions, month),
        _corrections(restatements, seals, adjusted, month),
        _contract_changes(changes, month),
        _daily_attestations(attested, month),
    ]
    close = days[-1]
    short = [d["partition_date"] for d in days if _falls_short(d, policy)]
    verdict_ok = not short
    verdict = (f"Month-end {end}: liquid coverage {ratio(close['liquid_coverage'])}, liquid reserves "
               f"{usd(close['liquid_reserves'])} USD against {usd(close['usdai_outstanding'])} USDai outstanding; "
               f"total coverage {ratio(close['total_coverage'])}, total assets net of the allowance "
               f"{usd(close['total_assets_net'])} USD against total liabilities {usd(close['total_liabilities'])} USD. "
               f"Over the month's {len(days)} ledger day(s) liquid coverage ranged from "
               f"{ratio(ranges['liquid_coverage']['lowest'])} to {ratio(ranges['liquid_coverage']['highest'])} and "
               f"total coverage from {ratio(ranges['total_coverage']['lowest'])} to "
               f"{ratio(ranges['total_coverage']['highest'])}; "
               + ("both held on every day." if verdict_ok
                  else f"coverage fell short on {', '.join(str(d) for d in short)}."))
    assertion = management_assertion(ISSUER, month, verdict_ok, None)
    version = code_version()
    ledger_end = journal[end]
    manifest = {
        "kind": MONTHLY_MANIFEST_KIND, "version": MANIFEST_VERSION, "issuer": ISSUER, "period": month,
        "measured_at": end, "ledger_days": [d["partition_date"] for d in days],
        "verdict": verdict, "verdict_ok": verdict_ok, "management_assertion": assertion, "preparer": "",
        "sections": [_manifest_section(s) for s in sections],
        "figures": {
            "month_end": close,
            "coverage_ranges": ranges,
            "days_short": short,
            "issuance": flows,
            "reserve_composition": classes,
        },
        "daily_attestations": [{"day": a["day"], "digest": a["digest"]} for a in attested],
        "post_seal_adjustments": adjusted,
        "ledger": {"hash_chain_head": ledger_end["chain_hash"], "day_digest": ledger_end["day_digest"],
                   "line_count": ledger_end["line_count"]},
        "code_version": version,
        "policy": {"reconciliation": policy.as_dbt_var(), "ledger": ledger_policy()},
    }
    manifest_bytes = canonical_json(manifest)
    return Attestation(
        day=end, verdict=verdict, verdict_ok=verdict_ok, sections=sections, charts={}, blockers=[],
        override_reason=None, preparer="", ledger_hash=ledger_end["chain_hash"], code_version=version,
        manifest=manifest, manifest_bytes=manifest_bytes, digest=digest_of(manifest_bytes), assertion=assertion,
        period_label=month)


def certify(home: DataHome, report: Attestation) -> None:
    """Lay the signatures and the publication the report's digest has into it and render its HTML: the preparer's
    and approver's sign-off (facts.sign_off), then the officers' certification. Neither is part of the manifest:
    signing changes the report's last sections, never its digest."""
    month = report.period
    signatures = read_signatures(home.attestation_signatures(month))
    publication = read_publication(home.attestation_publication(month))
    if publication and publication.get("digest") != report.digest:
        publication = None
    report.sections = [s for s in report.sections if s.key != "certification"]
    # the officers sign in the certification below; the sign-off lists the others
    sign_off(report, [s for s in signatures if s.role not in CERTIFYING_ROLES], publication)
    report.sections.append(certification_section(month, report.digest, signatures))
    report.signatures = [s for s in signatures if s.digest == report.digest]
    report.html = render_html(report)


def issue_monthly_report(home: DataHome, month: str) -> Attestation:
    """Gather the month's report from the warehouse (read-only), keep its manifest under attestations/YYYY-MM/,
    and write its HTML and PDF with the signatures and publication its digest has. Raises MonthlyReportRefused."""
    from assets.attestation.pdf import render_pdf  # reportlab: loaded by the runs that write a report

    home = DataHome.of(home)
    month_bounds(month)
    if not home.warehouse.exists():
        raise MonthlyReportRefused(f"no warehouse at {home.warehouse}: run `backed demo` or `backed backfill` first")
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        try:
            report = gather_monthly_report(con, home, month, ReconciliationPolicy.for_home(home))
        except duckdb.CatalogException as missing:
            what = str(missing).splitlines()[0]
            raise MonthlyReportRefused(f"the warehouse at {home.warehouse} lacks the ledger's models ({what}): build "
                                       f"them with `backed demo` or `backed backfill`") from None
    write_manifest(home, month, report.manifest_bytes, report.digest)
    certify(home, report)
    html_path, pdf_path = home.monthly_report_paths(month)
    write_bytes_atomically(pdf_path, render_pdf(report))
    write_bytes_atomically(html_path, report.html.encode("utf-8"))
    return report
