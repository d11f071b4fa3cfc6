"""Resources: where the data lives, which chain to read, and dbt."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg


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
