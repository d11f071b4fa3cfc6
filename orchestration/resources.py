"""Resources: where the data lives, which chain to read, and dbt."""
from __future__ import annotations

import importlib.metadata
import os
import sys
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version


def default_home() -> Path:
    """BACKED_HOME, default ./.backed, always absolute (dbt's profile reads it from the environment)."""
    return Path(os.environ.get("BACKED_HOME", ".backed")).resolve()


class BackedHome(dg.ConfigurableResource):
    """The data home: lake/, inbox/, quarantine/, warehouse.duckdb, reports/."""

    home: str

    @property
    def root(self) -> Path:
        return Path(self.home)

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def lake(self):
        from assets.lake import Lake

        return Lake(self.root)


class ChainSource(dg.ConfigurableResource):
    """The chain profile (`sandbox` or `arbitrum`); the RPC URL comes from the profile or BACKED_RPC_URL, never from config."""

    profile: str = "sandbox"
    home: str

    def load(self):
        from assets.chain.profiles import load_profile, rpc_client

        profile = load_profile(self.profile, Path(self.home))
        return profile, rpc_client(profile)


class WarehouseDbt(DbtCliResource):
    """dagster-dbt's dbt CLI without the two probes it makes before every invocation: `dbt --version` in a
    subprocess and a dbt adapter loaded in this process (2.8 s and 2.1 s of every ledger run on this machine,
    a fifth of a day's dbt step). The executable is this venv's dbt, so its version is the installed dbt-core's;
    the adapter only serves `fetch_row_counts` / `fetch_column_metadata`, which this project does not call, and
    dagster-dbt runs without one when loading it fails."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def warehouse_dbt(project_dir) -> WarehouseDbt:
    """The venv's dbt, whether or not the venv is on PATH."""
    return WarehouseDbt(project_dir=project_dir, dbt_executable=str(Path(sys.prefix) / "bin" / "dbt"))
