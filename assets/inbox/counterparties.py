"""Who sends us files: lenders' tape layouts and custodians' identifiers (`counterparties.toml` beside this module).

`BACKED_COUNTERPARTIES` names another file, for a deployment whose lenders and custodians differ.
"""
from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path

COUNTERPARTIES_FILE = Path(__file__).with_name("counterparties.toml")


@cache
def _counterparties_at(path: Path, modified_ns: int) -> dict:
    with path.open("rb") as stream:
        return tomllib.load(stream)


def counterparties_path() -> Path:
    """The counterparties file in use: BACKED_COUNTERPARTIES, else the one beside this module."""
    return Path(os.environ.get("BACKED_COUNTERPARTIES", COUNTERPARTIES_FILE))


def counterparties() -> dict:
    """The counterparties file, read again when it changes."""
    path = counterparties_path()
    return _counterparties_at(path, path.stat().st_mtime_ns)
