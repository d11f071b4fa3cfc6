"""The reliability summary counts a fault scenario as survived from what its test accounted for, never from a pass
alone (tests/reliability.py)."""
from reliability import ReliabilityTally


def tally_of(outcome: str, accounted: list[int] | None) -> ReliabilityTally:
    tally = ReliabilityTally(scenarios={"t": outcome}, scenario_names={"t": "a fault"})
    if accounted is not None:
        tally.accounted["t"] = accounted
    return tally


def test_a_scenario_survives_only_when_it_passed_and_accounted_for_its_rows_with_nothing_lost():
    assert tally_of("passed", [1, 0, 0]).summary()["fault_scenarios_survived"] == 1
    unproven = tally_of("passed", None).summary()
    assert unproven["fault_scenarios_survived"] == 0 and unproven["fault_scenarios_unproven"] == ["a fault"]
    for accounted in ([1, 1, 0], [2, 0, 3]):
        lossy = tally_of("passed", accounted).summary()
        assert lossy["fault_scenarios_survived"] == 0 and lossy["fault_scenarios_failed"] == ["a fault"]
    assert tally_of("failed", [1, 0, 0]).summary()["fault_scenarios_failed"] == ["a fault"]
    assert tally_of("skipped", None).summary()["fault_scenarios_skipped"] == 1


def test_rows_are_compared_as_multisets():
    from reliability import Comparisons

    tally = ReliabilityTally()
    comparisons = Comparisons("t", tally)
    assert comparisons.compare_rows([("a", 1), ("a", 1), ("b", 2)], [("a", 1), ("b", 2), ("b", 2), ("c", 3)]) == (1, 2)
    assert tally.accounted["t"] == [1, 1, 2]
    assert (tally.comparisons, tally.rows_compared, tally.rows_lost, tally.duplicates) == (1, 3, 1, 2)
