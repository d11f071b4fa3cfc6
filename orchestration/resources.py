"""The resources every run of the code location gets: the data home, the chain profile, dbt."""
from __future__ import annotations

from pathlib import Path

from assets.chain.resource import ChainSource
from assets.ledger import warehouse_dbt
from foundation.home_resource import BackedHome


def backed_resources(home: Path, profile: str) -> dict:
    return {
        "backed_home": BackedHome(home=str(home)),
        "chain": ChainSource(profile=profile, home=str(home)),
        "dbt": warehouse_dbt(),
    }
