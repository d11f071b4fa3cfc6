"""The reserve attestation of one day: what finance signs (DESIGN.md, "The attestation").

Everything in it is a balance of the ledger or a reading of a source at its own cut-off. The facts are gathered
once (`gather_attestation`) into sections of tables and charts, which the HTML template and the PDF renderer
(`assets.attestation.pdf`) both lay out: the two files always say the same thing. Both are deterministic: no
generation time anywhere, inputs identified by hash, charts written without dates or random ids, so the same
inputs and code give the same bytes.

Generation refuses while a blocker exception is open for the day, unless an override with a named reason is given;
the override and the blockers it overrode are then printed in the report.
"""

import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from assets.attestation.charts import attestation_charts
from assets.attestation.document import Attestation, Section, Table
from assets.attestation.html import render_html
from expectations.exceptions import BLOCKER, open_exceptions
from expectations.policy import ReconciliationPolicy
from foundation.money import plain, ratio, usd

REPO_ROOT = Path(__file__).resolve().parents[2]


class AttestationRefused(Exception):
    """A blocker exception is open for the day and no override was given, or the day's ledger is not built."""


def code_version() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") + " UTC"
    return str(value)


def _short(value: str | None, keep: int = 10) -> str:
    """A hash or address shortened for a table cell; the full value is in the trail and the inputs section."""
    if not value:
        return ""
    return value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-6:]}"


def _cutoffs(con, day: date, policy: ReconciliationPolicy) -> Section:
    chain = _rows(con, "select * from main.stg_chain_days where partition_date = ?", [day])
    statements = _rows(con, """
        select custodian_id, account_id, statement_date, max(cut_off_time) as cut_off_time,
               string_agg(distinct source_file, ', ' order by source_file) as files
        from main.stg_custodian_statements where partition_date = ?
        group by custodian_id, account_id, statement_date order by custodian_id, account_id""", [day])
    tapes = _rows(con, """
        select lender_id, max(as_of_date) as as_of_date, count(*) as loans,
               string_agg(distinct source_file, ', ' order by source_file) as files
        from main.stg_loan_tapes where partition_date = ? group by lender_id order by lender_id""", [day])
    telemetry = _rows(con, """
        select max(last_seen) as last_sample, count(distinct coalesce(gpu_uuid, gpu_serial)) as gpus
        from main.stg_gpu_telemetry_daily where partition_date = ?""", [day])[0]
    rows: list[tuple[str, ...]] = []
    if chain:
        c = chain[0]
        rows.append((f"chain (id {c['chain_id']}, profile {c['profile']})",
                     f"state read at block {c['state_block']} ({_text(c['to_block_time'])}); "
                     f"logs of blocks {c['from_block']}\u2013{c['to_block']}", c["state_block_hash"] or ""))
    else:
        rows.append(("chain", "not ingested", ""))
    for s in statements:
        rows.append((f"custodian statement {s['custodian_id']} / {s['account_id']}",
                     f"as of {_text(s['cut_off_time'])}", s["files"]))
    if not statements:
        rows.append(("custodian statement", "missing", ""))
    for t in tapes:
        rows.append((f"loan tape {t['lender_id']}", f"as of {t['as_of_date']} ({t['loans']} loans)", t["files"]))
    if not tapes:
        rows.append(("loan tapes", "missing", ""))
    rows.append(("GPU telemetry", f"last sample {_text(telemetry['last_sample']) or 'none'} "
                 f"({telemetry['gpus']} GPUs reporting)", ""))
    tolerances = Table(
        columns=("comparison", "tolerance"),
        rows=[
            ("R1 event-derived USDai supply against totalSupply()", f"{plain(policy.supply_abs_tolerance)} USDai"),
            ("R2 backing shortfall (the public monitor's rule)", f"{plain(policy.backing_shortfall_tolerance)} USD"),
            ("R2 protocol stablecoin balances against ledger 1020", f"{plain(policy.stablecoin_abs_tolerance)} USD"),
            ("R3 custodian cash and T-bills against ledger 1000 / 1010",
             f"{plain(policy.custodian_abs_tolerance)} USD or {plain(policy.custodian_rel_tolerance)} relative"),
            ("R4 liquid coverage", f"blocker below {ratio(policy.coverage_floor)}, "
                                   f"warning below {ratio(policy.coverage_buffer)}"),
            ("R5 tape principal against loanState().scaledBalance",
             f"{plain(policy.loan_principal_abs_tolerance)} USD or {plain(policy.loan_principal_rel_tolerance)} relative"),
            ("R6 sUSDai totalAssets() against ledger 2100",
             f"{plain(policy.nav_abs_tolerance)} USD or {plain(policy.nav_rel_tolerance)} relative"),
            ("R7 collateral GPU online and healthy",
             f"\u2265 {plain(policy.gpu_min_online_minutes)} minutes online, "
             f"\u2264 {plain(policy.gpu_max_xid_error_samples)} XID error samples"),
            ("cut-off lag between sources", f"{plain(policy.max_cutoff_lag_minutes)} minutes"),
        ],
    )
    return Section(
        key="cutoffs", title="Measurement and cut-offs",
        intro=(f"Measurement time: {day.isoformat()} 23:59:59.999999 UTC, the end of the UTC day. Each source is "
               "read at its own cut-off; sources are never assumed to share one instant. Every cross-source "
               "comparison applies the tolerance below (a break is a difference above it)."),
        tables=[Table(columns=("source", "cut-off", "block hash / files"), rows=rows, code=frozenset({2})),
                tolerances],
    )


def _tokens(con, day: date, coverage: dict) -> Section:
    book = _rows(con, """
        select role, address, is_protocol, token_symbol, token_decimals
        from main.stg_chain_address_book where partition_date = ? order by role, address""", [day])
    chain = _rows(con, "select chain_id, profile from main.stg_chain_days where partition_date = ?", [day])
    protocol_held = _rows(con, """
        select book.role as holder_role, state.key as holder,
               state.value * usdai.usd_per_raw_unit as amount
        from main.stg_chain_state as state
        join main.stg_chain_address_book as usdai
          on usdai.partition_date = state.partition_date and usdai.role = 'usdai'
        join main.stg_chain_address_book as book
          on book.partition_date = state.partition_date and lower(book.address) = lower(state.key) and book.is_protocol
        where state.partition_date = ? and state.contract_role = 'usdai' and state.method = 'balanceOf'
        order by book.role""", [day])
    blacklisted = _rows(con, """
        select account from (
            select account, is_blacklisted,
                   row_number() over (partition by lower(account) order by block_number desc, log_index desc) as latest
            from main.usdai_blacklist_updates
            where partition_date <= ?)
        where latest = 1 and is_blacklisted order by account""", [day])
    held_by_protocol = sum((r["amount"] for r in protocol_held), Decimal(0))
    supply = coverage["usdai_total_supply"]
    bridged = coverage["usdai_bridged_supply"] or Decimal(0)
    redeemable_onchain = None if supply is None else supply + bridged - held_by_protocol
    rows = [
        ("minted supply: USDai totalSupply() at the state block", usd(supply)),
        ("bridged supply: bridgedSupply() (backed here, circulating on other chains)", usd(bridged)),
    ]
    rows += [(f"excluded: held by the protocol's own contract ({r['holder_role']} {_short(r['holder'])})", usd(-r["amount"]))
             for r in protocol_held]
    rows.append((f"excluded: blacklisted or frozen accounts ({len(blacklisted)})",
                 "balances not read" if blacklisted else usd(0)))
    rows.append(("redeemable tokens outstanding, from the chain", usd(redeemable_onchain)))
    rows.append(("redeemable tokens outstanding, ledger 2000 (attested)", usd(coverage["usdai_outstanding"])))
    difference = None if redeemable_onchain is None else coverage["usdai_outstanding"] - redeemable_onchain
    rows.append(("difference (ledger \u2212 chain)", usd(difference)))
    notes = []
    if blacklisted:
        notes.append("Blacklisted accounts: " + ", ".join(r["account"] for r in blacklisted)
                     + ". Their balances are not read by this profile and are not excluded above.")
    where = f"chain id {chain[0]['chain_id']} ({chain[0]['profile']})" if chain else "chain not ingested"
    contracts = Table(
        columns=("role", "address", "token", "protocol contract"),
        rows=[(b["role"], b["address"], b["token_symbol"] or "", "yes" if b["is_protocol"] else "no") for b in book],
        code=frozenset({1}),
    )
    return Section(
        key="tokens", title="Tokens",
        intro=f"USDai and sUSDai on {where}; amounts in USD (1 USDai = 1 USD).",
        tables=[Table(columns=("measure", "USD"), rows=rows, numeric=frozenset({1}), total_row=True), contracts],
        notes=notes,
    )


def _custodian_names() -> dict[str, dict]:
    from assets.inbox.counterparties import counterparties

    return counterparties().get("custodians", {})


def _segregation(spec: dict) -> str:
    # Segregation is a fact of the custody agreement, declared per custodian in counterparties.toml.
    value = spec.get("segregated")
    return "not stated" if value is None else ("yes" if value else "no")


# The reserve sub-accounts' balances at the close of the day: the mart's last ledger day through it.
RESERVE_BALANCES = """
    select account_code, sub_account, closing_balance from main.reserve_balances
    where partition_date = (select max(partition_date) from main.reserve_balances where partition_date <= ?)"""


def _reserves(con, day: date, coverage: dict) -> Section:
    custodians = _custodian_names()
    cash = _rows(con, """
        select custodian_id, account_id, amount from main.stg_custodian_statements
        where partition_date = ? and record_type = 'closing_cash' order by custodian_id, account_id""", [day])
    tbills = _rows(con, f"""
        select s.cusip, s.security_description, s.maturity_date, s.par_value, s.price, s.market_value,
               s.custodian_id, s.account_id, l.closing_balance as ledger_balance
        from main.stg_custodian_statements s
        left join ({RESERVE_BALANCES}) l
          on l.account_code = '1010' and l.sub_account = s.cusip
        where s.partition_date = ? and s.record_type = 'holding' order by s.cusip, s.custodian_id""", [day, day])
    stablecoins = _rows(con, f"""
        with balances as (
            select sub_account, closing_balance as balance from ({RESERVE_BALANCES})
            where account_code = '1020' and closing_balance != 0
        )
        select b.sub_account, token.token_symbol, token.address as token_address, holder.role as holder_role,
               holder.address as holder_address, b.balance
        from balances b
        left join main.stg_chain_address_book token
          on token.partition_date = ? and lower(token.address) = lower(split_part(b.sub_account, '@', 1))
        left join main.stg_chain_address_book holder
          on holder.partition_date = ? and lower(holder.address) = lower(split_part(b.sub_account, '@', 2))
        order by b.sub_account""", [day, day, day])

    def custodian(custodian_id: str) -> tuple[str, str]:
        spec = custodians.get(custodian_id, {})
        return spec.get("name", custodian_id), _segregation(spec)

    # Ledger 1000 holds every custodian account together; the statements name who holds it.
    holders = sorted({(c["custodian_id"], c["account_id"]) for c in cash})
    classes = [("custodian cash (1000)",
                ", ".join(f"{custodian(cid)[0]} {account}" for cid, account in holders) or "no cash statement",
                ", ".join(sorted({custodian(cid)[1] for cid, _ in holders})),
                usd(coverage["custodian_cash"]))]
    classes.append(("T-bills at fair value (1010)", "by CUSIP below", "", usd(coverage["tbills"])))
    classes.append(("stablecoins on chain (1020)", "self-custody in the protocol's contracts, by token below",
                    "yes (contract balances)", usd(coverage["onchain_stablecoins"])))
    classes.append(("liquid reserves", "", "", usd(coverage["liquid_reserves"])))
    tbill_rows = []
    for t in tbills:
        name, segregated = custodian(t["custodian_id"])
        tbill_rows.append((t["cusip"], t["security_description"] or "", _text(t["maturity_date"]), usd(t["par_value"]),
                           plain(t["price"]), usd(t["market_value"]), usd(t["ledger_balance"]),
                           f"{name} / {t['account_id']}", segregated))
    coin_rows = [(s["token_symbol"] or "?", _short(s["token_address"]), f"{s['holder_role'] or '?'} {_short(s['holder_address'])}",
                  usd(s["balance"])) for s in stablecoins]
    statement_cash = [(f"{custodian(c['custodian_id'])[0]} / {c['account_id']}", usd(c["amount"])) for c in cash]
    return Section(
        key="reserves", title="Reserve assets",
        intro="Reserve assets by class at their cut-offs, from the ledger; the custodian's own statement beside it.",
        tables=[
            Table(columns=("class", "custodian", "segregated", "USD"), rows=classes, numeric=frozenset({3}),
                  total_row=True),
            Table(columns=("CUSIP", "description", "maturity", "par", "price", "fair value (statement)",
                           "ledger 1010", "custodian / account", "segregated"),
                  rows=tbill_rows, numeric=frozenset({3, 4, 5, 6}), empty="no T-bill holdings on the statement"),
            Table(columns=("custodian / account", "closing cash (statement)"), rows=statement_cash,
                  numeric=frozenset({1}), empty="no cash statement"),
            Table(columns=("token", "token contract", "held by", "USD"), rows=coin_rows, numeric=frozenset({3}),
                  code=frozenset({1, 2})),
        ],
        charts=["reserve_composition"],
    )


def _loan_book(con, day: date) -> tuple[Section, list[dict]]:
    loans = _rows(con, """
        select loan_id, lender_id, borrower_id, loan_terms_hash, coalesce(status, 'not on tape') as status,
               days_past_due, principal, accrued_interest, allowance, carrying_amount, collateral_gpus, dark_gpus,
               erroring_gpus, collateral_health
        from main.loan_positions where partition_date = ? and (principal != 0 or accrued_interest != 0 or allowance != 0)
        order by lender_id, loan_id, loan_terms_hash""", [day])
    nav = _rows(con, "select * from main.susdai_yield where partition_date = ?", [day])
    rows = [(l["loan_id"] or _short(l["loan_terms_hash"]), l["lender_id"] or "", l["borrower_id"] or "", l["status"],
             str(l["days_past_due"] if l["days_past_due"] is not None else ""), usd(l["principal"]),
             usd(l["accrued_interest"]), usd(l["allowance"]), usd(l["carrying_amount"]),
             f"{l['collateral_gpus'] or 0} / {l['dark_gpus'] or 0} / {l['erroring_gpus'] or 0}",
             ratio(l["collateral_health"])) for l in loans]
    principal = sum((l["principal"] for l in loans), Decimal(0))
    accrued = sum((l["accrued_interest"] for l in loans), Decimal(0))
    allowance = sum((l["allowance"] for l in loans), Decimal(0))
    carrying = sum((l["carrying_amount"] for l in loans), Decimal(0))
    healthy = sum((l["principal"] * l["collateral_health"] for l in loans if l["collateral_health"] is not None),
                  Decimal(0))
    scheduled = sum((l["principal"] for l in loans if l["collateral_health"] is not None), Decimal(0))
    health = healthy / scheduled if scheduled else None
    rows.append(("total", "", "", "", "", usd(principal), usd(accrued), usd(allowance), usd(carrying), "",
                 ratio(health)))
    nav_rows = []
    if nav:
        n = nav[0]
        nav_rows = [
            ("sUSDai NAV: holders' claim, ledger 2100", usd(n["nav_close"])),
            ("sUSDai totalAssets() on chain", usd(n["onchain_total_assets"])),
            ("difference (chain \u2212 ledger)", usd(n["nav_difference"])),
            ("share price on chain (USDai per sUSDai)", plain(n["onchain_share_price"])),
            ("yield to holders today: loan interest / T-bills / fees",
             f"{usd(n['yield_from_loan_interest'])} / {usd(n['yield_from_tbills'])} / {usd(n['yield_from_fees'])}"),
            ("annualised holder yield (ledger / chain share price)",
             f"{ratio(n['annualised_yield'])} / {ratio(n['onchain_annualised_yield'])}"),
        ]
    section = Section(
        key="loans", title="Loan book and sUSDai NAV",
        intro=("GPU loans at amortised cost (principal + accrued interest) less the allowance for credit losses. "
               f"Collateral health, the share of loan principal whose GPUs are online and within limits: "
               f"{ratio(health)}."),
        tables=[
            Table(columns=("loan", "lender", "borrower", "status", "DPD", "principal", "accrued interest",
                           "allowance", "carrying amount", "GPUs / dark / erroring", "collateral health"),
                  rows=rows, numeric=frozenset({4, 5, 6, 7, 8, 10}), total_row=True),
            Table(columns=("measure", "value"), rows=nav_rows, numeric=frozenset({1}), empty="no sUSDai NAV for the day"),
        ],
        charts=["loan_book_by_status", "collateral_health"],
    )
    return section, loans


def _comparison(coverage: dict, exceptions: list[dict], policy: ReconciliationPolicy) -> Section:
    liquid_buffer = coverage["liquid_reserves"] - coverage["usdai_outstanding"]
    total_buffer = coverage["total_assets_net"] - coverage["total_liabilities"]
    rows = [
        ("liquid reserves (1000 + 1010 + 1020)", usd(coverage["liquid_reserves"])),
        ("USDai outstanding, held outside the protocol (2000)", usd(coverage["usdai_outstanding"])),
        ("excess" if liquid_buffer >= 0 else "DEFICIT", usd(liquid_buffer)),
        ("liquid coverage = (1000 + 1010 + 1020) / 2000", ratio(coverage["liquid_coverage"])),
        ("total assets net of allowance", usd(coverage["total_assets_net"])),
        ("total liabilities (2000 + 2100 + 2110)", usd(coverage["total_liabilities"])),
        ("excess" if total_buffer >= 0 else "DEFICIT", usd(total_buffer)),
        ("total coverage = total assets net / total liabilities", ratio(coverage["total_coverage"])),
    ]
    exception_rows = [(e["exception_id"], e["check_id"], e["entity_key"], e["severity"],
                       e["status"] + (f" by {e['acknowledged_by']}: {e['acknowledged_reason']}"
                                      if e["status"] == "acknowledged" else ""),
                       e["expected"] or "", e["actual"] or "", e["difference"] or "", e["tolerance"] or "")
                      for e in exceptions]
    return Section(
        key="comparison", title="Comparison and coverage",
        intro=(f"Liquid coverage must stay at or above {ratio(policy.coverage_floor)}; below "
               f"{ratio(policy.coverage_buffer)} is a warning."),
        tables=[
            Table(columns=("measure", "value"), rows=rows, numeric=frozenset({1})),
            Table(columns=("exception", "check", "entity", "severity", "status", "expected", "actual",
                           "difference", "tolerance"),
                  rows=exception_rows, numeric=frozenset({5, 6, 7}), code=frozenset({0}),
                  empty="no open exceptions"),
        ],
        charts=["coverage_over_time"],
    )


def _balance_sheet(con, day: date) -> Section:
    lines = _rows(con, """
        select section, coalesce(account_code, '') as account_code, line_item, amount from main.balance_sheet
        where partition_date = ?
        order by case section when 'assets' then 0 when 'liabilities' then 1 else 2 end, account_code = '',
                 account_code""", [day])
    rows = [(l["section"], l["account_code"], l["line_item"], usd(l["amount"])) for l in lines]
    totals = {}
    for l in lines:
        totals[l["section"]] = totals.get(l["section"], Decimal(0)) + l["amount"]
    rows += [(f"total {section}", "", "", usd(total)) for section, total in totals.items()]
    return Section(key="balance_sheet", title="Balance sheet",
                   intro="The protocol, consolidated, at the day's close (ledger balances, USD).",
                   tables=[Table(columns=("section", "account", "line item", "USD"), rows=rows,
                                 numeric=frozenset({3}))])


def _inputs(con, day: date, ledger_hash: str, version: str) -> Section:
    files = _rows(con, """
        select source, file_name, sha256, rows_in, rows_accepted, rows_quarantined
        from main.stg_input_files where partition_date = ? order by source, file_name""", [day])
    chain = _rows(con, "select * from main.stg_chain_days where partition_date = ?", [day])
    rows = [(f["source"], f["file_name"], f["sha256"], f"{f['rows_in']} / {f['rows_accepted']} / {f['rows_quarantined']}")
            for f in files]
    if chain:
        c = chain[0]
        rows.append(("chain", f"blocks {c['from_block']}\u2013{c['to_block']} ({c['log_count']} logs)",
                     c["to_block_hash"] or "", ""))
    return Section(
        key="inputs", title="Inputs",
        intro=("Every input of the day by its sha256, the block range ingested, the code version and the hash of "
               "the ledger. Re-running this date on the same inputs gives the same bytes."),
        tables=[
            Table(columns=("source", "file / range", "sha256 / last block hash", "rows in / accepted / quarantined"),
                  rows=rows, code=frozenset({2}), numeric=frozenset({3})),
            Table(columns=("what", "value"), rows=[
                ("Ledger hash (the journal's hash chain at the day: every line of every day through it)",
                 ledger_hash),
                ("Code version (git)", version),
            ], code=frozenset({1})),
        ],
    )


# Reversed entries listed one by one up to this many; the rest are counted (`backed trail` shows every one).
RESTATED_ENTRIES_LISTED = 50


def _restatements(con, day: date, lake_dir: Path | None) -> Section:
    """What was corrected in this day after it was first posted: the chain reorganisations that reached it, and the
    ledger's reversals and revisions dated on it. A restatement never edits a posted line: it adds lines."""
    from expectations.reconciliation import register_lake_table

    register_lake_table(con, lake_dir, "chain_reorgs", (day, day))
    reorgs = _rows(con, """
        select reorg_id, min(detected_at) as detected_at, max(fork_block) as fork_block, max(depth) as depth,
               count(block_number) as blocks_changed, max(action) as action, max(affected_days) as affected_days
        from lake_chain_reorgs where partition_date = ? group by reorg_id order by detected_at, reorg_id""", [day])
    kinds = _rows(con, """
        select case when rule_id = 'reversal' then 'reversal' else 'revision' end as kind,
               coalesce(restatement_reason, 'corrected entry') as reason, source,
               count(distinct entry_id) as entries, count(*) as lines, sum(debit) as amount
        from main.journal_lines
        where partition_date = ? and (rule_id = 'reversal' or revision > 0)
        group by all order by kind, reason, source""", [day])
    reversed_entries = _rows(con, """
        select r.reverses_entry_id, any_value(o.source_key) as source_key, any_value(o.rule_id) as rule_id,
               any_value(r.restatement_reason) as reason, sum(r.debit) as amount
        from main.journal_lines r left join main.journal_lines o on o.entry_id = r.reverses_entry_id
                                                                  and o.line_no = r.line_no
        where r.partition_date = ? and r.rule_id = 'reversal'
        group by r.reverses_entry_id order by r.reverses_entry_id""", [day])
    notes = []
    if len(reversed_entries) > RESTATED_ENTRIES_LISTED:
        notes.append(f"{len(reversed_entries) - RESTATED_ENTRIES_LISTED} more reversed entries are not listed: "
                     f"`backed trail` shows every one.")
    restated = bool(reorgs or kinds)
    return Section(
        key="restatements", title="Restatements",
        intro=("This day was restated after it was first posted: the entries below reverse lines posted before and "
               "post the corrected ones. Posted lines are never edited; the balances above include the "
               "corrections." if restated else "Nothing in this day has been restated since it was first posted."),
        tables=[
            Table(columns=("chain reorganisation", "detected at (UTC)", "fork block", "depth (blocks)",
                           "recorded blocks changed", "days reached", "action"),
                  rows=[(r["reorg_id"], _text(r["detected_at"]), str(r["fork_block"]), str(r["depth"]),
                         str(r["blocks_changed"]), r["affected_days"] or "", r["action"] or "") for r in reorgs],
                  code=frozenset({0}), numeric=frozenset({2, 3, 4}), empty="no chain reorganisation reached this day"),
            Table(columns=("restatement", "reason", "source", "entries", "lines", "USD (debits)"),
                  rows=[(k["kind"], k["reason"], k["source"], str(k["entries"]), str(k["lines"]), usd(k["amount"]))
                        for k in kinds],
                  numeric=frozenset({3, 4, 5}), empty="no reversal or revised entry is dated on this day"),
            Table(columns=("reversed entry", "source key", "rule", "reason", "USD"),
                  rows=[(e["reverses_entry_id"], e["source_key"] or "", e["rule_id"] or "", e["reason"] or "",
                         usd(e["amount"])) for e in reversed_entries[:RESTATED_ENTRIES_LISTED]],
                  code=frozenset({0, 1}), numeric=frozenset({4}), empty="no entry of this day was reversed"),
        ],
        notes=notes,
    )


def _signoff(preparer: str) -> Section:
    blank = "\u00a0" * 40
    return Section(key="signoff", title="Sign-off", tables=[Table(columns=("role", "name", "signature", "date"), rows=[
        ("prepared by", preparer or blank, blank, blank),
        ("reviewed by", blank, blank, blank),
        ("approved by", blank, blank, blank),
    ])])


def _ledger_hash(con, day: date) -> str:
    """The journal's hash chain at the day: it commits to every line of every day through the day (each day's
    lines hashed, chained to the day before: journal_day_hashes), and costs one row to read however long the
    history. Hashing the lines themselves here would make every attestation read the whole journal."""
    chained = con.execute("select chain_hash from main.journal_day_hashes where partition_date = ?", [day]).fetchall()
    if not chained:
        raise AttestationRefused(f"no journal_day_hashes for {day}: the ledger for that day has not been built")
    return chained[0][0]


def gather_attestation(con: duckdb.DuckDBPyConnection, day: date, override_reason: str | None = None,
                       preparer: str = "", policy: ReconciliationPolicy | None = None,
                       lake_dir: Path | None = None) -> Attestation:
    """Every fact of the day's attestation, in sections, with its charts. Refuses on open blockers without override.
    `lake_dir` is where the lake's records of chain reorganisations are read (none without it)."""
    policy = policy or ReconciliationPolicy()
    exceptions = open_exceptions(con, on=day)
    blockers = [e for e in exceptions if e["severity"] == BLOCKER]
    if blockers and not (override_reason and override_reason.strip()):
        ids = ", ".join(f"{e['check_id']}:{e['entity_key']} ({e['exception_id']})" for e in blockers)
        raise AttestationRefused(f"{len(blockers)} blocker exception(s) open for {day}: {ids}")
    coverage = _rows(con, "select * from main.reserve_coverage where partition_date = ?", [day])
    if not coverage:
        raise AttestationRefused(f"no reserve_coverage for {day}: the ledger for that day has not been built")
    cov = coverage[0]
    ledger_hash = _ledger_hash(con, day)
    version = code_version()
    loans_section, loans = _loan_book(con, day)
    sections = [
        _cutoffs(con, day, policy),
        _tokens(con, day, cov),
        _reserves(con, day, cov),
        loans_section,
        _comparison(cov, exceptions, policy),
        _balance_sheet(con, day),
        _restatements(con, day, lake_dir),
        _inputs(con, day, ledger_hash, version),
        _signoff(preparer),
    ]
    history = _rows(con, """
        select partition_date, liquid_coverage, total_coverage from main.reserve_coverage
        where partition_date <= ? order by partition_date""", [day])
    charts = attestation_charts(cov, history, loans, policy)
    excess = cov["liquid_reserves"] - cov["usdai_outstanding"]
    verdict_ok = cov["liquid_coverage"] is not None and cov["liquid_coverage"] >= Decimal(policy.coverage_floor)
    verdict = (f"Liquid coverage {ratio(cov['liquid_coverage'])}: liquid reserves {usd(cov['liquid_reserves'])} USD "
               f"against {usd(cov['usdai_outstanding'])} USDai outstanding, "
               f"{'an excess' if excess >= 0 else 'a DEFICIT'} of {usd(abs(excess))} USD. "
               f"Total coverage {ratio(cov['total_coverage'])}.")
    attestation = Attestation(
        day=day, verdict=verdict, verdict_ok=verdict_ok, sections=sections, charts=charts, blockers=blockers,
        override_reason=override_reason.strip() if override_reason else None, preparer=preparer,
        ledger_hash=ledger_hash, code_version=version)
    attestation.html = render_html(attestation)
    return attestation
