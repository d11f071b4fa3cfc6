"""How a run executes its steps: the executor of the Definitions, from the environment.

By default every run's steps (the schedule's, the inbox sensor's, a backfill's) run one after another in the run's
own process. Dagster's default starts a process per step, each loading the code location (about 3 s) before its
work: a day's run is some 60 steps, most of them short checks, and the steps that write the warehouse wait for one
another anyway (one DuckDB writer, the warehouse pool). One day of a 3-day home through `inbox_ingestion` as the
sensor launches it: 9 min with a process per step, 25 s in one.

A deployment whose run workers are large machines, or whose steps run elsewhere (a Kubernetes or Celery executor
of a Dagster integration installed beside the project), says so in BACKED_DAGSTER_EXECUTOR (docs/deployment.md).
"""
from __future__ import annotations

import importlib
import os

import dagster as dg

EXECUTOR_ENV = "BACKED_DAGSTER_EXECUTOR"
MAX_STEPS_ENV = "BACKED_DAGSTER_MAX_CONCURRENT_STEPS"


class ExecutorMisconfigured(ValueError):
    """BACKED_DAGSTER_EXECUTOR or its step limit does not name an executor."""


def run_executor() -> dg.ExecutorDefinition:
    """`in_process` (the default), `multiprocess` (a process per step, BACKED_DAGSTER_MAX_CONCURRENT_STEPS at once,
    default the machine's cores), or `module:attribute` naming an executor definition."""
    named = os.environ.get(EXECUTOR_ENV, "").strip() or "in_process"
    if named == "in_process":
        return dg.in_process_executor
    if named == "multiprocess":
        limit = os.environ.get(MAX_STEPS_ENV, "").strip()
        if not limit:
            return dg.multiprocess_executor
        if not limit.isdigit() or int(limit) < 1:
            raise ExecutorMisconfigured(f"{MAX_STEPS_ENV}={limit!r}: how many steps of a run may run at once, a "
                                        "whole number of 1 or more")
        return dg.multiprocess_executor.configured({"max_concurrent": int(limit)}, name="multiprocess_executor")
    module, _, attribute = named.partition(":")
    if not (module and attribute):
        raise ExecutorMisconfigured(f"{EXECUTOR_ENV}={named!r}: in_process, multiprocess, or module:attribute "
                                    "naming a Dagster executor (e.g. dagster_k8s:k8s_job_executor)")
    try:
        executor = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise ExecutorMisconfigured(f"{EXECUTOR_ENV}={named!r} cannot be loaded ({error}): install the package "
                                    "that defines it beside the project, or unset the variable") from None
    if not isinstance(executor, dg.ExecutorDefinition):
        raise ExecutorMisconfigured(f"{EXECUTOR_ENV}={named!r} is a {type(executor).__name__}, not a Dagster "
                                    "executor definition")
    return executor
