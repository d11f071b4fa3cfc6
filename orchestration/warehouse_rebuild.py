"""A warehouse that cannot be opened any more (a damaged file, a disk that failed) is built again from what the
data home keeps outside it (`backed warehouse rebuild`):
- the journal, which is append-only and cannot be derived again from the lake alone (its reversals and revisions
  record what was posted and when), from the last published snapshot's Parquet file, once its sha256 is the one
  the snapshot's manifest names; without a snapshot the journal is posted afresh from the lake;
- the exceptions and people's decisions on them (acknowledged, resolved) from the same snapshot;
- everything else from the lake by the ledger's build over every day the lake holds, whose checks then compare
  the journal with what every attestation recorded (R11).
The unreadable file is kept beside the new one, renamed, for whoever investigates it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb

from assets.inbox.register import sha256_of
from foundation.home import DataHome
from foundation.lake import Lake

@dataclass(frozen=True)
class Rebuilt:
    first: date
    last: date
    kept_as: str | None  # where the damaged file was put
    journal_lines_restored: int | None  # from the snapshot; None without one
    journal_lines: int
    exceptions_restored: int | None


def rebuild_warehouse(home: DataHome, say: Callable[[str], None], now: datetime | None = None) -> Rebuilt:
    from expectations.exceptions import TABLE as EXCEPTIONS
    from expectations.exceptions import ensure_table
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for
    from orchestration.pipeline import QUIET_RUN_CONFIG, publish_snapshot_here, range_tags, step_crashes

    days = Lake(home).partition_days("chain_days")
    if not days:
        raise RuntimeError(f"the lake in {home.lake} holds no ingested day: there is nothing to rebuild from")
    journal, exceptions = _snapshot_files(home)
    kept_as = None
    if home.warehouse.exists():
        stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        for path in home.warehouse_files:
            if path.exists():
                path.replace(path.with_name(f"{path.name}.unreadable-{stamp}"))
        kept_as = str(home.warehouse.with_name(f"{home.warehouse.name}.unreadable-{stamp}"))
        say(f"the damaged warehouse is kept as {kept_as}")
    restored_lines = restored_exceptions = None
    with duckdb.connect(str(home.warehouse)) as con:
        if journal is not None:
            con.execute("create table main.journal_lines as select * from read_parquet(?)", [str(journal)])
            restored_lines = con.execute("select count(*) from main.journal_lines").fetchone()[0]
            say(f"journal: {restored_lines} lines restored from the snapshot published {_published_at(home)}")
        else:
            say("no published snapshot: the journal is posted afresh from the lake (its earlier reversals and "
                "revisions cannot be recovered)")
        ensure_table(con)
        if exceptions is not None:
            con.execute(f"insert into {EXCEPTIONS} by name select * from read_parquet(?)", [str(exceptions)])
            restored_exceptions = con.execute(f"select count(*) from {EXCEPTIONS}").fetchone()[0]
    defs = build_definitions(home.root)
    instance = instance_for(home)
    say(f"building the ledger of {days[0]} .. {days[-1]} from the lake")
    seeds = defs.resolve_job_def("reference_data").execute_in_process(instance=instance, run_config=QUIET_RUN_CONFIG,
                                                                      raise_on_error=False)
    if not seeds.success:
        raise RuntimeError("loading the dbt seeds failed: " + "; ".join(step_crashes(seeds)[:3]))
    run = defs.resolve_job_def("ledger").execute_in_process(
        instance=instance, tags=range_tags(days[0], days[-1]), run_config=QUIET_RUN_CONFIG, raise_on_error=False)
    crashes = step_crashes(run)
    if crashes:
        raise RuntimeError("the ledger's build failed:\n" + "\n".join(crashes[:5]))
    publish_snapshot_here(defs, instance)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        lines = con.execute("select count(*) from main.journal_lines").fetchone()[0]
    return Rebuilt(days[0], days[-1], kept_as, restored_lines, lines, restored_exceptions)


def _snapshot_files(home: DataHome):
    """The snapshot's journal and exceptions Parquet files, once each is the file its manifest names; (None, None)
    without a snapshot. A file that is not the one named is refused: restoring it would post what nobody checked."""
    from assets.snapshot import SnapshotUnavailable, read_manifest

    try:
        manifest = read_manifest(home)
    except SnapshotUnavailable:
        return None, None
    found = []
    for name in ("journal_lines", "exceptions"):
        path = home.snapshot_parquet / f"{name}.parquet"
        if not path.exists() or sha256_of(path) != manifest["tables"][name]["parquet_sha256"]:
            raise RuntimeError(f"{path} is not the file the snapshot's manifest names: the journal cannot be "
                               "restored from it; restore the data home's snapshot/ folder from a backup")
        found.append(path)
    return tuple(found)


def _published_at(home: DataHome) -> str:
    from assets.snapshot import read_manifest

    manifest = read_manifest(home)
    return f"{manifest['published_at']} (ledger through {manifest['ledger_through']})"
