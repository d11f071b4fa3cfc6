"""The reliability tally of a test session: fault scenarios survived, bad inputs tried, rows lost and
duplicates found, printed at the end of every session that ran any (`make test`, `make reliability`) and written
to $BACKED_RELIABILITY_DIR/reports/reliability/summary.json when that is set.

- A fault scenario is a test marked `@pytest.mark.fault("what happens")`: a crash, a reorganisation, a node
  failing, runs racing. It survived when the test passed.
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
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class ReliabilityTally:
    scenarios: dict[str, str] = field(default_factory=dict)  # test id → "passed" / "failed" / "skipped"
    scenario_names: dict[str, str] = field(default_factory=dict)  # test id → the fault it puts the system through
    bad_inputs: Counter[str] = field(default_factory=Counter)  # where from → inputs tried
    comparisons: int = 0
    rows_compared: int = 0
    rows_lost: int = 0
    duplicates: int = 0

    def summary(self) -> dict:
        outcomes = Counter(self.scenarios.values())
        return {
            "fault_scenarios": len(self.scenarios),
            "fault_scenarios_survived": outcomes["passed"],
            "fault_scenarios_failed": [self.scenario_names[test] for test, outcome in self.scenarios.items()
                                       if outcome == "failed"],
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

    def compared(self, rows: int, lost: int, duplicates: int) -> None:
        TALLY.comparisons += 1
        TALLY.rows_compared += rows
        TALLY.rows_lost += lost
        TALLY.duplicates += duplicates


@pytest.fixture
def reliability() -> Comparisons:
    return Comparisons()


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
            "counts": [TALLY.comparisons, TALLY.rows_compared, TALLY.rows_lost, TALLY.duplicates]})


def pytest_testnodedown(node, error) -> None:
    worker = json.loads(getattr(node, "workeroutput", {}).get("reliability") or "null")
    if worker is None:
        return
    TALLY.scenarios.update(worker["scenarios"])
    TALLY.scenario_names.update(worker["scenario_names"])
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
