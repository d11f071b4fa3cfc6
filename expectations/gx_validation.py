"""Great Expectations 1.x, run in-process: an ephemeral context with analytics off (dagster-ge doesn't support 1.x).

The reconciliation SQL computes each comparison exactly in DECIMAL and states per row whether it is within
tolerance; GX validates the rows (keys present, every comparison within tolerance) and its result, not a float
comparison, decides whether the check passes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402


@dataclass(frozen=True)
class SuiteOutcome:
    success: bool
    evaluated_expectations: int
    failed_expectations: list[str]
    failing_row_indexes: list[int]


@lru_cache(maxsize=1)
def _context():
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_reconciliation_rows(suite_name: str, rows: pd.DataFrame, key_columns: list[str]) -> SuiteOutcome:
    """Validate a check's evaluation rows: keys not null, `within_tolerance` all true."""
    context = _context()
    source_name = f"recon_{suite_name}"
    try:
        source = context.data_sources.get(source_name)
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas(source_name)
    try:
        asset = source.get_asset(suite_name)
    except (LookupError, ValueError):
        asset = source.add_dataframe_asset(suite_name)
    try:
        batch_definition = asset.get_batch_definition("evaluation")
    except (KeyError, ValueError):
        batch_definition = asset.add_batch_definition_whole_dataframe("evaluation")
    try:
        suite = context.suites.get(suite_name)
    except Exception:
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for column in key_columns:
            suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="within_tolerance", value_set=[True]))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": rows})
    result = batch.validate(suite, result_format="COMPLETE")
    failed = [r.expectation_config.type for r in result.results if not r.success]
    failing_rows: set[int] = set()
    for r in result.results:
        if not r.success:
            failing_rows.update(r.result.get("unexpected_index_list") or [])
    return SuiteOutcome(
        success=bool(result.success),
        evaluated_expectations=len(result.results),
        failed_expectations=failed,
        failing_row_indexes=sorted(failing_rows),
    )
