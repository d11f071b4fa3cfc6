"""Tolerances and thresholds of the reconciliation checks: the defaults of dbt var `reconciliation`, overridden per
deployment.

The defaults are defined once, in dbt_project/dbt_project.yml, where the check models read them. A deployment states
its own in `BACKED_HOME/reconciliation.toml` (flat keys, the setting names); the pipeline passes the whole mapping to
dbt (assets/ledger.py), and the attestation reads the same values here. Every cross-source comparison uses an
absolute and a relative tolerance, and a break is a difference above both. Values are strings: they are parsed as
exact decimals by DuckDB, never floats.
"""
from __future__ import annotations

import difflib
import tomllib
from dataclasses import field, fields, make_dataclass, replace
from pathlib import Path

import yaml

from foundation.home import DataHome

DBT_PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"
DBT_VAR = "reconciliation"


def default_settings() -> dict[str, str]:
    """The defaults of dbt var `reconciliation`, in the order dbt_project.yml states them."""
    with DBT_PROJECT_FILE.open(encoding="utf-8") as f:
        settings = yaml.safe_load(f)["vars"][DBT_VAR]
    not_text = sorted(name for name, value in settings.items() if not isinstance(value, str))
    if not_text:
        # Unquoted YAML numbers are floats: 1.10 would arrive as "1.1" at best.
        raise ValueError(f"{DBT_PROJECT_FILE}: vars.{DBT_VAR} settings must be quoted decimal strings: "
                         f"{', '.join(not_text)}")
    return settings


def _for_home(cls, home: DataHome | Path):
    """The home's policy: the defaults with the overrides of `BACKED_HOME/reconciliation.toml`, if any."""
    path = DataHome.of(home).reconciliation_policy
    if not path.exists():
        return cls()
    with path.open("rb") as f:
        overrides = tomllib.load(f)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        named = [name + "".join(f" (did you mean {close}?)" for close in difflib.get_close_matches(name, known, n=1))
                 for name in unknown]
        raise ValueError(f"{path}: unknown settings {', '.join(named)}; the settings are {', '.join(sorted(known))}")
    return replace(cls(), **{k: str(v) for k, v in overrides.items()})


def _as_dbt_var(self) -> dict[str, str]:
    """Every setting, as the value of dbt var `reconciliation` (dbt replaces a mapping var whole, never merges)."""
    return {f.name: getattr(self, f.name) for f in fields(self)}


ReconciliationPolicy = make_dataclass(
    "ReconciliationPolicy",
    [(name, str, field(default=value)) for name, value in default_settings().items()],
    frozen=True,
    namespace={"for_home": classmethod(_for_home), "as_dbt_var": _as_dbt_var, "__module__": __name__,
               "__doc__": "The reconciliation settings of a deployment, one attribute per setting of dbt var "
                          "`reconciliation` (e.g. `coverage_floor`), each an exact decimal string."},
)
