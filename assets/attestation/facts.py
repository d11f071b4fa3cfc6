"""The reserve attestation of one day: what finance signs (docs/design.md, "The attestation").

Everything in it is a balance of the ledger or a reading of a source at its own cut-off. Its figures are dbt models,
one per section (dbt_project/models/attestation), read here for the day: this module formats them and lays them
out, adding only the totals of the rows a table shows and the loan book's collateral health weighted by principal.
The facts are gathered once (`gather_attestation`) into sections of tables and charts, which the HTML template and
the PDF renderer (`assets.attestation.pdf`) both lay out: the two files always say the same thing. Both are
deterministic: no generation time anywhere, inputs identified by hash, charts written without dates or random ids,
so the same inputs and code give the same bytes.

Generation refuses while a blocker exception is open for the day, unless an override with a named reason is given;
the override and the blockers it overrode are then printed in the report.
"""

import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from assets.attestation.charts import attestation_charts
from assets.attestation.document import ISSUER, Attestation, Section, Table
from assets.attestation.html import render_html
from assets.attestation.journal_chain import chain_through, first_break
from assets.attestation.manifest import (MANIFEST_KIND, MANIFEST_VERSION, canonical_json, digest_of,
                                         ledger_policy)
from expectations.exceptions import BLOCKER, open_exceptions
from expectations.policy import ReconciliationPolicy
from assets.inbox.register import sha256_of
from foundation.lake import SCHEMAS, Lake
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


def _model(con: duckdb.DuckDBPyConnection, model: str, day: date, order_by: str = "line_no") -> list[dict]:
    """The day's rows of one attestation model (dbt_project/models/attestation), in the report's order."""
    return _rows(con, f"select * from main.{model} where partition_date = ? order by {order_by}", [day])


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


def _cutoffs(day: date, cutoffs: list[dict], policy: ReconciliationPolicy) -> Section:
    chain = [c for c in cutoffs if c["source"] == "chain"]
    statements = [c for c in cutoffs if c["source"] == "custodian_statement"]
    tapes = [c for c in cutoffs if c["source"] == "loan_tape"]
    telemetry = next((c for c in cutoffs if c["source"] == "gpu_telemetry"), {"last_sample": None, "gpus": 0})
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
            ("R6 sUSDai totalAssets() against ledger 2100 + unmarked losses",
             f"{plain(policy.nav_abs_tolerance)} USD or {plain(policy.nav_rel_tolerance)} relative"),
            ("R7 collateral GPU online and healthy",
             f"\u2265 {plain(policy.gpu_min_online_minutes)} minutes online, "
             f"\u2264 {plain(policy.gpu_max_xid_error_samples)} XID error samples"),
            ("R10 total assets net of the allowance against all liabilities",
             f"a deficit of at most {plain(policy.solvency_deficit_tolerance)} USD"),
            ("H7 sUSDai share price growth against the ledger's",
             f"{ratio(policy.yield_unexplained_daily_tolerance)} of the NAV a day"),
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


# What each line of the tokens table says, by the measure attestation_tokens gives it.
TOKEN_MEASURES = {
    "minted_supply": "minted supply: USDai totalSupply() at the state block",
    "bridged_supply": "bridged supply: bridgedSupply() (backed here, circulating on other chains)",
    "outstanding_onchain": "tokens outstanding outside the protocol, from the chain",
    "outstanding_ledger": "USDai outstanding, ledger 2000 (attested)",
    "difference": "difference (ledger \u2212 chain)",
}


def _token_line(line: dict) -> tuple[str, str]:
    if line["measure"] == "held_by_protocol":
        return (f"excluded: held by the protocol's own contract ({line['holder_role']} {_short(line['holder'])})",
                usd(line["amount"]))
    return TOKEN_MEASURES[line["measure"]], usd(line["amount"])


def _tokens(con, day: date, chain: dict | None) -> Section:
    book = _model(con, "attestation_token_contracts", day, "role, address")
    blacklisted = _model(con, "attestation_blacklisted_accounts", day, "account")
    rows = [_token_line(line) for line in _model(con, "attestation_tokens", day)]
    classes = _model(con, "attestation_redeemability", day)
    by_class = [(c["redeemability"], c["component"], c["holder"], usd(c["amount_usd"])) for c in classes]
    notes = []
    if blacklisted:
        notes.append("Blacklisted accounts: " + ", ".join(r["account"] for r in blacklisted)
                     + ". Their balances are frozen: temporarily non-redeemable below.")
    where = f"chain id {chain['chain_id']} ({chain['profile']})" if chain else "chain not ingested"
    contracts = Table(
        columns=("role", "address", "token", "protocol contract"),
        rows=[(b["role"], b["address"], b["token_symbol"] or "", "yes" if b["is_protocol"] else "no") for b in book],
        code=frozenset({1}),
    )
    return Section(
        key="tokens", title="Tokens",
        intro=(f"USDai and sUSDai on {where}; amounts in USD (1 USDai = 1 USD). By redeemability (AICPA criteria, "
               "2025), the classes add up to totalSupply() plus bridgedSupply(). USDai outstanding (2000) is what is "
               "held outside the protocol: the redeemable tokens, those frozen by the blacklist and those at "
               "keyless addresses."),
        tables=[Table(columns=("measure", "USD"), rows=rows, numeric=frozenset({1}), total_row=True),
                Table(columns=("redeemability", "component", "held at", "USD"), rows=by_class,
                      numeric=frozenset({3}), code=frozenset({2}), empty="chain state not read"),
                contracts],
        notes=notes,
    )


def _custodian_names() -> dict[str, dict]:
    from assets.inbox.counterparties import counterparties

    return counterparties().get("custodians", {})


def _segregation(spec: dict) -> str:
    # Segregation is a fact of the custody agreement, declared per custodian in counterparties.toml.
    value = spec.get("segregated")
    return "not stated" if value is None else ("yes" if value else "no")


def _token_issuers() -> dict[str, dict]:
    from assets.inbox.counterparties import counterparties

    return counterparties().get("tokens", {})


def _reserves(con, day: date, coverage: dict, loans: list[dict]) -> Section:
    custodians = _custodian_names()
    issuers = _token_issuers()
    cash = _model(con, "attestation_reserve_cash", day, "custodian_id, account_id, statement_date")
    tbills = _model(con, "attestation_reserve_tbills", day, "cusip, custodian_id, account_id, statement_date")
    stablecoins = _model(con, "attestation_reserve_stablecoins", day, "sub_account")

    def custodian(custodian_id: str) -> tuple[str, str]:
        spec = custodians.get(custodian_id, {})
        return spec.get("name", custodian_id), _segregation(spec)

    def terms(ids: list[str], key: str) -> str:
        # Custody terms are facts of each agreement (counterparties.toml); unstated ones say so.
        return ", ".join(sorted({str(custodians.get(cid, {}).get(key, "not stated")) for cid in ids})) or "n/a"

    # Ledger 1000 holds every custodian account together; the statements name who holds it.
    holders = sorted({(c["custodian_id"], c["account_id"]) for c in cash})
    cash_ids = [cid for cid, _ in holders]
    bill_ids = sorted({t["custodian_id"] for t in tbills})
    par = sum((t["par_value"] for t in tbills), Decimal(0))
    principal = sum((l["principal"] for l in loans), Decimal(0))
    carrying = sum((l["carrying_amount"] for l in loans), Decimal(0))
    account = {True: "segregated", False: "omnibus"}

    def nature(ids: list[str]) -> str:
        return ", ".join(sorted({account.get(custodians.get(cid, {}).get("segregated"), "not stated")
                                 for cid in ids})) or "n/a"

    classes = [
        ("cash (1000)", "USD deposit",
         ", ".join(f"{custodian(cid)[0]} {acct}" for cid, acct in holders) or "no cash statement",
         terms(cash_ids, "jurisdiction"), nature(cash_ids), terms(cash_ids, "encumbrance"),
         usd(coverage["custodian_cash"]), usd(coverage["custodian_cash"])),
        ("T-bills (1010)", "US Treasury bills, by CUSIP below",
         ", ".join(custodian(cid)[0] for cid in bill_ids) or "none held", terms(bill_ids, "jurisdiction"),
         nature(bill_ids), terms(bill_ids, "encumbrance"), usd(par), usd(coverage["tbills"])),
        ("stablecoins on chain (1020)", "tokens by contract below",
         "self-custody: the protocol's contracts", "on chain (Arbitrum)", "contract balances",
         "none: no key can move them but the contracts' own rules",
         usd(coverage["onchain_stablecoins"]), usd(coverage["onchain_stablecoins"])),
        ("liquid reserves", "", "", "", "", "", usd(coverage["custodian_cash"] + par + coverage["onchain_stablecoins"]),
         usd(coverage["liquid_reserves"])),
        ("GPU loans (1100 - 1190)", "loans to AI companies against GPU title NFTs (loan book below)",
         "the loan router, for the sUSDai vault", "on chain (Arbitrum)", "per loan",
         "the loans are the vault's; their GPUs are pledged to them", usd(principal), usd(carrying)),
    ]
    tbill_rows = []
    for t in tbills:
        name, segregated = custodian(t["custodian_id"])
        tbill_rows.append((t["cusip"], t["security_description"] or "", _text(t["maturity_date"]), usd(t["par_value"]),
                           plain(t["price"]), usd(t["market_value"]), usd(t["ledger_balance"]),
                           f"{name} / {t['account_id']}", segregated))
    coin_rows = [(s["token_symbol"] or "?", _short(s["token_address"]), f"{s['holder_role'] or '?'} {_short(s['holder_address'])}",
                  usd(s["balance"])) for s in stablecoins]
    symbols = sorted({s["token_symbol"] for s in stablecoins if s["token_symbol"]})
    backing_rows = [(symbol, issuers.get(symbol, {}).get("issuer", "not stated"),
                     issuers.get(symbol, {}).get("backing", "not stated")) for symbol in symbols]
    statement_cash = [(f"{custodian(c['custodian_id'])[0]} / {c['account_id']}", usd(c["amount"])) for c in cash]
    return Section(
        key="reserves", title="Reserve assets",
        intro=("Reserve assets by class at their cut-offs, from the ledger, with who holds each, where, in what kind "
               "of account and whether anything encumbers it; notional (par) beside market value (T-bills at the "
               "custodian's price; loans at amortised cost less the allowance). The custodian's own statement is "
               "beside the ledger."),
        tables=[
            Table(columns=("class", "type", "holder / custodian", "jurisdiction", "account", "encumbrance",
                           "notional (par)", "market / carrying value"),
                  rows=classes, numeric=frozenset({6, 7})),
            Table(columns=("CUSIP", "description", "maturity", "par", "price", "fair value (statement)",
                           "ledger 1010", "custodian / account", "segregated"),
                  rows=tbill_rows, numeric=frozenset({3, 4, 5, 6}), empty="no T-bill holdings on the statement"),
            Table(columns=("custodian / account", "closing cash (statement)"), rows=statement_cash,
                  numeric=frozenset({1}), empty="no cash statement"),
            Table(columns=("token", "token contract", "held by", "USD"), rows=coin_rows, numeric=frozenset({3}),
                  code=frozenset({1, 2})),
            Table(columns=("token", "issuer", "what backs it (the issuer's own reports)"), rows=backing_rows,
                  empty="no stablecoin held on chain"),
        ],
        charts=["reserve_composition"],
    )


def _loan_book(con, day: date) -> tuple[Section, list[dict]]:
    loans = _model(con, "attestation_loans", day)
    nav = _model(con, "attestation_susdai_nav", day, "partition_date")
    frozen = _model(con, "attestation_susdai_blacklisted_shares", day, "account")
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
            ("sUSDai NAV: holders' claim, ledger 2100 (net of the credit losses they bear)", usd(n["nav_close"])),
            ("+ losses the vault marks only at the sale, less insurance claims not yet paid",
             usd(n["unmarked_losses"])),
            ("sUSDai totalAssets() on chain", usd(n["onchain_total_assets"])),
            ("difference (chain \u2212 ledger)", usd(n["nav_difference"])),
            ("share price on chain (USDai per sUSDai)", plain(n["onchain_share_price"])),
            ("yield to holders today: loan interest / T-bills / fees",
             f"{usd(n['yield_from_loan_interest'])} / {usd(n['yield_from_tbills'])} / {usd(n['yield_from_fees'])}"),
            ("credit losses borne by holders today", usd(n["credit_losses_borne"])),
            *((f"frozen by sUSDai's blacklist, not redeemable: {_short(f['account'])}, "
               f"{plain(f['shares'] or 0)} sUSDai", usd(f["value_usd"] or 0)) for f in frozen),
            ("holder yield, 7 days (share price / ledger)",
             f"{ratio(n['share_price_yield_7d'])} / {ratio(n['ledger_yield_7d'])}"),
            ("holder yield, 30 days (share price / ledger)",
             f"{ratio(n['share_price_yield_30d'])} / {ratio(n['ledger_yield_30d'])}"),
            ("holder yield, today only (ledger / chain share price): swings with one-off fees",
             f"{ratio(n['annualised_yield'])} / {ratio(n['onchain_annualised_yield'])}"),
        ]
    insured = [l for l in loans if l["insurance_cover_ratio"]]
    insurance_rows = [(l["loan_id"] or _short(l["loan_terms_hash"]), l["lender_id"] or "",
                       ratio(l["insurance_cover_ratio"]), f"{l['insurance_waiting_period_days']} days",
                       "passed" if l["insurance_claimable"] else "not passed", usd(l["principal"]),
                       usd(l["insured_principal"])) for l in insured]
    if insured:
        insurance_rows.append(("total", "", "", "", "", usd(sum((l["principal"] for l in insured), Decimal(0))),
                               usd(sum((l["insured_principal"] for l in insured), Decimal(0)))))
    claims = _model(con, "attestation_insurance_claims", day, "insurance_claim_date, loan_terms_hash")
    names = {l["loan_terms_hash"]: l["loan_id"] for l in loans}
    claim_rows = [(names.get(c["loan_terms_hash"]) or _short(c["loan_terms_hash"]), str(c["sale_date"]),
                   usd(c["principal_lost_usd"]), ratio(c["insurance_cover_ratio"]), usd(c["insurance_claim_usd"]),
                   str(c["insurance_claim_date"])) for c in claims]
    if claims:
        claim_rows.append(("receivable from the pool at the close (1150)", "", "", "", usd(claims[0]["receivable_at_close"]),
                           ""))
    queue = _model(con, "attestation_redemption_queue", day, "partition_date")
    queue_rows = []
    if queue:
        q = queue[0]
        queue_rows = [
            ("sUSDai pending redemption (requested, not serviced)", plain(q["pending_shares"])),
            ("   on chain: redemptionQueueInfo().pendingShares", plain(q["onchain_pending_shares"])),
            ("sUSDai requested / serviced today", f"{plain(q['requested_shares'])} / {plain(q['fulfilled_shares'])}"),
            ("USDai serviced / claimed today", f"{usd(q['serviced_amount'])} / {usd(q['claimed_amount'])}"),
            ("USDai serviced, awaiting claim", usd(q["unclaimed_amount"])),
            ("   on chain: redemptionQueueInfo().balance", usd(q["onchain_claimable_balance"])),
            ("   ledger 2110, redemptions payable", usd(q["ledger_redemptions_payable"])),
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
            Table(columns=("loan", "lender", "insurance cover", "waiting period", "elapsed", "principal",
                           "principal covered"),
                  rows=insurance_rows, numeric=frozenset({2, 5, 6}), total_row=bool(insured),
                  empty="no loan carries credit insurance"),
            Table(columns=("insurance claim: loan", "sold", "principal lost", "cover", "claim", "recognised"),
                  rows=claim_rows, numeric=frozenset({2, 3, 4}), total_row=bool(claims),
                  empty="no claim on the insurance pool"),
            Table(columns=("redemption queue", "value"), rows=queue_rows, numeric=frozenset({1}),
                  empty="no redemption queue for the day"),
        ],
        notes=["sUSDai holders bear the vault's credit losses: the allowance and a sale's shortfall reduce their "
               "claim (2100) the day the ledger recognises them, net of a claim on the credit insurance pool (the "
               "cover's ratio of the principal lost, once its waiting period from origination has run), which is "
               "a receivable until the pool pays. totalAssets() on chain marks a loss only at the sale and a "
               "recovery only when paid; the difference is shown above."] if (insured or claims) else [],
        charts=["loan_book_by_status", "collateral_health"],
    )
    return section, loans


def _comparison(coverage: dict, exceptions: list[dict], policy: ReconciliationPolicy) -> Section:
    liquid_buffer = coverage["liquid_buffer"]
    total_buffer = coverage["total_buffer"]
    rows = [
        ("USDai total supply: totalSupply()", usd(coverage["usdai_total_supply"])),
        ("bridged supply: bridgedSupply()", usd(coverage["usdai_bridged_supply"])),
        ("held by the protocol, eliminated (supply + bridged \u2212 outstanding)",
         usd(coverage["usdai_held_by_protocol"])),
        ("USDai outstanding, held outside the protocol (2000)", usd(coverage["usdai_outstanding"])),
        ("liquid reserves (1000 + 1010 + 1020)", usd(coverage["liquid_reserves"])),
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
    lines = _model(con, "attestation_balance_sheet", day)
    rows = [(l["section"], l["account_code"], l["line_item"], usd(l["amount"])) for l in lines]
    totals = {}
    for l in lines:
        totals[l["section"]] = totals.get(l["section"], Decimal(0)) + l["amount"]
    rows += [(f"total {section}", "", "", usd(total)) for section, total in totals.items()]
    return Section(key="balance_sheet", title="Balance sheet",
                   intro="The protocol, consolidated, at the day's close (ledger balances, USD).",
                   tables=[Table(columns=("section", "account", "line item", "USD"), rows=rows,
                                 numeric=frozenset({3}))])


def _inputs(con, day: date, ledger_hash: str, version: str, inputs: list[dict]) -> Section:
    rows = []
    for line in inputs:
        if line["source"] == "chain":
            rows.append(("chain", f"blocks {line['from_block']}\u2013{line['to_block']} ({line['log_count']} logs)",
                         line["to_block_hash"] or "", ""))
        else:
            rows.append((line["source"], line["file_name"], line["sha256"],
                         f"{line['rows_in']} / {line['rows_accepted']} / {line['rows_quarantined']}"))
    return Section(
        key="inputs", title="Inputs",
        intro=("Every input of the day by its sha256, the block range ingested, the code version and the hash of "
               "the ledger, recomputed from the journal's lines when this report was written. Re-running this date "
               "on the same inputs gives the same bytes. The manifest (its sha256 is in the sign-off below) holds "
               "all of this and every figure above, and is what the signatures cover."),
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


def _restatements(con, day: date) -> Section:
    """What was corrected in this day after it was first posted: the chain reorganisations that reached it, and the
    ledger's reversals and revisions dated on it. A restatement never edits a posted line: it adds lines."""
    reorgs = _model(con, "attestation_chain_reorganisations", day, "detected_at, reorg_id")
    kinds = _model(con, "attestation_restatements", day, "kind, reason, source")
    reversed_entries = _model(con, "attestation_reversed_entries", day, "reverses_entry_id")
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


def _contract_changes(con, day: date) -> Section:
    """What changed in the protocol's contracts in the period: code, admins, roles, pauses, parameters (H8)."""
    changes = _model(con, "attestation_contract_changes", day, "block_time, tx_hash, log_index")
    return Section(
        key="contract_changes", title="Changes to the contracts",
        intro=("The protocol's contracts changed in this period; each change is an H8 warning until reviewed. The "
               "figures above were produced by the contracts as they ran after each change."
               if changes else "No contract of the protocol changed in this period: no upgrade, admin or role "
               "change, pause or new parameter."),
        tables=[Table(columns=("mined at (UTC)", "contract", "kind", "event", "change", "transaction"),
                      rows=[(_text(c["block_time"]), c["contract_role"] or _short(c["contract_address"]),
                             c["change_kind"], c["event"], c["change"], _short(c["tx_hash"])) for c in changes],
                      code=frozenset({5}), empty="no change to the contracts in this period")],
    )


def management_assertion(issuer: str, period: str, verdict_ok: bool, override_reason: str | None) -> str:
    """What the preparer and the approver assert by signing: the subject, the criteria, and the conclusion."""
    standing = ("the reserves covered the USDai outstanding and the protocol's assets covered its liabilities"
                if verdict_ok else "the reserves or the protocol's assets fell short, as the headline states")
    override = (f" The report was issued while blocker exceptions were open, for the reason stated in it: "
                f"\u201c{override_reason}\u201d." if override_reason else "")
    return (f"Management of {issuer} asserts that the figures in this report for {period} are complete and "
            f"accurate, measured on the criteria it states: the balances of the protocol's double-entry ledger, "
            f"posted from the chain and from the custodians' and lenders' records each read at its own cut-off, "
            f"reconciled by the checks R1\u2013R11 and H1\u2013H9 within the tolerances of the policy recorded in "
            f"the manifest, and that at the measurement date {standing}.{override}")


def signoff_section(assertion: str, digest: str, preparer: str, signatures: list,
                    publication: dict | None) -> Section:
    """The management assertion, the manifest's digest, and each signature over it: signer, role, date and key
    fingerprint. A role nobody signed yet is a blank line to sign."""
    blank = "\u00a0" * 40
    signed = [s for s in signatures if s.digest == digest]
    rows = [(s.role, s.name, s.signed_at[:10], s.fingerprint) for s in signed]
    for role in ("preparer", "approver"):
        if not any(s.role == role for s in signed):
            rows.append((role, preparer if role == "preparer" and preparer else blank, blank, "not signed"))
    published = ([("registry", publication["registry"]), ("transaction", publication["transaction_hash"] or ""),
                  ("block", str(publication["block_number"]))] if publication else [])
    return Section(
        key="signoff", title="Management assertion and sign-off",
        intro=assertion,
        tables=[
            Table(columns=("what", "value"), rows=[("Manifest sha256 (what the signatures cover)", digest),
                                                   *published], code=frozenset({1})),
            Table(columns=("role", "name", "date signed (UTC)", "Ed25519 key fingerprint"), rows=rows,
                  code=frozenset({3})),
        ],
        notes=["Each signature is Ed25519 over the manifest's bytes; `backed verify` checks them, the digest on "
               "chain and every input, and rebuilds the day." if signed else
               "Not signed yet: `backed attest sign DAY --key KEYFILE` adds a signature."],
    )


def _verdict(cov: dict, policy: ReconciliationPolicy) -> tuple[str, bool]:
    """The headline: liquid coverage against USDai outstanding and total coverage against every liability, each with
    the amounts it is computed from; it reads well only when both hold (a deficit in either turns it red)."""
    liquid_ok = cov["liquid_coverage"] is not None and cov["liquid_coverage"] >= Decimal(policy.coverage_floor)
    total_ok = cov["total_buffer"] is not None and cov["total_buffer"] >= 0

    def standing(buffer) -> str:
        return "n/a" if buffer is None else f"{'an excess' if buffer >= 0 else 'a DEFICIT'} of {usd(abs(buffer))} USD"

    verdict = (f"Liquid coverage {ratio(cov['liquid_coverage'])}: liquid reserves {usd(cov['liquid_reserves'])} USD "
               f"against {usd(cov['usdai_outstanding'])} USDai outstanding, {standing(cov['liquid_buffer'])}. "
               f"Total coverage {ratio(cov['total_coverage'])}: total assets net of the allowance "
               f"{usd(cov['total_assets_net'])} USD against total liabilities {usd(cov['total_liabilities'])} USD, "
               f"{standing(cov['total_buffer'])}.")
    return verdict, liquid_ok and total_ok


def _ledger_hash(con, day: date) -> tuple[str, dict]:
    """The journal's hash chain at the day checked against its lines (journal_chain_recomputed), and the day's row.
    Refuses when a day's lines no longer hash to what the ledger's build stored (a line was edited, added or deleted
    in the warehouse since) or the stored chain does not link: no attestation may hide either."""
    days = chain_through(con, day)
    if not days or days[-1]["partition_date"] != day:
        raise AttestationRefused(f"no journal_day_hashes for {day}: the ledger for that day has not been built")
    broken = first_break(days)
    if broken is not None:
        row, what = broken
        found = (f"the journal's lines of {row['partition_date']} no longer hash to what the ledger's build recorded "
                 f"({row['line_count']} lines now, {row['stored_line_count']} recorded; digest "
                 f"{row['day_digest'][:16]}… now, {row['stored_day_digest'][:16]}… recorded): a journal line was "
                 "changed in the warehouse after the build" if what == "lines" else
                 f"the stored hash chain does not link at {row['partition_date']}: a hash in journal_day_hashes was "
                 "changed in the warehouse after the build")
        raise AttestationRefused(
            f"integrity break: {found}. Nothing may be attested on it: the next run's check R11 names the entries of "
            f"attested days; restore the warehouse from the lake (`backed backfill`)")
    return days[-1]["chain_hash"], days[-1]


# The inbox's register of receipts records when each file arrived on this machine (the clock of its intake): a fact
# about the delivery, which the rejected files' report reads, not an input of any figure; a rebuild receives anew.
NOT_ATTESTED_TABLES = frozenset({"inbox_receipts"})


def chain_partitions(lake: Lake | None, day: date) -> list[dict]:
    """The chain's lake partitions of every day through `day` (what the node answered, decoded), by table and day
    with their sha256: archived with the inputs (assets/attestation/records.py), so the day can be rebuilt without a
    node."""
    if lake is None:
        return []
    partitions = []
    for table in sorted(t for t in SCHEMAS if t.startswith("chain_")):
        for partition_day in lake.partition_days(table):
            if partition_day <= day:
                path = lake.partition_path(table, partition_day)
                partitions.append({"table": table, "partition_date": partition_day, "sha256": sha256_of(path)})
    return partitions


def _lake_partitions(lake: Lake | None, day: date) -> list[dict]:
    """The sha256 of every lake partition of the day (what the ledger read for it), by table."""
    if lake is None:
        return []
    partitions = []
    for table in sorted(set(SCHEMAS) - NOT_ATTESTED_TABLES):
        path = lake.partition_path(table, day)
        if path.exists():
            partitions.append({"table": table, "path": str(path.relative_to(lake.root)),
                               "sha256": sha256_of(path)})
    return partitions


def gather_attestation(con: duckdb.DuckDBPyConnection, day: date, override_reason: str | None = None,
                       preparer: str = "", policy: ReconciliationPolicy | None = None, lake: Lake | None = None,
                       signatures: list | None = None, publication: dict | None = None) -> Attestation:
    """Every fact of the day's attestation, in sections, with its charts, and its manifest. Refuses on open
    blockers without override, and on a journal whose lines changed since the ledger's build."""
    policy = policy or ReconciliationPolicy()
    exceptions = open_exceptions(con, on=day)
    blockers = [e for e in exceptions if e["severity"] == BLOCKER]
    if blockers and not (override_reason and override_reason.strip()):
        ids = ", ".join(f"{e['check_id']}:{e['entity_key']} ({e['exception_id']})" for e in blockers)
        raise AttestationRefused(f"{len(blockers)} blocker exception(s) open for {day}: {ids}; see `backed exceptions "
                                 f"show ID`, then fix the input or resolve it (`backed exceptions resolve ID --by NAME "
                                 f"--reason WHY`), or sign with `--override \"why it is safe\"`")
    coverage = _model(con, "attestation_coverage", day, "partition_date")
    if not coverage:
        raise AttestationRefused(f"no reserve_coverage for {day}: the ledger for that day has not been built")
    cov = coverage[0]
    # The journal's hash chain at the day commits to every line of every day through it, in one row.
    ledger_hash, ledger_day = _ledger_hash(con, day)
    version = code_version()
    inputs = _model(con, "attestation_inputs", day)
    input_chain = _model(con, "input_day_hashes", day, "partition_date")
    cutoffs = _model(con, "attestation_cutoffs", day)
    chain = next((c for c in cutoffs if c["source"] == "chain"), None)
    loans_section, loans = _loan_book(con, day)
    sections = [
        _cutoffs(day, cutoffs, policy),
        _tokens(con, day, chain),
        _reserves(con, day, cov, loans),
        loans_section,
        _comparison(cov, exceptions, policy),
        _balance_sheet(con, day),
        _restatements(con, day),
        _contract_changes(con, day),
        _inputs(con, day, ledger_hash, version, inputs),
    ]
    history = _rows(con, "select * from main.attestation_coverage where partition_date <= ? order by partition_date",
                    [day])
    charts = attestation_charts(cov, history, loans, policy)
    verdict, verdict_ok = _verdict(cov, policy)
    override_reason = override_reason.strip() if override_reason else None
    assertion = management_assertion(ISSUER, day.isoformat(), verdict_ok, override_reason)
    input_files = _rows(con, "select partition_date, source, file_name, sha256 from main.attestation_inputs "
                             "where sha256 is not null and partition_date <= ? order by partition_date, line_no", [day])
    chain_cutoffs = _rows(con, "select partition_date, from_block, to_block, to_block_hash, state_block, "
                               "state_block_hash from main.attestation_cutoffs where source = 'chain' and "
                               "partition_date <= ? order by partition_date", [day])
    manifest = {
        "kind": MANIFEST_KIND, "version": MANIFEST_VERSION, "issuer": ISSUER, "period": day.isoformat(),
        "verdict": verdict, "verdict_ok": verdict_ok, "management_assertion": assertion, "preparer": preparer,
        "sections": [{"key": s.key, "title": s.title, "intro": s.intro, "notes": s.notes,
                      "tables": [{"columns": list(t.columns), "rows": [list(r) for r in t.rows]} for t in s.tables]}
                     for s in sections],
        "figures": {k: v for k, v in cov.items() if k != "ledger_hash"},
        "inputs": inputs,
        "input_files_through_day": input_files,
        "lake_partitions": _lake_partitions(lake, day),
        "chain_partitions": chain_partitions(lake, day),
        "chain_cutoffs": chain_cutoffs,
        "ledger": {"hash_chain_head": ledger_hash, "day_digest": ledger_day["day_digest"],
                   "line_count": ledger_day["line_count"],
                   "inputs_chain_hash": input_chain[0]["inputs_chain_hash"] if input_chain else None},
        "code_version": version,
        "policy": {"reconciliation": policy.as_dbt_var(), "ledger": ledger_policy()},
        "override": ({"reason": override_reason,
                      "blockers": [{k: b[k] for k in ("exception_id", "check_id", "entity_key", "expected", "actual",
                                                      "difference")} for b in blockers]}
                     if override_reason else None),
    }
    manifest_bytes = canonical_json(manifest)
    digest = digest_of(manifest_bytes)
    attestation = Attestation(
        day=day, verdict=verdict, verdict_ok=verdict_ok, sections=sections, charts=charts, blockers=blockers,
        override_reason=override_reason, preparer=preparer,
        ledger_hash=ledger_hash, code_version=version, manifest=manifest, manifest_bytes=manifest_bytes,
        digest=digest, assertion=assertion)
    sign_off(attestation, signatures or [], publication)
    return attestation


def sign_off(attestation: Attestation, signatures: list, publication: dict | None) -> None:
    """Lay the sign-off (the signatures over the attestation's digest, its publication) into the report and render
    it; the figures and the manifest do not change."""
    attestation.sections = [s for s in attestation.sections if s.key != "signoff"]
    attestation.sections.append(signoff_section(attestation.assertion, attestation.digest, attestation.preparer,
                                                signatures, publication))
    attestation.signatures = [s for s in signatures if s.digest == attestation.digest]
    attestation.html = render_html(attestation)
