"""The attestation's headline figures computed without the ledger or the report's code, and the figures the report
prints, read back from its HTML.

The independent answers come from what the sandbox did and what the counterparties sent, read here by the test's own
minimal parsing:
- the simulator's ground truth ledger (home/sandbox/ground_truth_balances.csv, ground_truth_sub_balances.csv), kept in
  Decimal from what the simulator did, sharing no code with the dbt models;
- the chain's state as read at the day's last block (lake/chain_state, raw uint256 values) and the contracts' roles
  (home/sandbox/deployment.json, written by the simulator);
- the custodian's ISO 20022 statements (camt.053 cash, semt.002 holdings) and the lenders' loan tapes (lender B's CSV,
  lender A's workbook) as archived in the inbox.
Everything is formatted here the way a reader sees it in the report (USD to the cent, banker's rounding; ratios as
percentages to two places), so a figure that reaches the report wrong fails whichever code put it there.
"""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq

ASSETS = ("1000", "1010", "1020", "1030", "1100", "1110", "1120", "1150", "1190")
LIABILITIES = ("2000", "2100", "2110")
INCOME_AND_EXPENSES = ("4000", "4010", "4020", "4030", "5000", "5010", "5020")
# The liquid coverage floor of the reconciliation policy (docs/reconciliation.md, R4): the verdict reads well at or
# above it.
COVERAGE_FLOOR = Decimal(1)
# Lender A writes its own status words (its tape layout in assets/inbox/counterparties.toml, docs/loan-tape-schema.md).
LENDER_A_STATUS = {"Performing": "current", "Delinquent": "delinquent", "Defaulted": "default", "Paid Off": "repaid",
                   "Liquidated": "liquidated"}


# ------------------------------------------------------------------------------------------ as a reader sees it

def cents(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def percent(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{(value * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}%"


def quotient(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """numerator / denominator truncated at 18 places, as docs/ledger.md states every quotient is."""
    if denominator == 0:
        return None
    with localcontext() as context:
        context.prec = 80
        return (numerator / denominator).quantize(Decimal("1e-18"), rounding=ROUND_DOWN)


def digits(value: Decimal) -> str:
    """A decimal without trailing zeros (a price, a share price)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def shortened(value: str) -> str:
    """A hash or address as a table cell shows it: its first 10 and last 6 characters."""
    return value if len(value) <= 21 else f"{value[:10]}\u2026{value[-6:]}"


# ------------------------------------------------------------------------------------------ the report, read back

@dataclass
class PrintedAttestation:
    """The attestation as printed: the verdict, whether it reads well, and each section's tables as rows of cell
    text (header row first)."""

    verdict: str = ""
    verdict_ok: bool | None = None
    sections: dict[str, list[list[list[str]]]] = field(default_factory=dict)

    def table(self, section: str, *headers: str) -> list[list[str]]:
        """The rows (without the header) of the section's table whose first columns are `headers`."""
        (found,) = [t for t in self.sections[section] if t and tuple(t[0][:len(headers)]) == headers]
        return found[1:]

    def measures(self, section: str, first_header: str = "measure") -> dict[str, str]:
        """A two-column table as {label: value}; a label repeated (`excess`) keeps every value in order."""
        values: dict[str, str] = {}
        for label, value, *_ in self.table(section, first_header):
            values[label if label not in values else f"{label} (2)"] = value
        return values


class _AttestationHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.printed = PrintedAttestation()
        self._section: str | None = None
        self._table: list | None = None
        self._row: list | None = None
        self._cell: str | None = None
        self._in_verdict = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self._section = attributes.get("id")
            self.printed.sections[self._section] = []
        elif tag == "div" and attributes.get("id") == "verdict":
            self._in_verdict = True
            self.printed.verdict_ok = "ok" in (attributes.get("class") or "").split()
        elif tag == "table" and self._section:
            self._table = []
            self.printed.sections[self._section].append(self._table)
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "section":
            self._section = None
        elif tag == "div":
            self._in_verdict = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in_verdict:
            self.printed.verdict += data


def read_printed(html: str) -> PrintedAttestation:
    parser = _AttestationHtml()
    parser.feed(html)
    return parser.printed


# ------------------------------------------------------------------------------------------ the independent answers

@dataclass(frozen=True)
class TapeLoan:
    terms_hash: str  # lower case
    loan_id: str
    lender_id: str
    borrower_id: str
    status: str
    days_past_due: int
    principal: Decimal
    accrued_interest: Decimal


@dataclass(frozen=True)
class StatementHolding:
    cusip: str
    par: Decimal
    price: Decimal
    market_value: Decimal


@dataclass
class DayTruth:
    """One day as the simulator, the chain and the counterparties' files state it, in Decimal."""

    day: date
    balances: dict[str, Decimal]  # ground truth closing balance by account
    sub_balances: dict[tuple[str, str], Decimal]  # by (account, sub-account)
    chain: dict[tuple[str, str, str, str], int]  # raw state: (role, method, key, field) -> value
    roles: dict[str, dict]  # address (lower case) -> its address book entry
    statement_cash: Decimal | None  # camt.053 closing balance, None without a statement for the day
    holdings: list[StatementHolding]  # semt.002
    tape: dict[str, TapeLoan]  # by loanTermsHash (lower case)

    def account(self, code: str) -> Decimal:
        return self.balances[code]

    def chain_usd(self, role: str, method: str, key: str = "", output: str = "value", decimals: int = 18) -> Decimal:
        return Decimal(self.chain[(role, method, key, output)]).scaleb(-decimals)

    # The figures, each from the sources above only.
    @property
    def usdai_total_supply(self) -> Decimal:
        return self.chain_usd("usdai", "totalSupply")

    @property
    def usdai_bridged_supply(self) -> Decimal:
        return self.chain_usd("usdai", "bridgedSupply")

    @property
    def usdai_held_by_protocol(self) -> dict[str, Decimal]:
        """USDai balanceOf() of each protocol contract, by its address."""
        return {entry["address"]: self.chain_usd("usdai", "balanceOf", entry["address"])
                for entry in self.roles.values() if entry["is_protocol"]}

    @property
    def usdai_outstanding(self) -> Decimal:
        return -self.account("2000")

    @property
    def liquid_reserves(self) -> Decimal:
        return self.account("1000") + self.account("1010") + self.account("1020")

    @property
    def total_assets_net(self) -> Decimal:
        return sum((self.account(a) for a in ASSETS), Decimal(0))

    @property
    def total_liabilities(self) -> Decimal:
        return -sum((self.account(a) for a in LIABILITIES), Decimal(0))

    @property
    def stablecoins(self) -> dict[tuple[str, str], Decimal]:
        """On-chain stablecoin reserves (1020) by (token, holder) address, those with a balance."""
        return {tuple(sub.split("@")): amount for (account, sub), amount in self.sub_balances.items()
                if account == "1020" and amount != 0}

    def loan(self, loan: str, account: str) -> Decimal:
        return self.sub_balances.get((account, loan), Decimal(0))

    @property
    def loans(self) -> list[str]:
        """The loans (loanTermsHash) with a principal, accrued interest or allowance at the close."""
        return sorted({sub for (account, sub), amount in self.sub_balances.items()
                       if account in ("1100", "1110", "1190") and amount != 0})

    @property
    def nav(self) -> Decimal:
        return -self.account("2100")

    @property
    def unmarked_losses(self) -> Decimal:
        """What the vault does not mark yet: the allowance, less insurance claims it has not been paid."""
        return -(self.account("1190") + self.account("1150"))

    @property
    def share_price(self) -> Decimal:
        return quotient(Decimal(self.chain[("susdai", "totalAssets", "", "value")]),
                        Decimal(self.chain[("susdai", "totalShares", "", "value")]))


def _ground_truth(home: Path) -> tuple[dict, dict]:
    balances: dict[str, dict[str, Decimal]] = {}
    with (home / "sandbox" / "ground_truth_balances.csv").open() as f:
        for row in csv.DictReader(f):
            balances.setdefault(row["date"], {})[row["account_code"]] = Decimal(row["balance"])
    subs: dict[str, dict[tuple[str, str], Decimal]] = {}
    with (home / "sandbox" / "ground_truth_sub_balances.csv").open() as f:
        for row in csv.DictReader(f):
            subs.setdefault(row["date"], {})[(row["account_code"], row["sub_account"].lower()
                                              if row["account_code"] in ("1100", "1110", "1190")
                                              else row["sub_account"])] = Decimal(row["balance"])
    return balances, subs


def _chain_state(home: Path, day: date) -> dict[tuple[str, str, str, str], int]:
    rows = pq.read_table(home / "lake" / "chain_state" / f"date={day.isoformat()}").to_pylist()
    return {(r["contract_role"], r["method"], r["key"], r["field"]): int(r["value"]) for r in rows}


def _archived(home: Path, folder: str, day: date, pattern: str) -> list[Path]:
    return sorted((home / "inbox" / "archive" / folder / day.isoformat()).glob(pattern))


def _message_root(path: Path) -> ElementTree.Element:
    """The file's XML under one root: the custodian sends its business application header beside the Document (two
    top-level elements) or both inside a SWIFT DataPDU."""
    body = path.read_bytes()
    if body.startswith(b"<?xml"):
        body = body[body.index(b"?>") + 2:]
    return ElementTree.fromstring(b"<File>" + body + b"</File>")


def _element_text(element, path: str) -> str:
    found = element.find(path)
    assert found is not None, path
    return found.text.strip()


def _statement_cash(home: Path, day: date) -> Decimal | None:
    files = _archived(home, "custodian", day, f"*-camt053-{day.isoformat()}.xml")
    if not files:
        return None
    (path,) = files
    root = _message_root(path)
    for balance in root.findall(".//{*}Bal"):
        if _element_text(balance, "{*}Tp/{*}CdOrPrtry/{*}Cd") == "CLBD":
            amount = Decimal(_element_text(balance, "{*}Amt"))
            return -amount if _element_text(balance, "{*}CdtDbtInd") == "DBIT" else amount
    raise AssertionError(f"{path.name}: no closing balance")


def _holdings(home: Path, day: date) -> list[StatementHolding]:
    files = _archived(home, "custodian", day, f"*-semt002-{day.isoformat()}.xml")
    if not files:
        return []
    (path,) = files
    holdings = []
    for position in _message_root(path).findall(".//{*}BalForAcct"):
        value = Decimal(_element_text(position, "{*}AcctBaseCcyAmts/{*}HldgVal/{*}Amt"))
        if _element_text(position, "{*}AcctBaseCcyAmts/{*}HldgVal/{*}Sgn") == "false":
            value = -value
        holdings.append(StatementHolding(
            cusip=_element_text(position, "{*}FinInstrmId/{*}OthrId/{*}Id"),
            par=Decimal(_element_text(position, "{*}AggtBal/{*}Qty/{*}Qty/{*}Qty/{*}FaceAmt")),
            price=Decimal(_element_text(position, "{*}PricDtls/{*}Val/{*}Rate")),
            market_value=value))
    return holdings


def _lender_b_tape(path: Path) -> list[TapeLoan]:
    with path.open(newline="") as f:
        return [TapeLoan(terms_hash=r["TermsHash"].lower(), loan_id=r["LoanID"], lender_id=r["Lender"],
                         borrower_id=r["BorrowerID"], status=r["Status"],
                         # the servicer groups thousands: "69,840.00"
                         days_past_due=int(r["DPD"]), principal=Decimal(r["UPB"].replace(",", "")),
                         accrued_interest=Decimal(r["AccruedInt"].replace(",", "")))
                for r in csv.DictReader(f)]


def _lender_a_tape(path: Path) -> list[TapeLoan]:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = list(workbook["Loan Tape"].iter_rows(values_only=True))
    finally:
        workbook.close()
    header_row = next(number for number, values in enumerate(rows) if values and values[0] == "Report Date")
    header = rows[header_row]
    loans = []
    for values in rows[header_row + 1:]:
        r = dict(zip(header, values))
        if not r.get("Loan Number"):  # the totals row, the note below it
            continue
        loans.append(TapeLoan(terms_hash=r["Loan Terms Hash"].lower(), loan_id=r["Loan Number"], lender_id="lender-a",
                              borrower_id=r["Obligor ID"],
                              status=LENDER_A_STATUS[r["Loan Status"]], days_past_due=int(r["Days Delinquent"]),
                              # the workbook's cells are numbers: their shortest repr is the amount as written
                              principal=Decimal(repr(r["Current Principal Balance"])),
                              accrued_interest=Decimal(repr(r["Accrued Interest"]))))
    return loans


def _tape(home: Path, day: date) -> dict[str, TapeLoan]:
    """The day's tape rows of every lender by loanTermsHash (a repeated row counted once)."""
    loans: dict[str, TapeLoan] = {}
    for path in _archived(home, "loan_tapes", day, f"*-lender-b-{day.isoformat()}.csv"):
        for loan in _lender_b_tape(path):
            loans.setdefault(loan.terms_hash, loan)
    for path in _archived(home, "loan_tapes", day, f"*-lender-a-{day.isoformat()}.xlsx"):
        for loan in _lender_a_tape(path):
            loans.setdefault(loan.terms_hash, loan)
    return loans


# docs/ledger.md, susdai_yield: the day's income, net of this admin fee, accrues to sUSDai holders.
ADMIN_FEE_RATE = Decimal("0.10")


def as_the_files_tell_it(truth: DayTruth, previous: DayTruth, interest_not_on_tape: dict[str, Decimal]) -> DayTruth:
    """The day as the pipeline can know it when a counterparty's file left something out (docs/reconciliation.md,
    Known answers): without the day's custodian statement the T-bills keep the last statement's marks; a loan missing
    from its lender's tape misses the day's interest (`interest_not_on_tape`, by loanTermsHash: what the simulator
    accrued; the loan's next row catches it up). The income not recognised is missing from the holders' claim (2100)
    net of the admin fee."""
    balances, subs = dict(truth.balances), dict(truth.sub_balances)
    unrecognised = Decimal(0)
    if truth.statement_cash is None and not truth.holdings:
        for holding in previous.holdings:
            difference = subs.get(("1010", holding.cusip), Decimal(0)) - holding.market_value
            subs[("1010", holding.cusip)] = holding.market_value
            balances["1010"] -= difference
            unrecognised += difference
    for loan, interest in interest_not_on_tape.items():
        assert loan not in truth.tape, loan
        subs[("1110", loan)] = truth.loan(loan, "1110") - interest
        balances["1110"] -= interest
        unrecognised += interest
    balances["4000"] += unrecognised
    balances["5010"] -= unrecognised * (1 - ADMIN_FEE_RATE)
    balances["2100"] += unrecognised * (1 - ADMIN_FEE_RATE)
    return replace(truth, balances=balances, sub_balances=subs)


def day_truth(home: Path, day: date) -> DayTruth:
    balances, subs = _ground_truth(home)
    deployment = json.loads((home / "sandbox" / "deployment.json").read_text())
    # A migrated loan keeps its first hash in the ground truth; its tape rows name it by its V2 hash.
    first_hash = {m["new_loan_terms_hash"].lower(): m["loan_terms_hash"].lower()
                  for m in deployment.get("loan_migrations", [])}
    tape = {first_hash.get(terms_hash, terms_hash): loan for terms_hash, loan in _tape(home, day).items()}
    return DayTruth(
        day=day, balances=balances[day.isoformat()], sub_balances=subs.get(day.isoformat(), {}),
        chain=_chain_state(home, day),
        roles={entry["address"].lower(): entry for entry in deployment["address_book"]},
        statement_cash=_statement_cash(home, day), holdings=_holdings(home, day), tape=tape)


def _standing(buffer: Decimal) -> str:
    return f"an excess of {cents(buffer)} USD" if buffer >= 0 else f"a DEFICIT of {cents(-buffer)} USD"


def expected_verdict(truth: DayTruth) -> tuple[str, bool]:
    liquid_coverage = quotient(truth.liquid_reserves, truth.usdai_outstanding)
    total_coverage = quotient(truth.total_assets_net, truth.total_liabilities)
    liquid_buffer = truth.liquid_reserves - truth.usdai_outstanding
    total_buffer = truth.total_assets_net - truth.total_liabilities
    text = (f"Liquid coverage {percent(liquid_coverage)}: liquid reserves {cents(truth.liquid_reserves)} USD "
            f"against {cents(truth.usdai_outstanding)} USDai outstanding, {_standing(liquid_buffer)}. "
            f"Total coverage {percent(total_coverage)}: total assets net of the allowance "
            f"{cents(truth.total_assets_net)} USD against total liabilities {cents(truth.total_liabilities)} USD, "
            f"{_standing(total_buffer)}.")
    ok = liquid_coverage is not None and liquid_coverage >= COVERAGE_FLOOR and total_buffer >= 0
    return text, ok


def expected_comparison(truth: DayTruth) -> dict[str, str]:
    liquid_buffer = truth.liquid_reserves - truth.usdai_outstanding
    total_buffer = truth.total_assets_net - truth.total_liabilities
    liquid_label = "excess" if liquid_buffer >= 0 else "DEFICIT"
    total_label = "excess" if total_buffer >= 0 else "DEFICIT"
    if total_label == liquid_label:
        total_label += " (2)"
    return {
        "USDai total supply: totalSupply()": cents(truth.usdai_total_supply),
        "bridged supply: bridgedSupply()": cents(truth.usdai_bridged_supply),
        "held by the protocol, eliminated (supply + bridged \u2212 outstanding)":
            cents(truth.usdai_total_supply + truth.usdai_bridged_supply - truth.usdai_outstanding),
        "USDai outstanding, held outside the protocol (2000)": cents(truth.usdai_outstanding),
        "liquid reserves (1000 + 1010 + 1020)": cents(truth.liquid_reserves),
        liquid_label: cents(liquid_buffer),
        "liquid coverage = (1000 + 1010 + 1020) / 2000": percent(quotient(truth.liquid_reserves,
                                                                          truth.usdai_outstanding)),
        "total assets net of allowance": cents(truth.total_assets_net),
        "total liabilities (2000 + 2100 + 2110)": cents(truth.total_liabilities),
        total_label: cents(total_buffer),
        "total coverage = total assets net / total liabilities": percent(quotient(truth.total_assets_net,
                                                                                 truth.total_liabilities)),
    }


def expected_tokens(truth: DayTruth) -> list[list[str]]:
    protocol = truth.usdai_held_by_protocol
    outside = truth.usdai_total_supply + truth.usdai_bridged_supply - sum(protocol.values(), Decimal(0))
    held = [[f"excluded: held by the protocol's own contract ({truth.roles[a.lower()]['role']} {shortened(a)})",
             cents(-amount)] for a, amount in protocol.items()]
    return ([["minted supply: USDai totalSupply() at the state block", cents(truth.usdai_total_supply)],
             ["bridged supply: bridgedSupply() (backed here, circulating on other chains)",
              cents(truth.usdai_bridged_supply)]]
            + sorted(held)
            + [["tokens outstanding outside the protocol, from the chain", cents(outside)],
               ["USDai outstanding, ledger 2000 (attested)", cents(truth.usdai_outstanding)],
               ["difference (ledger \u2212 chain)", cents(truth.usdai_outstanding - outside)]])


def expected_stablecoins(truth: DayTruth) -> set[tuple[str, ...]]:
    rows = set()
    for (token, holder), amount in truth.stablecoins.items():
        rows.add((truth.roles[token.lower()]["token_symbol"], shortened(token),
                  f"{truth.roles[holder.lower()]['role']} {shortened(holder)}", cents(amount)))
    return rows


def expected_reserve_classes(truth: DayTruth) -> dict[str, tuple[str, str]]:
    """{class: (notional, market or carrying value)}."""
    par = sum((h.par for h in truth.holdings), Decimal(0))
    principal = truth.account("1100")
    return {
        "cash (1000)": (cents(truth.account("1000")), cents(truth.account("1000"))),
        "T-bills (1010)": (cents(par), cents(truth.account("1010"))),
        "stablecoins on chain (1020)": (cents(truth.account("1020")), cents(truth.account("1020"))),
        "liquid reserves": (cents(truth.account("1000") + par + truth.account("1020")), cents(truth.liquid_reserves)),
        "GPU loans (1100 - 1190)": (cents(principal),
                                    cents(principal + truth.account("1110") + truth.account("1190"))),
    }


def expected_tbills(truth: DayTruth) -> set[tuple[str, ...]]:
    """(CUSIP, par, price, fair value on the statement, ledger 1010) for each holding on the day's statement."""
    return {(h.cusip, cents(h.par), digits(h.price), cents(h.market_value),
             cents(truth.sub_balances.get(("1010", h.cusip), Decimal(0)))) for h in truth.holdings}


def expected_loans(truth: DayTruth) -> list[tuple[str, ...]]:
    """(loan, lender, borrower, status, DPD, principal, accrued, allowance, carrying) per loan, and the total row."""
    rows = []
    totals = [Decimal(0)] * 4
    for terms_hash in truth.loans:
        principal, accrued = truth.loan(terms_hash, "1100"), truth.loan(terms_hash, "1110")
        allowance = -truth.loan(terms_hash, "1190")
        carrying = principal + accrued - allowance
        tape = truth.tape.get(terms_hash)
        named = (tape.loan_id, tape.lender_id, tape.borrower_id, tape.status, str(tape.days_past_due)) if tape \
            else (shortened(terms_hash), "", "", "not on tape", "")
        rows.append((*named, cents(principal), cents(accrued), cents(allowance), cents(carrying)))
        totals = [t + v for t, v in zip(totals, (principal, accrued, allowance, carrying))]
    rows.sort(key=lambda row: (row[1] == "", row[1], row[0]))  # loans not on a tape last
    return rows + [("total", "", "", "", "", *(cents(t) for t in totals))]


def expected_nav(truth: DayTruth) -> dict[str, str]:
    total_assets = truth.chain_usd("susdai", "totalAssets")
    return {
        "sUSDai NAV: holders' claim, ledger 2100 (net of the credit losses they bear)": cents(truth.nav),
        "+ losses the vault marks only at the sale, less insurance claims not yet paid": cents(truth.unmarked_losses),
        "sUSDai totalAssets() on chain": cents(total_assets),
        "difference (chain \u2212 ledger)": cents(total_assets - truth.nav),
        "share price on chain (USDai per sUSDai)": digits(truth.share_price),
    }


def expected_balance_sheet(truth: DayTruth) -> dict[str, str]:
    """{account or total: amount} as the balance sheet prints it: assets as debits, liabilities and equity as
    credits."""
    lines = {code: cents(truth.account(code)) for code in ASSETS}
    lines |= {code: cents(-truth.account(code)) for code in LIABILITIES}
    lines["3000"] = cents(-truth.account("3000"))
    income = -sum((truth.account(a) for a in INCOME_AND_EXPENSES), Decimal(0))
    lines["income less expenses to date"] = cents(income)
    lines["total assets"] = cents(truth.total_assets_net)
    lines["total liabilities"] = cents(truth.total_liabilities)
    lines["total equity"] = cents(-truth.account("3000") + income)
    return lines


def printed_balance_sheet(printed: PrintedAttestation) -> dict[str, str]:
    lines = {}
    for section, account, item, amount in printed.table("balance_sheet", "section"):
        lines[account or item or section] = amount
    return lines


def printed_loans(printed: PrintedAttestation) -> list[tuple[str, ...]]:
    return [tuple(row[:9]) for row in printed.table("loans", "loan", "lender", "borrower")]


def figure_differences(truth: DayTruth, printed: PrintedAttestation) -> dict[str, tuple]:
    """Each group of headline figures the report prints otherwise than the independent answers: {group: (printed,
    expected)}; empty when every figure agrees."""
    def rows(section: str, *headers: str) -> list[list[str]]:
        return [row for row in printed.table(section, *headers) if len(row) > 1]  # not the "none" line

    nav = printed.measures("loans", "measure")
    found = {
        "verdict": ((printed.verdict, printed.verdict_ok), expected_verdict(truth)),
        "comparison": (printed.measures("comparison"), expected_comparison(truth)),
        "tokens": (printed.table("tokens", "measure"), expected_tokens(truth)),
        "reserve classes": ({row[0]: (row[6], row[7]) for row in printed.table("reserves", "class")},
                            expected_reserve_classes(truth)),
        "T-bills": ({(row[0], row[3], row[4], row[5], row[6]) for row in rows("reserves", "CUSIP")},
                    expected_tbills(truth)),
        "statement cash": ([row[1] for row in rows("reserves", "custodian / account")],
                           [] if truth.statement_cash is None else [cents(truth.statement_cash)]),
        "stablecoins": ({tuple(row) for row in rows("reserves", "token", "token contract")},
                        expected_stablecoins(truth)),
        "loans": (printed_loans(printed), expected_loans(truth)),
        "sUSDai NAV": ({label: nav.get(label) for label in expected_nav(truth)}, expected_nav(truth)),
        "balance sheet": (printed_balance_sheet(printed), expected_balance_sheet(truth)),
    }
    return {group: pair for group, pair in found.items() if pair[0] != pair[1]}
