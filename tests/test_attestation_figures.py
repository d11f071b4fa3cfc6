"""Every headline figure of the attestation, as printed in its HTML, equals the figure computed without the ledger or
the report's code: from the simulator's ground truth, the chain's raw state and the counterparties' own files
(tests/attestation_answers.py). Every day of the clean demo; tests/test_known_answers.py does the same on the days of
every injected discrepancy."""
import pytest

from attestation_answers import (
    cents,
    day_truth,
    expected_balance_sheet,
    expected_comparison,
    expected_loans,
    expected_nav,
    expected_reserve_classes,
    expected_stablecoins,
    expected_tbills,
    expected_tokens,
    expected_verdict,
    printed_balance_sheet,
    printed_loans,
    read_printed,
)


@pytest.fixture(scope="module")
def printed_days(clean_demo):
    """(the day's independent answers, the day's attestation as printed) for every day of the clean demo."""
    home, result = clean_demo
    assert sorted(result.attestations) == result.days
    return {day: (day_truth(home, day), read_printed(path.read_text())) for day, path in result.attestations.items()}


def test_the_verdict_and_the_coverage_comparison_are_the_independent_figures(printed_days):
    """USDai supply, bridged, held by the protocol, outstanding, liquid reserves, each excess or deficit, both
    coverage ratios, and the verdict's sentence and colour."""
    for day, (truth, printed) in printed_days.items():
        assert (printed.verdict, printed.verdict_ok) == expected_verdict(truth), day
        assert printed.measures("comparison") == expected_comparison(truth), day


def test_the_tokens_table_is_the_chain_state_and_the_ledgers_outstanding(printed_days):
    """totalSupply(), bridgedSupply(), each protocol contract's USDai, what is outside the protocol on chain, and
    the attested 2000 beside it."""
    for day, (truth, printed) in printed_days.items():
        assert printed.table("tokens", "measure") == expected_tokens(truth), day


def test_the_reserves_by_kind_are_the_statements_and_the_ground_truth(printed_days):
    """Cash, T-bills (par from the statement, market value), stablecoins on chain by token and holder, liquid
    reserves and the loan book's notional and carrying value; the custodian's own figures beside the ledger's."""
    for day, (truth, printed) in printed_days.items():
        classes = {row[0]: (row[6], row[7]) for row in printed.table("reserves", "class")}
        assert classes == expected_reserve_classes(truth), day
        tbills = {(row[0], row[3], row[4], row[5], row[6]) for row in printed.table("reserves", "CUSIP")}
        assert tbills == expected_tbills(truth) and tbills, day
        cash = [row[1] for row in printed.table("reserves", "custodian / account")]
        assert cash == [cents(truth.statement_cash)], day
        coins = {tuple(row) for row in printed.table("reserves", "token", "token contract")}
        assert coins == expected_stablecoins(truth) and coins, day
        # On a clean day the custodian's files and the simulator agree: the two independent answers are one.
        assert truth.statement_cash == truth.account("1000"), day
        assert sum(h.market_value for h in truth.holdings) == truth.account("1010"), day


def test_the_loan_book_is_the_ground_truth_and_the_tapes(printed_days):
    """Each loan's principal, accrued interest, allowance and carrying amount, its name, lender, borrower, status and
    days past due, the number of loans and the totals."""
    for day, (truth, printed) in printed_days.items():
        loans = printed_loans(printed)
        assert loans == expected_loans(truth), day
        assert len(loans) - 1 == len(truth.tape), day  # every loan on the day's tapes, one row each, and the total
        # On a clean day the lenders' tapes and the simulator agree loan by loan.
        for terms_hash, tape in truth.tape.items():
            assert (tape.principal, tape.accrued_interest) == (truth.loan(terms_hash, "1100"),
                                                               truth.loan(terms_hash, "1110")), (day, tape.loan_id)


def test_the_susdai_nav_is_the_ground_truth_and_totalassets_on_chain(printed_days):
    """The holders' claim (2100), the losses the vault has not marked, totalAssets() and its share price read raw from
    the chain, and their difference."""
    for day, (truth, printed) in printed_days.items():
        expected = expected_nav(truth)
        nav = printed.measures("loans", "measure")
        assert {label: nav[label] for label in expected} == expected, day


def test_the_balance_sheet_is_the_ground_truth(printed_days):
    """Every account of the balance sheet (the insurance receivable 1150 and the allowance 1190 among them), equity,
    and the three totals."""
    for day, (truth, printed) in printed_days.items():
        assert printed_balance_sheet(printed) == expected_balance_sheet(truth), day
