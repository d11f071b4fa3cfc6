"""The registry of sources (`assets/sources.py`) is the one place intake, `backed ingest`, the jobs and the Definitions
learn the sources from: every lake table belongs to exactly one source (or to the inbox), and a fifth source is its
own package plus one line in the registry."""
from datetime import date
from pathlib import Path

from click.testing import CliRunner

import assets.sources as registry
from assets.inbox.assets import INBOX_GROUP, INBOX_TABLES, inbox_receipts
from assets.inbox.intake import take_in_inbox
from assets.inbox.register import ROUTED, Recognition
from assets.source import SIGNATURE, FileRecogniser, Source
from foundation.lake import SCHEMAS, Lake
from orchestration.cli import main as backed
from orchestration.definitions import build_definitions

DAY = date(2026, 1, 5)


def test_every_lake_table_belongs_to_one_source_or_to_the_inbox():
    owners = [table for source in registry.SOURCES for table in source.lake_tables] + list(INBOX_TABLES)
    assert sorted(owners) == sorted(SCHEMAS)


def test_the_definitions_hold_every_sources_assets_in_its_group(tmp_path):
    graph = build_definitions(tmp_path).resolve_asset_graph()
    for source in registry.SOURCES:
        for asset in source.assets:
            for key in asset.keys:
                assert graph.get(key).group_name == source.group, (source.name, key)
    assert graph.get(inbox_receipts.key).group_name == INBOX_GROUP


def meter_source(ingested: list) -> Source:
    """A fifth source, as its own package would declare it: power meter readings, one CSV per day."""

    def recognise(path: Path, name: str) -> Recognition:
        day = date.fromisoformat(path.read_text().splitlines()[1].split(",")[0])
        return Recognition("meter_readings", "meter_csv", "meters-inc", day)

    def ingest_day(day, lake):
        ingested.append(day)
        return []

    return Source(name="meter_readings", group="meters", description="Power meter readings of the GPU halls.",
                  lake_tables=(), assets=(),
                  recognisers=(FileRecogniser("meter_csv", SIGNATURE,
                                              claim=lambda head: float(head.text.startswith("METER,")),
                                              recognise=recognise),),
                  ingest_day=ingest_day)


def test_a_fifth_source_is_one_line_in_the_registry(tmp_path, monkeypatch):
    ingested: list[date] = []
    monkeypatch.setattr(registry, "SOURCES", (*registry.SOURCES, meter_source(ingested)))
    lake = Lake(tmp_path / "home")
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "hall-a.csv").write_text(f"METER,kwh\n{DAY.isoformat()},1250\n")
    (result,) = take_in_inbox(lake)
    assert (result.status, result.source, result.partition) == (ROUTED, "meter_readings", DAY)

    elsewhere = tmp_path / "hall-b.csv"
    elsewhere.write_text(f"METER,kwh\n{DAY.isoformat()},1300\n")
    printed = CliRunner().invoke(backed, ["--home", str(lake.home), "ingest", str(elsewhere)])
    assert printed.exit_code == 0, printed.output
    assert ingested == [DAY]


def test_without_its_registry_line_the_fifth_sources_file_is_refused(tmp_path):
    lake = Lake(tmp_path / "home")
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "hall-a.csv").write_text(f"METER,kwh\n{DAY.isoformat()},1250\n")
    (result,) = take_in_inbox(lake)
    assert result.recognition.problem == "unrecognised_content"

