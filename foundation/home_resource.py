"""The data home as a Dagster resource: what assets and checks are given to find it. Apart from foundation/home.py,
which the command line imports without loading Dagster."""
from __future__ import annotations

from pathlib import Path

import dagster as dg

from foundation.home import DataHome


class BackedHome(dg.ConfigurableResource):
    """The data home as a Dagster resource."""

    home: str

    @property
    def paths(self) -> DataHome:
        return DataHome(Path(self.home))
