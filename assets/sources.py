"""The registry of the lake's sources. Intake asks it how files are recognised, `backed ingest` how a day is read,
the jobs and the Definitions for the assets and their groups, the docs' tests for the lake tables.

A fifth source is a package of its own (its reader and its `Source`) and one line here.
"""
from __future__ import annotations

from assets.chain.assets import SOURCE as CHAIN
from assets.custodian.assets import SOURCE as CUSTODIAN
from assets.loan_tapes.assets import SOURCE as LOAN_TAPES
from assets.source import DerivedTable, FileRecogniser, Source
from assets.telemetry.assets import SOURCE as TELEMETRY
from assets.telemetry.scrapes import join_collateral_telemetry

# In the order intake asks them when two formats claim a file equally (loan tapes before custodian statements).
SOURCES: tuple[Source, ...] = (CHAIN, LOAN_TAPES, TELEMETRY, CUSTODIAN)

DERIVED_TABLES: tuple[DerivedTable, ...] = (
    DerivedTable("collateral_gpu_daily", from_sources=(LOAN_TAPES.name, TELEMETRY.name),
                 build_day=join_collateral_telemetry),
)


def source(name: str) -> Source:
    for candidate in SOURCES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no source {name!r}; the sources are {', '.join(s.name for s in SOURCES)}")


def file_recognisers() -> tuple[FileRecogniser, ...]:
    """Every file format of every source that comes through the inbox, in registry order."""
    return tuple(recogniser for s in SOURCES for recogniser in s.recognisers)


def inbox_sources() -> tuple[Source, ...]:
    """The sources whose files come through the inbox."""
    return tuple(s for s in SOURCES if s.recognisers)
