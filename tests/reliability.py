"""The reliability tally of a test session: fault scenarios survived, bad inputs tried, rows lost and
duplicates found, printed at the end of every session that ran any (`make test`, `make reliability`) and written
to $BACKED_RELIABILITY_DIR/reports/reliability/summary.json when that is set.

- A fault scenario is a test marked `@pytest.mark.fault("what happens")`: a crash, a reorganisation, a node
  failing, runs racing. It survived only when the test passed AND accounted for the rows the fault put at risk
  (through the `reliability` fixture) with none lost and none duplicated: a pass alone proves nothing about rows,
  so a scenario that accounted for none is listed as unproven, never counted as survived.
- Bad inputs are the inputs of tests marked `@pytest.mark.bad_input` (one per test run, parameters included) plus
  what fuzzing tried (`record_bad_inputs`).
- Rows lost and duplicates are what the tests that account for rows measured (a faulty run against a clean one,
  a fuzzed file's rows against what was accepted and quarantined) and reported through the `reliability` fixture
  (`reliability.compared(...)`): counted whether the test then passed or not, so that a loss shows here too.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class ReliabilityTally:
    scenarios: dict[str, str] = field(default_factory=dict)  # test id → "passed" / "failed" / "skipped"
    scenario_names: dict[str, str] = field(default_factory=dict)  # test id → the fault it puts the system through
    # test id → [row accountings, rows lost, duplicates] that the test itself reported
    accounted: dict[str, list[int]] = field(default_factory=dict)
    bad_inputs: Counter[str] = field(default_factory=Counter)  # where from → inputs tried
    comparisons: int = 0
    rows_compared: int = 0
    rows_lost: int = 0
    duplicates: int = 0

    def verdict(self, test: str) -> str:
        """survived, failed, skipped, or unproven (passed without accounting for a single row)."""
        outcome = self.scenarios[test]
        accountings, lost, duplicates = self.accounted.get(test, (0, 0, 0))
        if outcome != "passed":
            return outcome
        if lost or duplicates:
            return "failed"
        return "survived" if accountings else "unproven"

    def summary(self) -> dict:
        verdicts = {test: self.verdict(test) for test in self.scenarios}
        outcomes = Counter(verdicts.values())
        return {
            "fault_scenarios": len(self.scenarios),
            "fault_scenarios_survived": outcomes["survived"],
            "fault_scenarios_failed": [self.scenario_names[test] for test, v in verdicts.items() if v == "failed"],
            "fault_scenarios_unproven": [self.scenario_names[test] for test, v in verdicts.items() if v == "unproven"],
            "fault_scenarios_skipped": outcomes["skipped"],
            "bad_inputs_tried": sum(self.bad_inputs.values()),
            "bad_inputs_by_origin": dict(sorted(self.bad_inputs.items())),
            "row_accountings": self.comparisons,
            "rows_accounted_for": self.rows_compared,
            "rows_lost": self.rows_lost,
            "duplicates": self.duplicates,
        }


TALLY = ReliabilityTally()


def record_bad_inputs(origin: str, count: int) -> None:
    TALLY.bad_inputs[origin] += count


class Comparisons:
    """What one test found accounting for rows: how many, how many went missing, how many were counted twice."""

    def __init__(self, test: str, tally: ReliabilityTally = TALLY) -> None:
        self.test, self.tally = test, tally

    def compared(self, rows: int, lost: int, duplicates: int) -> None:
        self.tally.comparisons += 1
        self.tally.rows_compared += rows
        self.tally.rows_lost += lost
        self.tally.duplicates += duplicates
        mine = self.tally.accounted.setdefault(self.test, [0, 0, 0])
        mine[0] += 1
        mine[1] += lost
        mine[2] += duplicates

    def compare_rows(self, expected: Iterable, actual: Iterable) -> tuple[int, int]:
        """Account for `actual` against `expected` as multisets of rows: (lost, duplicated). A row in `expected` that
        `actual` lacks is lost; a row `actual` holds more often than `expected` (or at all, when `expected` has not
        got it) is a duplicate or a row that should not be there."""
        wanted, got = Counter(expected), Counter(actual)
        lost, duplicates = sum((wanted - got).values()), sum((got - wanted).values())
        self.compared(rows=sum(wanted.values()), lost=lost, duplicates=duplicates)
        return lost, duplicates


@pytest.fixture
def reliability(request) -> Comparisons:
    return Comparisons(request.node.nodeid)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "fault(description): a fault scenario of the reliability summary")
    config.addinivalue_line("markers", "bad_input: a test whose input is hostile or malformed (counted as tried)")
    config.addinivalue_line("markers", "long: minutes long; `make reliability` runs it, `make test` leaves it out")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    fault = item.get_closest_marker("fault")
    # a test's outcome is its call's, or its setup's when that failed or skipped
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if fault is not None:
            TALLY.scenarios[item.nodeid] = report.outcome
            TALLY.scenario_names[item.nodeid] = fault.args[0] if fault.args else item.name
        if item.get_closest_marker("bad_input") is not None and report.passed:
            TALLY.bad_inputs[item.module.__name__] += 1
    return report


def pytest_sessionfinish(session) -> None:
    # An xdist worker hands its tally to the controller, which prints the summary of them all.
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["reliability"] = json.dumps({
            "scenarios": TALLY.scenarios, "scenario_names": TALLY.scenario_names, "bad_inputs": TALLY.bad_inputs,
            "accounted": TALLY.accounted,
            "counts": [TALLY.comparisons, TALLY.rows_compared, TALLY.rows_lost, TALLY.duplicates]})


def pytest_testnodedown(node, error) -> None:
    worker = json.loads(getattr(node, "workeroutput", {}).get("reliability") or "null")
    if worker is None:
        return
    TALLY.scenarios.update(worker["scenarios"])
    TALLY.scenario_names.update(worker["scenario_names"])
    TALLY.accounted.update(worker["accounted"])
    TALLY.bad_inputs.update(worker["bad_inputs"])
    comparisons, rows, lost, duplicates = worker["counts"]
    TALLY.comparisons += comparisons
    TALLY.rows_compared += rows
    TALLY.rows_lost += lost
    TALLY.duplicates += duplicates


def pytest_terminal_summary(terminalreporter) -> None:
    summary = TALLY.summary()
    if not (summary["fault_scenarios"] or summary["bad_inputs_tried"] or summary["row_accountings"]):
        return
    write = terminalreporter.write_line
    terminalreporter.section("reliability")
    write(f"fault scenarios survived: {summary['fault_scenarios_survived']} of {summary['fault_scenarios']}"
          + (f" ({summary['fault_scenarios_skipped']} skipped)" if summary["fault_scenarios_skipped"] else ""))
    for name in summary["fault_scenarios_failed"]:
        write(f"  FAILED: {name}")
    for name in summary["fault_scenarios_unproven"]:
        write(f"  UNPROVEN (passed without accounting for its rows): {name}")
    origins = ", ".join(f"{origin} {count}" for origin, count in summary["bad_inputs_by_origin"].items())
    write(f"bad inputs tried: {summary['bad_inputs_tried']}" + (f" ({origins})" if origins else ""))
    compared = f" (of {summary['rows_accounted_for']:,} rows accounted for in {summary['row_accountings']} checks)"
    write(f"rows lost: {summary['rows_lost']}{compared}")
    write(f"duplicates: {summary['duplicates']}")
    if os.environ.get("BACKED_RELIABILITY_DIR"):
        path = Path(os.environ["BACKED_RELIABILITY_DIR"]) / "reports" / "reliability" / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2) + "\n")
        write(f"written to {path}")
