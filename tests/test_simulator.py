"""The sandbox simulator on a real anvil: the files it drops, the ground truth it keeps and the chain it leaves
behind agree with each other, and the seed makes it all reproducible byte for byte."""
import csv
import hashlib
import json
import re
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from web3 import Web3

from assets.custodian.iso20022 import read_statement_message
from assets.loan_tapes.tape import CSV_FORMAT, XLSX_FORMAT, read_tape
from sandbox.anvil import AnvilNode
from sandbox.compile import compile_contracts
from sandbox.deploy import ROUTER_FEE_RECIPIENT
from sandbox.ground_truth import CHART_OF_ACCOUNTS
from sandbox.injections import parse_injections
from sandbox.simulator import genesis_timestamp, simulate
from sandbox.tbills import cusip_check_digit

REPO = Path(__file__).resolve().parent.parent
START = date(2026, 1, 1)
DAYS = 3
DATES = [START + timedelta(days=i) for i in range(DAYS)]


def run_simulation(home, days=DAYS, seed=7, inject=()):
    """Simulate on a fresh anvil; the node stays up for the caller to read the chain."""
    node = AnvilNode(genesis_timestamp(START))
    node.start()
    try:
        return node, simulate(home, node.rpc_url, days=days, seed=seed, start=START, inject=inject)
    except BaseException:
        node.stop()
        raise


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    node, result = run_simulation(tmp_path_factory.mktemp("three-days"))
    yield node, result
    node.stop()


@pytest.fixture(scope="module")
def six_days(tmp_path_factory):
    node, result = run_simulation(tmp_path_factory.mktemp("six-days"), days=6)
    yield node, result
    node.stop()


def web3_contracts(rpc_url, result):
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    artifacts = compile_contracts()
    by_role = {"usdai": "USDai", "susdai": "StakedUSDai", "loan_router": "LoanRouter", "base_token": "SandboxERC20",
               "usdc": "SandboxERC20"}
    return w3, {role: w3.eth.contract(address=result.address_of(role), abi=artifacts[name]["abi"])
                for role, name in by_role.items()}


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def tape_rows(home, lender, day):
    """A lender's tape of the day, whatever its format, in the tape schema's columns (as the pipeline reads it)."""
    (path,) = (home / "inbox" / "loan_tapes").glob(f"{lender}-{day}.*")
    file_format = XLSX_FORMAT if path.suffix == ".xlsx" else CSV_FORMAT
    return read_tape(path.read_bytes(), file_format, path.name).frame.to_dicts()


def statement_rows(home, day):
    """The custodian's holdings (semt.002) and cash (camt.053) statements of the day, as statement records."""
    paths = sorted((home / "inbox" / "custodian").glob(f"custodian-a-*-{day}.xml"))
    assert [p.name for p in paths] == [f"custodian-a-camt053-{day}.xml", f"custodian-a-semt002-{day}.xml"]
    return [record for path in paths for record in read_statement_message(path.read_bytes()).records]


def ground_truth(result):
    return {(date.fromisoformat(r["date"]), r["account_code"]): Decimal(r["balance"])
            for r in read_csv(result.ground_truth_path)}


def sha256s(home):
    files = sorted((home / "inbox").rglob("*.*")) + [home / "sandbox" / "ground_truth_balances.csv",
                                                      home / "sandbox" / "ground_truth_sub_balances.csv"]
    return {str(path.relative_to(home)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def test_every_expected_file_exists(three_days):
    _, result = three_days
    home = result.home
    for day in DATES:
        for path in (home / "inbox" / "loan_tapes" / f"lender-a-{day}.xlsx",
                     home / "inbox" / "loan_tapes" / f"lender-b-{day}.csv",
                     home / "inbox" / "telemetry" / f"dcgm-{day}.prom",
                     home / "inbox" / "custodian" / f"custodian-a-semt002-{day}.xml",
                     home / "inbox" / "custodian" / f"custodian-a-camt053-{day}.xml"):
            assert path.is_file() and path.stat().st_size > 0, path
    assert sorted(result.inbox_files) == sorted(p for p in (home / "inbox").rglob("*") if p.is_file())
    assert not list(home.rglob("*.tmp")), "a temporary file was left behind"
    deployment = json.loads(result.deployment_path.read_text())
    assert deployment["profile"] == "sandbox" and deployment["chain_id"] == 31337
    assert (deployment["start_date"], deployment["days"], deployment["seed"]) == ("2026-01-01", DAYS, 7)
    roles = {entry["role"]: entry for entry in deployment["address_book"]}
    assert set(roles) == {"usdai", "susdai", "loan_router", "base_token", "usdc", "gpu_title", "lender_position",
                          "swap", "usdai_bridge_adapter", "custodian", "insurer"}
    assert {role for role, entry in roles.items() if entry["is_protocol"]} == {"usdai", "susdai", "loan_router"}
    assert (roles["usdai"]["token_symbol"], roles["usdai"]["token_decimals"]) == ("USDai", 18)
    assert deployment["injections"] == []
    assert result.deployment_path.read_text() == json.dumps(deployment, indent=2, sort_keys=True) + "\n"


def test_ground_truth_balances_every_account_and_sums_to_zero_each_day(three_days):
    _, result = three_days
    balances = ground_truth(result)
    assert set(balances) == {(day, account) for day in DATES for account in CHART_OF_ACCOUNTS}
    for day in DATES:
        assert sum(balances[(day, account)] for account in CHART_OF_ACCOUNTS) == 0, day
    subs = defaultdict(Decimal)
    for row in read_csv(result.ground_truth_sub_balances_path):
        subs[(date.fromisoformat(row["date"]), row["account_code"])] += Decimal(row["balance"])
    assert {key: value for key, value in balances.items() if value} == {k: v for k, v in subs.items() if v}
    # The scenario moved every part of the ledger in three days.
    for account in ("1000", "1010", "1020", "1100", "1110", "2000", "2100", "4000", "4010", "5010"):
        assert balances[(DATES[-1], account)] != 0, account
    # The router's fees are its fee recipient's, outside the protocol: never the vault's income.
    assert all(balances[(day, "4020")] == 0 for day in DATES)


def test_usdai_supply_at_each_days_last_block_is_the_simulators_figure(three_days):
    node, result = three_days
    w3, contracts = web3_contracts(node.rpc_url, result)
    balances = ground_truth(result)
    for close in result.days:
        block = w3.eth.get_block(close.last_block)
        following = w3.eth.get_block(close.last_block + 1)
        day_end = datetime.combine(close.date + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
        assert block.timestamp < day_end.timestamp() <= following.timestamp, "not the day's last block"
        # Historical state: read at the day's own block long after it was mined.
        supply = contracts["usdai"].functions.totalSupply().call(block_identifier=close.last_block)
        assert supply == close.usdai_total_supply
        reserve = contracts["base_token"].functions.balanceOf(result.address_of("usdai")).call(
            block_identifier=close.last_block)
        assert supply == reserve * 10**12
        nav = contracts["susdai"].functions.totalAssets().call(block_identifier=close.last_block)
        # the vault's assets are the holders' claim (2100) before the credit loss allowance (1190, from the day loan 3
        # stops paying) and without the insurance receivable (1150) it books against it
        assert Decimal(nav).scaleb(-18) == -balances[(close.date, "2100")] - balances[(close.date, "1190")] \
            - balances[(close.date, "1150")]
    assert w3.eth.block_number == result.days[-1].last_block + 2


def test_ground_truth_ties_to_the_chain_at_each_days_last_block(three_days):
    node, result = three_days
    w3, contracts = web3_contracts(node.rpc_url, result)
    balances = ground_truth(result)
    usdai, base, usdc = contracts["usdai"], contracts["base_token"], contracts["usdc"]
    protocol = [result.address_of(role) for role in ("usdai", "susdai", "loan_router")]
    for close in result.days:
        at = close.last_block
        held_by_protocol = sum(usdai.functions.balanceOf(a).call(block_identifier=at) for a in protocol)
        outside = usdai.functions.totalSupply().call(block_identifier=at) - held_by_protocol
        assert Decimal(outside).scaleb(-18) == -balances[(close.date, "2000")]
        stablecoins = base.functions.balanceOf(protocol[0]).call(block_identifier=at) + \
            sum(usdc.functions.balanceOf(holder).call(block_identifier=at) for holder in protocol)
        assert Decimal(stablecoins).scaleb(-6) == balances[(close.date, "1020")]
        income = -sum(balances[(close.date, account)] for account in ("4000", "4010", "4020"))
        assert balances[(close.date, "5010")] == income * Decimal("0.9")
    # The router holds no currency at a close: what borrowers repay is the vault's at once.
    router, last = contracts["loan_router"], result.days[-1].last_block
    assert usdc.functions.balanceOf(protocol[2]).call(block_identifier=last) == 0
    fees = sum(e.args.originationFee for e in router.events.LoanOriginated().get_logs(from_block=0, to_block=last))
    assert fees > 0
    fees += sum(e.args.exitFee for e in router.events.LoanRepaid().get_logs(from_block=0, to_block=last))
    fees += sum(e.args.liquidationFee + e.args.surplus
                for e in router.events.LoanCollateralLiquidated().get_logs(from_block=0, to_block=last))
    assert usdc.functions.balanceOf(ROUTER_FEE_RECIPIENT).call(block_identifier=last) == fees


def test_files_agree_with_the_ground_truth(three_days):
    _, result = three_days
    balances = ground_truth(result)
    for day in DATES:
        statement = statement_rows(result.home, day)
        closing = [Decimal(r["amount"]) for r in statement if r["record_type"] == "closing_cash"]
        holdings = sum(Decimal(r["market_value"]) for r in statement if r["record_type"] == "holding")
        assert closing == [balances[(day, "1000")]]
        assert holdings == balances[(day, "1010")]
        for row in statement:
            if row["cusip"]:
                assert cusip_check_digit(row["cusip"][:8]) == row["cusip"][8], row["cusip"]
        tapes = [row for lender in ("lender-a", "lender-b") for row in tape_rows(result.home, lender, day)]
        assert sum(Decimal(r["principal_outstanding"]) for r in tapes) == balances[(day, "1100")]
        assert sum(Decimal(r["accrued_interest"]) for r in tapes) == balances[(day, "1110")]
        assert sum(Decimal(r["daily_interest"]) for r in tapes) == \
            -balances[(day, "4000")] + (balances.get((day - timedelta(days=1), "4000")) or 0)


def test_the_calendars_first_three_days_hold_every_required_event(three_days):
    node, result = three_days
    w3, contracts = web3_contracts(node.rpc_url, result)
    last = result.days[-1].last_block
    usdai, susdai, router = contracts["usdai"], contracts["susdai"], contracts["loan_router"]

    def logs(contract, event):
        return getattr(contract.events, event)().get_logs(from_block=0, to_block=last)

    deposits = logs(usdai, "Deposited")
    assert {d.args.depositToken for d in deposits} == {result.address_of("base_token"), result.address_of("usdc")}
    assert logs(susdai, "Deposit") and logs(router, "LoanOriginated")
    assert len(logs(router, "LoanOriginated")) >= 5
    repaid = logs(router, "LoanRepaid")
    assert any(r.args.principal > 0 and r.args.interest > 0 and not r.args.isRepaid for r in repaid)
    assert logs(susdai, "RedeemRequest") and logs(susdai, "RedemptionProcessed") and logs(susdai, "Withdraw")
    withdrawn = logs(usdai, "Withdrawn")
    recipients = {w.args.recipient for w in withdrawn}
    assert {result.address_of("loan_router"), result.address_of("custodian")} <= recipients
    assert recipients - {result.address_of("loan_router"), result.address_of("custodian")}, "no user withdrawal"
    # The custodian's cash receipts are the on-chain transfers to its deposit address.
    receipts = [r for day in DATES for r in statement_rows(result.home, day) if r["transaction_type"] == "cash_receipt"]
    sent = {w.transactionHash.to_0x_hex(): w.args.withdrawAmount for w in withdrawn
            if w.args.recipient == result.address_of("custodian")}
    assert {r["reference"]: Decimal(r["amount"]).scaleb(6) for r in receipts} == sent
    statements = [r for day in DATES for r in statement_rows(result.home, day)]
    assert {r["transaction_type"] for r in statements} >= {"cash_receipt", "tbill_purchase", "tbill_maturity"}


def reported_serials(home: Path, day: date) -> set[str]:
    """The serials of the GPUs the day's telemetry files report: the stock exporter names a GPU by UUID only (no
    `serial` label), so each UUID is looked up in the borrowers' nvidia-smi inventories."""
    serial_of = {}
    for path in (home / "inbox" / "telemetry").glob("gpu-inventory-*.csv"):
        with path.open() as f:
            for row in csv.DictReader(f, skipinitialspace=True):
                serial_of[row["uuid"]] = row["serial"]
    uuids = set()
    # the day's files: those dated in their names, and the raw scrapes named by their scrape times
    compact = str(day).replace("-", "")
    for path in [*(home / "inbox" / "telemetry").glob(f"*{day}*"), *(home / "inbox" / "telemetry").glob(f"*{compact}T*")]:
        if path.suffix in (".prom", ".json"):
            uuids |= set(re.findall(r'"?UUID"?\s*[=:]\s*"(GPU-[0-9a-f-]{36})"', path.read_text()))
    return {serial_of[uuid] for uuid in uuids}


def test_telemetry_covers_the_collateral_of_the_days_loans(three_days):
    _, result = three_days
    for day in DATES:
        tapes = [row for lender in ("lender-a", "lender-b") for row in tape_rows(result.home, lender, day)]
        collateral = {serial for row in tapes for entry in row["collateral"].split(";")
                      for serial in entry.split("=")[1].split("|")}
        text = (result.home / "inbox" / "telemetry" / f"dcgm-{day}.prom").read_text()
        assert reported_serials(result.home, day) == collateral and 'serial="' not in text
        # one borrower's GPUs come from its Prometheus through the HTTP API, the others' in /federate text (raw
        # scrapes, in runs of 10 days or more: tests/test_ledger_sandbox_30_days.py)
        answer = json.loads(next((result.home / "inbox" / "telemetry").glob(f"prometheus-query-range-*-{day}.json"))
                            .read_text())
        assert answer["status"] == "success" and answer["data"]["resultType"] == "matrix"
        per_family = re.findall(r"^# TYPE (\w+) gauge$", text, flags=re.M)
        assert per_family == ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE",
                              "DCGM_FI_DEV_XID_ERRORS"]
        day_start_ms = int(datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc).timestamp()) * 1000
        stamps = {int(t) for t in re.findall(r" (\d{13})$", text, flags=re.M)}
        assert len(stamps) == 86_400 // 600 and min(stamps) == day_start_ms
    # One title is a bundle of two GPUs.
    assert any("|" in row["collateral"] for row in tape_rows(result.home, "lender-a", DATES[0]))


def test_the_seed_makes_the_run_reproducible_byte_for_byte(three_days, tmp_path):
    _, first = three_days
    node, second = run_simulation(tmp_path / "again")
    node.stop()
    assert sha256s(second.home) == sha256s(first.home)
    node, other = run_simulation(tmp_path / "other-seed", seed=8)
    node.stop()
    assert sha256s(other.home) != sha256s(first.home)


def test_a_longer_run_of_the_same_seed_begins_with_the_shorter_run_day_for_day(three_days, tmp_path):
    """A seed fixes a calendar, not a run: extending a run adds days to it and changes none of those before, on the
    chain (the same blocks, to the hash), in the counterparties' files and in the ground truth."""
    node3, three = three_days
    node, seven = run_simulation(tmp_path / "seven-days", days=7)
    try:
        assert seven.days[:DAYS] == three.days
        last = three.days[-1].last_block
        hash_of = lambda rpc_url: Web3(Web3.HTTPProvider(rpc_url)).eth.get_block(last)["hash"]
        assert hash_of(node.rpc_url) == hash_of(node3.rpc_url)
    finally:
        node.stop()
    first_days = {name: digest for name, digest in sha256s(seven.home).items()
                  if any(str(day) in name or str(day).replace("-", "") in name for day in DATES)}
    three_files = {name: digest for name, digest in sha256s(three.home).items()
                   if any(str(day) in name or str(day).replace("-", "") in name for day in DATES)}
    assert first_days == three_files and len(three_files) > 20
    for name in ("ground_truth_balances.csv", "ground_truth_sub_balances.csv"):
        rows = lambda home: [r for r in read_csv(home / "sandbox" / name) if date.fromisoformat(r["date"]) in DATES]
        assert rows(seven.home) == rows(three.home)


def test_an_injected_unbacked_mint_exceeds_the_backing_by_exactly_its_amount(tmp_path):
    home = tmp_path / "home"
    day = parse_injections(["unbacked-mint"], START, DAYS, seed=7)[0].date
    with AnvilNode(genesis_timestamp(START)) as node:
        completed = subprocess.run(
            [sys.executable, "-m", "sandbox.simulator", "--home", str(home), "--days", str(DAYS), "--seed", "7",
             "--start", START.isoformat(), "--inject", "unbacked-mint", "--rpc-url", node.rpc_url],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        assert completed.returncode == 0, completed.stderr
        deployment = json.loads((home / "sandbox" / "deployment.json").read_text())
        [injection] = deployment["injections"]
        assert (injection["kind"], injection["date"], injection["amount"]) == ("unbacked-mint", day.isoformat(),
                                                                               "250000")
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        artifacts = compile_contracts()
        book = {entry["role"]: entry["address"] for entry in deployment["address_book"]}
        usdai = w3.eth.contract(address=book["usdai"], abi=artifacts["USDai"]["abi"])
        # the reserve, in every base token (wM, and PYUSD from the v1.4 release on)
        bases = [w3.eth.contract(address=entry["address"], abi=artifacts["SandboxERC20"]["abi"])
                 for entry in deployment["address_book"] if entry["role"] == "base_token"]
        mint_block = w3.eth.get_transaction_receipt(injection["tx_hash"]).blockNumber
        assert datetime.fromtimestamp(w3.eth.get_block(mint_block).timestamp, timezone.utc) == \
            datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=12)
        balances = {(date.fromisoformat(r["date"]), r["account_code"]): Decimal(r["balance"])
                    for r in read_csv(home / "sandbox" / "ground_truth_balances.csv")}
        for block_of_day in (mint_block - 1, mint_block):
            excess = usdai.functions.totalSupply().call(block_identifier=block_of_day) - \
                sum(base.functions.balanceOf(book["usdai"]).call(block_identifier=block_of_day) for base in bases) * 10**12
            assert excess == (250_000 * 10**18 if block_of_day == mint_block else 0)
        for d in DATES:
            assert balances[(d, "3000")] == (Decimal(250_000) if d >= day else 0)


def test_six_days_repay_one_loan_in_full_and_liquidate_a_default_below_its_outstanding(six_days):
    node, result = six_days
    w3, contracts = web3_contracts(node.rpc_url, result)
    router = contracts["loan_router"]
    last = result.days[-1].last_block
    repaid = router.events.LoanRepaid().get_logs(from_block=0, to_block=last)
    assert any(r.args.isRepaid and r.args.prepayment > 0 for r in repaid)
    [liquidated] = router.events.LoanLiquidated().get_logs(from_block=0, to_block=last)
    [sale] = router.events.LoanCollateralLiquidated().get_logs(from_block=0, to_block=last)
    defaulted = liquidated.args.loanTermsHash
    assert sale.args.loanTermsHash == defaulted
    before_sale = router.functions.loanState(defaulted).call(block_identifier=sale.blockNumber - 1)
    assert before_sale[0] == 3 and sale.args.proceeds * 10**12 < before_sale[3]
    assert router.functions.loanState(defaulted).call(block_identifier=last)[0] == 4
    statuses, dark_days = [], []
    for i in range(6):
        day = START + timedelta(days=i)
        [row] = [r for r in tape_rows(result.home, "lender-a", day) if r["loan_terms_hash"] == "0x" + defaulted.hex()]
        statuses.append(row["status"])
        serials = {s for entry in row["collateral"].split(";") for s in entry.split("=")[1].split("|")}
        dark_days.append(not serials & reported_serials(result.home, day))
    assert statuses[0] == "current" and "delinquent" in statuses and "default" in statuses
    assert statuses[-1] == "liquidated"
    # The GPUs stop reporting during the day of default and stay dark from then on.
    default_index = statuses.index("default")
    assert dark_days == [False] * (default_index + 1) + [True] * (5 - default_index)
    balances = ground_truth(result)
    assert balances[(result.days[-1].date, "5000")] > 0
