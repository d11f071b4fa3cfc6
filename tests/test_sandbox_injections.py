"""Injection specs and the custodian's CUSIPs and T-bill prices: small rules others rely on."""
from datetime import date
from decimal import Decimal

import pytest

from sandbox.injections import Injection, parse_injections
from sandbox.tbills import TreasuryBill, cusip_check_digit

START = date(2026, 1, 1)


def test_an_injection_day_is_an_index_a_date_or_drawn_from_the_seed():
    assert parse_injections(["unbacked-mint@3"], START, 30, 7) == [Injection("unbacked-mint", date(2026, 1, 3))]
    assert parse_injections(["unbacked-mint@2026-01-05"], START, 30, 7) == [Injection("unbacked-mint",
                                                                                      date(2026, 1, 5))]
    seeded = parse_injections(["unbacked-mint"], START, 30, 7)
    assert seeded == parse_injections(["unbacked-mint"], START, 30, 7)
    assert START <= seeded[0].date <= date(2026, 1, 30)
    drawn = {parse_injections(["unbacked-mint"], START, 30, seed)[0].date for seed in range(20)}
    assert len(drawn) > 1, "the seed does not choose the day"
    assert parse_injections([], START, 30, 7) == []


@pytest.mark.parametrize(("spec", "message"), [
    ("gpu-melted", "unknown injection kind 'gpu-melted'"),
    ("unbacked-mint@0", "outside days 1..3"),
    ("unbacked-mint@4", "outside days 1..3"),
    ("unbacked-mint@2026-02-01", "outside 2026-01-01..2026-01-03"),
    ("unbacked-mint@tuesday", "neither a day index nor a YYYY-MM-DD date"),
])
def test_a_bad_injection_spec_is_refused_with_its_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_injections([spec], START, 3, 7)


def test_the_same_injection_twice_on_one_day_is_refused():
    with pytest.raises(ValueError, match="given twice"):
        parse_injections(["unbacked-mint@2", "unbacked-mint@2026-01-02"], START, 3, 7)


@pytest.mark.parametrize("cusip", ["037833100", "594918104", "38259P508", "912828YK0"])
def test_cusip_check_digits_of_known_securities(cusip):
    assert cusip_check_digit(cusip[:8]) == cusip[8]


def test_a_bill_accretes_linearly_to_par_and_is_valued_to_the_cent():
    bill = TreasuryBill("912797LB1", Decimal(1_000_000), date(2026, 1, 1), date(2026, 4, 2), Decimal("0.0400"), "T-1")
    # 91 days on a 360-day bank-discount basis at 4%: 100 - 4 * 91 / 360.
    assert bill.purchase_price == Decimal("98.988889")
    assert bill.cost == Decimal("989888.89")
    assert bill.price_on(date(2026, 4, 2)) == Decimal(100)
    halfway = bill.price_on(date(2026, 2, 15))  # 46 of 91 days to go
    assert halfway == (100 - (100 - bill.purchase_price) * Decimal(46) / 91).quantize(Decimal("0.000001"))
    assert bill.market_value_on(date(2026, 2, 15)) == (bill.par * halfway / 100).quantize(Decimal("0.01"))
    assert bill.is_held_on(date(2026, 4, 1)) and not bill.is_held_on(date(2026, 4, 2))
