"""A lake file found changed after it was written (foundation/lake.py records each file's sha256) is put back before
the warehouse reads the lake: the day of an off-chain source is ingested again from its archived input files, a chain
partition an attestation read is restored from its archived copy (the same bytes, by their sha256). What cannot be put
back here (a chain day no attestation archived, the inbox's register) stops the build naming the file and the command
that re-ingests it; nothing is read from a changed file."""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from assets.attestation.records import archived_chain_partition
from assets.sources import DERIVED_TABLES, SOURCES
from foundation.lake import Lake, LakeFileCorrupted, digest_path, file_sha256, write_bytes_atomically


@dataclass(frozen=True)
class Repair:
    table: str
    day: date
    how: str  # what put it back


class LakeNotRepairable(RuntimeError):
    """Changed lake files that cannot be put back here; the message names them and what to run."""


def _partition(corrupted: LakeFileCorrupted) -> tuple[str, date]:
    return corrupted.path.parent.parent.name, date.fromisoformat(corrupted.path.parent.name.removeprefix("date="))


def _restore_archived_chain_partition(lake: Lake, table: str, day: date, recorded: str) -> bool:
    archived = archived_chain_partition(lake.home, table, day.isoformat(), recorded)
    if not archived.exists() or file_sha256(archived) != recorded:
        return False
    write_bytes_atomically(lake.partition_path(table, day), archived.read_bytes())
    write_bytes_atomically(digest_path(lake.partition_path(table, day)), recorded.encode())
    return True


def repair_corrupted_partitions(lake: Lake, say: Callable[[str], None] = lambda line: None) -> list[Repair]:
    """Put back every changed lake partition that can be (see the module); raises LakeNotRepairable naming the
    others. Returns what was put back."""
    corrupted = lake.corrupted_partitions()
    if not corrupted:
        return []
    repairs: list[Repair] = []
    owners = {table: source for source in SOURCES for table in source.lake_tables}
    reingest: dict[date, set[str]] = {}  # day → sources to ingest again
    unrepairable: list[str] = []
    for found in corrupted:
        table, day = _partition(found)
        say(str(found))
        source = owners.get(table)
        if table == "input_files":  # every source of the day writes its part of the day's manifest
            reingest.setdefault(day, set()).update(s.name for s in SOURCES if s.ingest_day is not None)
        elif source is not None and source.ingest_day is not None:
            reingest.setdefault(day, set()).add(source.name)
        elif source is not None and _restore_archived_chain_partition(lake, table, day, found.recorded):
            repairs.append(Repair(table, day, "restored from the copy archived when the day was attested"))
        elif source is not None:
            unrepairable.append(f"{found.path} (ingest the day again: `backed backfill --from {day} --to {day} "
                                f"--select 'group:{source.group}'`)")
        else:
            unrepairable.append(f"{found.path} (the inbox's register: restore it from a backup of the data home)")
    for day, names in sorted(reingest.items()):
        for source in SOURCES:
            if source.name in names:
                source.ingest_day(day, lake)
                repairs.append(Repair(source.name, day, "ingested again from its archived input files"))
        for derived in DERIVED_TABLES:
            if names & set(derived.from_sources):
                derived.build_day(day, lake)
    still = [str(found.path) for found in lake.corrupted_partitions()
             if not any(str(found.path) in line for line in unrepairable)]
    if unrepairable or still:
        raise LakeNotRepairable("lake files changed after they were written, not read: "
                                + "; ".join(unrepairable + [f"{path} (still changed after ingesting its day again)"
                                                            for path in still]))
    return repairs


