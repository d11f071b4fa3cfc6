"""Great Expectations 1.x, run in-process: an ephemeral context with analytics off (dagster-ge doesn't support 1.x).

A check's dbt model computes each comparison exactly in DECIMAL and states per row whether it is within
tolerance; GX validates the rows (keys present, every comparison within tolerance) and its result, not a float
comparison, decides whether the check passes. Each validation also writes its page of the Data Docs site under
`reports/data_docs/`, linked from the Dagster check's metadata. Only its page: rebuilding the site's index at every
validation cost three times the validation itself (docs/performance.md), and the index of an in-memory store lists
only the validations of one process.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

DOCS_SITE = "backed"


@dataclass(frozen=True)
class SuiteOutcome:
    success: bool
    evaluated_expectations: int
    failed_expectations: list[str]
    failing_row_indexes: list[int]
    docs_url: str | None


@lru_cache(maxsize=8)
def _context(docs_dir: str | None):
    # Imported here, not with the module: GX takes seconds to import, and every process that loads the
    # Definitions (the CLI, each run's subprocess) imports this module without validating anything.
    import great_expectations as gx
    from great_expectations.data_context.types.base import (DataContextConfig, InMemoryStoreBackendDefaults,
                                                            ProgressBarsConfig)

    # In memory, as GX's own ephemeral default, with its usage statistics off: nothing leaves the machine.
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=True), analytics_enabled=False))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir:
        context.add_data_docs_site(site_name=DOCS_SITE, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    return context


def _checkpoint(context, suite_name: str, key_columns: list[str]):
    import great_expectations as gx

    try:
        return context.checkpoints.get(suite_name)
    except Exception:  # noqa: BLE001 - GX raises several types for "not found"
        pass
    source = context.data_sources.add_pandas(f"recon_{suite_name}")
    batch_definition = source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("evaluation")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for column in key_columns:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="within_tolerance", value_set=[True]))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite))
    return context.checkpoints.add(gx.Checkpoint(name=suite_name, validation_definitions=[validation],
                                                 result_format="COMPLETE"))


def validate_reconciliation_rows(suite_name: str, rows: pd.DataFrame, key_columns: list[str],
                                 docs_dir: Path | None = None) -> SuiteOutcome:
    """Validate a check's evaluation rows: keys not null, `within_tolerance` all true."""
    context = _context(str(docs_dir) if docs_dir else None)
    checkpoint = _checkpoint(context, suite_name, key_columns)
    run = checkpoint.run(batch_parameters={"dataframe": rows})
    (identifier, result), = run.run_results.items()
    failed = [r.expectation_config.type for r in result.results if not r.success]
    failing_rows: set[int] = set()
    for r in result.results:
        if not r.success:
            failing_rows.update(r.result.get("unexpected_index_list") or [])
    docs_url = None
    if docs_dir is not None:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[identifier], build_index=False)
        urls = context.get_docs_sites_urls(resource_identifier=identifier, site_names=[DOCS_SITE])
        docs_url = urls[0]["site_url"] if urls else None
    return SuiteOutcome(
        success=bool(result.success),
        evaluated_expectations=len(result.results),
        failed_expectations=failed,
        failing_row_indexes=sorted(failing_rows),
        docs_url=docs_url,
    )
