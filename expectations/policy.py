"""Tolerances and thresholds of the reconciliation checks: defaults here, overridden per deployment.

A deployment states its own in `BACKED_HOME/reconciliation.toml` (flat keys, the field names below); every
cross-source comparison uses an absolute and a relative tolerance, and a break is a difference above both.
Values are strings: they are parsed as exact decimals by DuckDB, never floats.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from foundation.home import DataHome

@dataclass(frozen=True)
class ReconciliationPolicy:
    # R1: integers in token units; any difference is a break.
    supply_abs_tolerance: str = "0"
    # R2: the public monitor alerts on a shortfall of 100 USDai or more; balances by token must agree exactly.
    backing_shortfall_tolerance: str = "100"
    stablecoin_abs_tolerance: str = "0"
    # R3: custodian cash and T-bills against the ledger (statement values are in cents).
    custodian_abs_tolerance: str = "0.01"
    custodian_rel_tolerance: str = "0"
    # R4: below the floor a blocker, below the buffer a warning.
    coverage_floor: str = "1.0"
    coverage_buffer: str = "1.02"
    # R5: tape principal against loanState().scaledBalance.
    loan_principal_abs_tolerance: str = "0.01"
    loan_principal_rel_tolerance: str = "0"
    # R6: sUSDai totalAssets() against ledger 2100.
    nav_abs_tolerance: str = "0.01"
    nav_rel_tolerance: str = "0.0001"
    # R7: collateral GPUs of performing loans must report most of the day with few XID errors.
    gpu_min_online_minutes: str = "1200"
    gpu_max_xid_error_samples: str = "5"
    # Hygiene: supply growth and cap as the public monitor watches them; volume drops; stale cut-offs.
    supply_daily_rise_limit: str = "0.05"
    supply_cap_usd: str = ""
    volume_drop_limit: str = "0.5"
    volume_min_previous_rows: str = "10"
    max_cutoff_lag_minutes: str = "120"

    @classmethod
    def for_home(cls, home: DataHome | Path) -> "ReconciliationPolicy":
        path = DataHome.of(home).reconciliation_policy
        if not path.exists():
            return cls()
        with path.open("rb") as f:
            overrides = tomllib.load(f)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"{path}: unknown settings {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return replace(cls(), **{k: str(v) for k, v in overrides.items()})

    def as_params(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
