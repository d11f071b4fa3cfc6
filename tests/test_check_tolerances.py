"""Every tolerance and threshold of the reconciliation checks, on both sides of its boundary: data tampered to sit
exactly at the setting passes (or breaks, where the check's SQL compares strictly), one smallest step beyond it
breaks. A USD amount's step is 10^-18 (the warehouse's DECIMAL(38, 18)). What the defaults of dbt_project.yml cannot
reach (a relative tolerance of 0, no supply cap) comes from a home's reconciliation.toml, passed to dbt as the
pipeline passes it; such a home also shows an override changing the outcome it should."""
import math
import shutil
from decimal import Decimal

import duckdb
import pytest

from expectations.exceptions import list_exceptions
from expectations.policy import ReconciliationPolicy
from foundation.home import DataHome

from test_reconciliation_checks import (DAY_LIST, FIRST, LAST, ONE_UNIT, SECOND, assert_attestation_refused,
                                        exceptions_of, materialise, rebuild_home_check_models, usd_per_raw_unit,
                                        warehouse)  # noqa: F401 (the fixture)


def test_r1_any_difference_breaks(warehouse, tmp_path):
    """supply_abs_tolerance 0: equal passes (the clean days), one unit apart breaks."""
    warehouse.execute("update main.usdai_supply_reconciliation set supply_from_transfer_events = "
                      "supply_from_transfer_events + ? where partition_date = ?", [ONE_UNIT, SECOND])
    assert exceptions_of(warehouse, "R1", tmp_path) == {
        ("R1", SECOND, "usdai:transfer_events", "blocker", -ONE_UNIT)}


def test_r2_public_backing_rule_allows_a_shortfall_up_to_the_tolerance(warehouse, tmp_path):
    """backing_shortfall_tolerance 100: supply 100 USDai above the base token held passes, one raw unit more blocks."""
    def raise_supply(day, usd):
        raw = usd / usd_per_raw_unit(warehouse, day, "usdai")
        warehouse.execute("""update main.stg_chain_state set value = value + ? where partition_date = ?
            and contract_role = 'usdai' and method = 'totalSupply' and field = 'value'""", [int(raw), day])
    raise_supply(SECOND, Decimal("100"))
    raise_supply(LAST, Decimal("100") + usd_per_raw_unit(warehouse, LAST, "usdai"))
    assert exceptions_of(warehouse, "R2", tmp_path) == {
        ("R2", LAST, "usdai:public_backing_rule", "blocker", Decimal("100") + ONE_UNIT)}
    assert_attestation_refused(warehouse, LAST, "R2")


def shift_ledger_cash(con, day, usd):
    con.execute("update main.reserve_balances set closing_balance = closing_balance + ? "
                "where partition_date = ? and account_code = '1000'", [usd, day])


def test_r3_cash_within_a_cent_passes_and_beyond_it_blocks(warehouse, tmp_path):
    """custodian_abs_tolerance 0.01 (relative 0): the ledger a cent off the statement passes, a unit more blocks."""
    shift_ledger_cash(warehouse, SECOND, Decimal("0.01"))
    shift_ledger_cash(warehouse, LAST, Decimal("0.01") + ONE_UNIT)
    assert exceptions_of(warehouse, "R3", tmp_path) == {
        ("R3", LAST, "custodian:cash", "blocker", -(Decimal("0.01") + ONE_UNIT))}
    assert_attestation_refused(warehouse, LAST, "R3")


def set_liquid_coverage(con, day, coverage: Decimal) -> Decimal:
    """The day's liquid reserves set to `coverage` x 1,000,000 USDai outstanding; returns R4's difference."""
    outstanding = Decimal("1000000")
    con.execute("update main.reserve_coverage set usdai_outstanding = ?, liquid_reserves = ?, liquid_coverage = ? "
                "where partition_date = ?", [outstanding, outstanding * coverage, coverage, day])
    return outstanding * coverage - outstanding


def test_r4_clean_at_the_buffer_warns_below_it_and_blocks_below_the_floor(warehouse, tmp_path):
    """coverage_buffer 1.02 and coverage_floor 1.0: at the buffer clean, a unit below it a warning, a unit below the
    floor a blocker that refuses the day's attestation."""
    set_liquid_coverage(warehouse, FIRST, Decimal("1.02"))
    below_buffer = set_liquid_coverage(warehouse, SECOND, Decimal("1.02") - ONE_UNIT)
    below_floor = set_liquid_coverage(warehouse, LAST, Decimal("1") - ONE_UNIT)
    assert exceptions_of(warehouse, "R4", tmp_path) == {
        ("R4", SECOND, "protocol:liquid_coverage", "warn", below_buffer),
        ("R4", LAST, "protocol:liquid_coverage", "blocker", below_floor)}
    assert_attestation_refused(warehouse, LAST, "R4")


def test_r4_exactly_at_the_floor_is_a_warning_not_a_blocker(warehouse, tmp_path):
    at_floor = set_liquid_coverage(warehouse, LAST, Decimal("1"))
    assert exceptions_of(warehouse, "R4", tmp_path) == {("R4", LAST, "protocol:liquid_coverage", "warn", at_floor)}


def loan_on_tape(con, day):
    """A loan open on chain and on the day's tape: its hash and the chain's principal (R5's expected)."""
    terms_hash, expected = con.execute("""select split_part(entity_key, ':', 2), cast(expected as decimal(38, 18))
        from main.r5_loans_match_tapes where check_date = ? and entity_key like '%:principal'
        order by entity_key limit 1""", [day]).fetchone()
    return terms_hash, expected


def shift_tape_principal(con, day, terms_hash, usd):
    con.execute("update main.stg_loan_tapes set principal_outstanding = principal_outstanding + ? "
                "where as_of_date = ? and lower(loan_terms_hash) = ?", [usd, day, terms_hash])


def test_r5_principal_within_a_cent_passes_and_beyond_it_blocks(warehouse, tmp_path):
    """loan_principal_abs_tolerance 0.01 (relative 0)."""
    within, _ = loan_on_tape(warehouse, SECOND)
    beyond, _ = loan_on_tape(warehouse, LAST)
    shift_tape_principal(warehouse, SECOND, within, Decimal("0.01"))
    shift_tape_principal(warehouse, LAST, beyond, Decimal("-0.01") - ONE_UNIT)
    assert exceptions_of(warehouse, "R5", tmp_path) == {
        ("R5", LAST, f"loan:{beyond}:principal", "blocker", Decimal("0.01") + ONE_UNIT)}
    assert_attestation_refused(warehouse, LAST, "R5")


def set_susdai_nav(con, day, onchain_usd: Decimal, ledger_usd: Decimal) -> None:
    """sUSDai totalAssets() read as `onchain_usd` and the ledger's holders' claim (2100) moved so that R6's ledger
    figure is `ledger_usd`."""
    raw = onchain_usd / usd_per_raw_unit(con, day, "usdai")
    con.execute("""update main.stg_chain_state set value = ? where partition_date = ?
        and contract_role = 'susdai' and method = 'totalAssets' and field = 'value'""", [int(raw), day])
    ledger_now = con.execute("select cast(actual as decimal(38, 18)) from main.r6_susdai_assets_match_ledger "
                             "where check_date = ?", [day]).fetchone()[0]
    # The claim is a credit balance: a lower claim is a higher (less negative) closing balance.
    con.execute("update main.trial_balance set closing_balance = closing_balance - ? "
                "where partition_date = ? and account_code = '2100'", [ledger_usd - ledger_now, day])


def test_r6_nav_within_the_relative_tolerance_passes_and_beyond_it_warns(warehouse, tmp_path):
    """nav_rel_tolerance 0.0001 of totalAssets() (above the 0.01 absolute): 100 USD on 1,000,000 passes, a unit
    more warns."""
    nav = Decimal("1000000")
    set_susdai_nav(warehouse, SECOND, nav, nav - Decimal("100"))
    set_susdai_nav(warehouse, LAST, nav, nav + Decimal("100") + ONE_UNIT)
    assert exceptions_of(warehouse, "R6", tmp_path) == {
        ("R6", LAST, "susdai:total_assets", "warn", -(Decimal("100") + ONE_UNIT))}


def collateral_serials(con, day, count):
    return [s for (s,) in con.execute("""select gpu_serial from main.r7_collateral_gpus_online
        join (select 'gpu:' || gpu_serial as entity_key, gpu_serial from main.stg_gpu_telemetry_daily
              where partition_date = ? group by gpu_serial having count(*) = 1) using (entity_key)
        where check_date = ? order by gpu_serial limit ?""", [day, day, count]).fetchall()]


def test_r7_online_minutes_and_xid_samples_at_their_thresholds_pass_one_step_beyond_warns(warehouse, tmp_path):
    """gpu_min_online_minutes 1200 (at least) and gpu_max_xid_error_samples 5 (at most)."""
    at_both, short, erroring = collateral_serials(warehouse, LAST, 3)
    for serial, minutes, xid in ((at_both, 1200.0, 5), (short, math.nextafter(1200.0, 0), 0), (erroring, 1440.0, 6)):
        warehouse.execute("update main.stg_gpu_telemetry_daily set minutes_online = ?, xid_error_samples = ? "
                          "where partition_date = ? and gpu_serial = ?", [minutes, xid, LAST, serial])
    assert exceptions_of(warehouse, "R7", tmp_path) == {
        ("R7", LAST, f"gpu:{short}", "warn", ""), ("R7", LAST, f"gpu:{erroring}", "warn", "")}
    actual = {e["entity_key"]: e["actual"] for e in list_exceptions(warehouse, check_id="R7")}
    assert actual == {f"gpu:{short}": f"{math.nextafter(1200.0, 0)} min online, 0 XID samples",
                      f"gpu:{erroring}": "1440.0 min online, 6 XID samples"}


def test_r10_a_deficit_up_to_the_tolerance_passes_and_beyond_it_blocks(warehouse, tmp_path):
    """solvency_deficit_tolerance 1 USD."""
    warehouse.execute("update main.reserve_coverage set total_assets_net = total_liabilities - 1 "
                      "where partition_date = ?", [SECOND])
    warehouse.execute("update main.reserve_coverage set total_assets_net = total_liabilities - ? "
                      "where partition_date = ?", [Decimal("1") + ONE_UNIT, LAST])
    assert exceptions_of(warehouse, "R10", tmp_path) == {
        ("R10", LAST, "protocol:total_coverage", "blocker", -(Decimal("1") + ONE_UNIT))}
    assert_attestation_refused(warehouse, LAST, "R10")


def test_h1_a_rise_of_exactly_the_limit_passes_and_a_unit_more_warns(warehouse, tmp_path):
    """supply_daily_rise_limit 0.05 of the day before's supply."""
    def rise(day, above):
        warehouse.execute("""update main.usdai_supply_reconciliation set onchain_total_supply =
            (select onchain_total_supply * 1.05 + ? from main.usdai_supply_reconciliation where partition_date = ?)
            where partition_date = ?""", [above, day - (LAST - SECOND), day])
    rise(SECOND, Decimal(0))
    rise(LAST, ONE_UNIT)
    second = warehouse.execute("select onchain_total_supply from main.usdai_supply_reconciliation "
                               "where partition_date = ?", [SECOND]).fetchone()[0]
    assert exceptions_of(warehouse, "H1", tmp_path) == {
        ("H1", LAST, "usdai:daily_rise", "warn", second * Decimal("0.05") + ONE_UNIT)}


def keep_telemetry_gpus(con, day, count):
    con.execute("""delete from main.stg_gpu_telemetry_daily where partition_date = ? and gpu_serial not in
        (select distinct gpu_serial from main.stg_gpu_telemetry_daily where partition_date = ?
         order by gpu_serial limit ?)""", [day, day, count])


def test_h2_a_drop_of_exactly_half_passes_and_one_row_more_warns(warehouse, tmp_path):
    """volume_drop_limit 0.5: half the GPUs of the day before passes, one fewer warns."""
    fleet = warehouse.execute("select count(distinct gpu_serial) from main.stg_gpu_telemetry_daily "
                              "where partition_date = ?", [SECOND]).fetchone()[0]
    assert fleet % 2 == 0 and fleet >= 20, "the sandbox's fleet changed: choose counts on either side of half"
    keep_telemetry_gpus(warehouse, LAST, fleet // 2)
    assert exceptions_of(warehouse, "H2", tmp_path, [LAST]) == set()
    keep_telemetry_gpus(warehouse, LAST, fleet // 2 - 1)
    assert exceptions_of(warehouse, "H2", tmp_path, [LAST]) == {
        ("H2", LAST, "volume:telemetry_gpus", "warn", Decimal(-(fleet - fleet // 2 + 1)))}


def test_h2_judges_a_drop_only_after_a_day_with_the_minimum_rows(warehouse, tmp_path):
    """volume_min_previous_rows 10: after 10 GPUs, 4 warns; after 9, 1 is not judged."""
    keep_telemetry_gpus(warehouse, FIRST, 10)
    keep_telemetry_gpus(warehouse, SECOND, 4)
    assert exceptions_of(warehouse, "H2", tmp_path, [SECOND]) == {
        ("H2", SECOND, "volume:telemetry_gpus", "warn", Decimal(-6))}
    keep_telemetry_gpus(warehouse, SECOND, 9)
    keep_telemetry_gpus(warehouse, LAST, 1)
    assert {e for e in exceptions_of(warehouse, "H2", tmp_path, [LAST]) if e[1] == LAST} == set()


def test_h3_a_cutoff_120_minutes_before_the_day_ends_passes_a_moment_earlier_warns(warehouse, tmp_path):
    """max_cutoff_lag_minutes 120, counted in minute boundaries crossed (DuckDB datediff): a cut-off at 22:00:00
    lags 120 minutes, one at 21:59:59.999999 lags 121."""
    at_limit, beyond = "22:00:00", "21:59:59.999999"
    for day, time in ((SECOND, at_limit), (LAST, beyond)):
        cutoff = f"{day} {time}"
        warehouse.execute("update main.stg_chain_days set to_block_time = ? where partition_date = ?",
                          [cutoff, day])
        warehouse.execute("update main.stg_custodian_statements set cut_off_time = ? where statement_date = ?",
                          [cutoff, day])
        warehouse.execute("update main.stg_gpu_telemetry_daily set last_seen = least(last_seen, ?) "
                          "where partition_date = ?", [cutoff, day])
    assert exceptions_of(warehouse, "H3", tmp_path) == {
        ("H3", LAST, f"freshness:{source}", "warn", "121 min")
        for source in ("chain", "custodian_statement", "telemetry")}


def unexplain_returns_by(con, tolerance: Decimal, second_day_sign: int = -1) -> None:
    """The share price's daily return (annualised x 365 in the model) set apart from what the ledger explains by
    exactly `tolerance` on the second day (down, unless `second_day_sign` is 1) and by one unit more on the last."""
    materialise(con, "susdai_trailing_yield")
    for day, annualised in ((SECOND, second_day_sign * 365 * tolerance), (LAST, 365 * (tolerance + ONE_UNIT))):
        con.execute("""update main.susdai_trailing_yield
            set share_price_yield_by_day = explained_share_price_yield + ?
            where partition_date = ? and window_days = 1""", [annualised, day])


def test_h7_an_unexplained_return_of_exactly_the_tolerance_passes_a_unit_more_warns(warehouse, tmp_path):
    """yield_unexplained_daily_tolerance 0.005 of a day's return (annualised x 365 in the model), either way."""
    unexplain_returns_by(warehouse, Decimal("0.005"))
    assert exceptions_of(warehouse, "H7", tmp_path) == {
        ("H7", LAST, "susdai:share_price_yield", "warn", Decimal("0.005") + ONE_UNIT)}


# A home's reconciliation.toml, through ReconciliationPolicy.for_home to dbt var `reconciliation` as the pipeline's
# build passes it: one rebuild of the check models it changes, shared by the cases below.

OVERRIDES = {
    # Above every sandbox day's liquid coverage (2.5 to 3.2), the buffer left at 1.02.
    "coverage_floor": "3.5",
    "custodian_rel_tolerance": "0.000001",
    "loan_principal_rel_tolerance": "0.000001",
    "nav_rel_tolerance": "0",
    # The second day's supply.
    "supply_cap_usd": "750375",
    # Ten times the default: a step of 10^-18 beyond it is below a DOUBLE's resolution there.
    "yield_unexplained_daily_tolerance": "0.05",
}
OVERRIDDEN_MODELS = ("r3_custody_matches_ledger", "r4_liquid_reserves_cover_supply", "r5_loans_match_tapes",
                     "r6_susdai_assets_match_ledger", "h1_supply_growth_within_limits", "h7_susdai_yield_explained")


@pytest.fixture(scope="module")
def overriding_home(clean_demo, tmp_path_factory):
    """A home with the clean warehouse and a reconciliation.toml of OVERRIDES, its check models rebuilt."""
    home = tmp_path_factory.mktemp("overriding") / "home"
    home.mkdir()
    shutil.copy(clean_demo[0] / "warehouse.duckdb", home / "warehouse.duckdb")
    (home / "reconciliation.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in OVERRIDES.items()))
    assert ReconciliationPolicy.for_home(home).coverage_floor == OVERRIDES["coverage_floor"]
    rebuild_home_check_models(home, *OVERRIDDEN_MODELS)
    return home


@pytest.fixture
def overridden(overriding_home, tmp_path):
    path = tmp_path / "overridden.duckdb"
    shutil.copy(DataHome(overriding_home).warehouse, path)
    con = duckdb.connect(str(path))
    con.execute("drop table if exists recon.exceptions")
    yield con
    con.close()


def test_a_coverage_floor_raised_above_the_days_coverage_blocks_every_day_and_refuses(overridden, clean_demo,
                                                                                       tmp_path):
    rows = {row["day"]: row for row in clean_demo[1].rows}
    assert exceptions_of(overridden, "R4", tmp_path) == {
        ("R4", day, "protocol:liquid_coverage", "blocker", rows[day]["liquid_reserves"] - rows[day]["usdai_outstanding"])
        for day in DAY_LIST}
    assert_attestation_refused(overridden, LAST, "R4")


def test_a_relative_custodian_tolerance_widens_r3_to_its_share_of_the_statement(warehouse, overridden, tmp_path):
    """custodian_rel_tolerance 0.000001 of the statement's cash: 0.03 on the first day's cash (over 30,000) is above
    the 0.01 absolute but within the relative, and passes (at the defaults it blocks); exactly at it passes, a unit
    more blocks."""
    def relative(day):
        cash = overridden.execute("select cast(expected as decimal(38, 18)) from main.r3_custody_matches_ledger "
                                  "where check_date = ? and entity_key = 'custodian:cash'", [day]).fetchone()[0]
        return Decimal("0.000001") * cash

    assert relative(FIRST) >= Decimal("0.03"), "the sandbox's first day sends the custodian less: choose another shift"
    shifts = {SECOND: relative(SECOND), LAST: relative(LAST) + ONE_UNIT}
    for con in (warehouse, overridden):
        shift_ledger_cash(con, FIRST, Decimal("0.03"))
        for day, shift in shifts.items():
            shift_ledger_cash(con, day, shift)
    assert exceptions_of(overridden, "R3", tmp_path) == {
        ("R3", LAST, "custodian:cash", "blocker", -shifts[LAST])}
    assert ("R3", FIRST, "custodian:cash", "blocker", Decimal("-0.03")) in exceptions_of(warehouse, "R3", tmp_path)


def test_a_relative_principal_tolerance_widens_r5_to_its_share_of_the_chains_principal(overridden, tmp_path):
    within, principal = loan_on_tape(overridden, SECOND)
    beyond, beyond_principal = loan_on_tape(overridden, LAST)
    shift_tape_principal(overridden, SECOND, within, Decimal("0.000001") * principal)
    shift_tape_principal(overridden, LAST, beyond, Decimal("0.000001") * beyond_principal + ONE_UNIT)
    assert exceptions_of(overridden, "R5", tmp_path) == {
        ("R5", LAST, f"loan:{beyond}:principal", "blocker", -(Decimal("0.000001") * beyond_principal + ONE_UNIT))}


def test_without_a_relative_nav_tolerance_r6_holds_to_the_cent(overridden, tmp_path):
    nav = Decimal("1000000")
    set_susdai_nav(overridden, SECOND, nav, nav - Decimal("0.01"))
    set_susdai_nav(overridden, LAST, nav, nav - Decimal("0.01") - ONE_UNIT)
    assert exceptions_of(overridden, "R6", tmp_path) == {
        ("R6", LAST, "susdai:total_assets", "warn", Decimal("0.01") + ONE_UNIT)}


def test_a_supply_cap_passes_a_supply_at_it_and_blocks_one_above(overridden, tmp_path):
    """supply_cap_usd 750375, the second day's supply: the first day's (939000) blocks; the second at the cap passes
    until it is one unit above."""
    assert exceptions_of(overridden, "H1", tmp_path) == {("H1", FIRST, "usdai:supply_cap", "blocker", Decimal(188625))}
    overridden.execute("update main.usdai_supply_reconciliation set onchain_total_supply = onchain_total_supply + ? "
                       "where partition_date = ?", [ONE_UNIT, SECOND])
    assert exceptions_of(overridden, "H1", tmp_path) == {
        ("H1", FIRST, "usdai:supply_cap", "blocker", Decimal(188625)),
        ("H1", SECOND, "usdai:supply_cap", "blocker", ONE_UNIT)}
    assert_attestation_refused(overridden, SECOND, "H1")


def test_a_wider_yield_tolerance_still_breaks_one_unit_beyond_it(overridden, tmp_path):
    """yield_unexplained_daily_tolerance 0.05: the return is compared in DECIMAL, so 0.05 passes and 0.05 + 10^-18
    warns (in DOUBLE both are 0.05)."""
    unexplain_returns_by(overridden, Decimal("0.05"), second_day_sign=1)
    assert exceptions_of(overridden, "H7", tmp_path) == {
        ("H7", LAST, "susdai:share_price_yield", "warn", Decimal("0.05") + ONE_UNIT)}
