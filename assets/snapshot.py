"""The read-only snapshot of the marts people query, published after each run for SQL clients, BI tools and
notebooks (docs/guides.md, "Reading the ledger").

DuckDB lets one process write a database file, and a reader holding `warehouse.duckdb` open stops the next run
from writing it. Readers are given a copy instead, under `snapshot/` in the data home:

```
snapshot/ledger.duckdb          every published table, one DuckDB file (open it read-only)
snapshot/parquet/<table>.parquet  the same tables as Parquet (a link to the version folder below)
snapshot/manifest.json          what was published: when, through which ledger day and chain hash, rows and sha256
snapshot/versions/<id>/         the Parquet files and manifest of the last few publications
```

A publication writes everything new under other names, then renames it into place: `ledger.duckdb` by one
`rename`, the Parquet folder by replacing one link. A reader sees the old snapshot or the new one, never a mix, and a
connection held open on the old file (read-only or read-write) keeps reading the old one and blocks nothing: the
pipeline never opens the snapshot. What a reader writes into the snapshot is lost at the next publication.
"""

import contextlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb

from assets.inbox.register import sha256_of
from foundation.home import DataHome
from foundation.home_resource import BackedHome
from foundation.lake import write_bytes_atomically
from foundation.pools import WAREHOUSE_POOL
from foundation.warehouse import quoted_path

# table in the snapshot → (relation in the warehouse, its order: the key, or every column when it has none)
PUBLISHED_TABLES: dict[str, tuple[str, str]] = {
    "journal_lines": ("main.journal_lines", "partition_date, entry_id, line_no"),
    "journal_day_hashes": ("main.journal_day_hashes", "partition_date"),
    "trial_balance": ("main.trial_balance", "partition_date, account_code"),
    "balance_sheet": ("main.balance_sheet", "all"),
    "income_statement": ("main.income_statement", "partition_date, account_code"),
    "loan_positions": ("main.loan_positions", "partition_date, loan_terms_hash"),
    "reserve_coverage": ("main.reserve_coverage", "partition_date"),
    "exceptions": ("recon.exceptions", "check_date, exception_id"),
}
# Columns never published: a borrower's name stays in the audit trail, which masks it unless asked.
WITHHELD_COLUMNS = ("borrower_name",)
# Parquet versions kept beside the current one, for readers still reading an earlier publication.
VERSIONS_KEPT = 2


class SnapshotUnavailable(RuntimeError):
    """There is nothing to publish yet, or no snapshot to read."""


@dataclass(frozen=True)
class PublishedSnapshot:
    snapshot_id: str
    published_at: str
    ledger_through: str | None
    chain_hash: str | None
    rows: dict[str, int]

    def manifest(self, parquet_sha256: dict[str, str]) -> dict:
        return {"snapshot_id": self.snapshot_id, "published_at": self.published_at,
                "ledger_through": self.ledger_through, "chain_hash": self.chain_hash,
                "tables": {name: {"rows": self.rows[name], "parquet_sha256": parquet_sha256[name]}
                           for name in self.rows}}


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _published_columns(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    columns = [row[0] for row in con.execute(f"select * from {relation} limit 0").description]
    kept = [column for column in columns if column not in WITHHELD_COLUMNS]
    return ", ".join(f'"{column}"' for column in kept)


def publish_snapshot(home: DataHome, snapshot_id: str | None = None,
                     now: datetime | None = None) -> PublishedSnapshot:
    """Copy the published tables from the warehouse into a new snapshot and put it in place (see the module)."""
    if not home.warehouse.exists():
        raise SnapshotUnavailable(f"no warehouse in {home.root} to publish a snapshot from: run the pipeline first")
    snapshot_id = snapshot_id or uuid.uuid4().hex
    published_at = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    home.snapshot.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_publications(home)
    version = home.snapshot_versions / f"{published_at.replace(':', '')}-{snapshot_id}"
    if version.exists():  # the same run published twice within a second
        version = version.with_name(f"{version.name}-{uuid.uuid4().hex[:8]}")
    staging = home.snapshot / f".publishing-{uuid.uuid4().hex}"
    database = staging / "ledger.duckdb"
    try:
        (staging / "parquet").mkdir(parents=True)
        rows: dict[str, int] = {}
        with duckdb.connect() as con:
            con.execute(f"attach {quoted_path(home.warehouse)} as warehouse (read_only)")
            con.execute(f"attach {quoted_path(database)} as snapshot")
            for name, (relation, order) in PUBLISHED_TABLES.items():
                relation = f"warehouse.{relation}"
                con.execute(f"create table snapshot.main.{name} as "
                            f"select {_published_columns(con, relation)} from {relation} order by {order}")
                rows[name] = con.execute(f"select count(*) from snapshot.main.{name}").fetchone()[0]
                con.execute(f"copy snapshot.main.{name} to {quoted_path(staging / 'parquet' / (name + '.parquet'))} "
                            "(format parquet, compression zstd)")
            through, chain_hash = con.execute(
                "select cast(partition_date as varchar), chain_hash from snapshot.main.journal_day_hashes "
                "order by partition_date desc limit 1").fetchone() or (None, None)
            published = PublishedSnapshot(snapshot_id, published_at, through, chain_hash, rows)
            con.execute("create table snapshot.main.snapshot_info as select ? as snapshot_id, "
                        "cast(? as timestamp) as published_at, cast(? as date) as ledger_through, "
                        "? as chain_hash", [snapshot_id, published_at.rstrip("Z"), through, chain_hash])
            con.execute("detach snapshot")
            con.execute("detach warehouse")
        sha256 = {name: sha256_of(staging / "parquet" / f"{name}.parquet") for name in PUBLISHED_TABLES}
        manifest = json.dumps(published.manifest(sha256), indent=2, sort_keys=True).encode() + b"\n"
        (staging / "parquet" / "manifest.json").write_bytes(manifest)
        for path in [database, *(staging / "parquet").iterdir()]:
            _fsync(path)
        _put_in_place(home, staging, version, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_old_versions(home, keep=version)
    return published


def _put_in_place(home: DataHome, staging: Path, version: Path, manifest: bytes) -> None:
    version.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging / "parquet", version)
    # A WAL beside the published file is a reader's uncheckpointed writes to the old snapshot: replayed into the new
    # file it would corrupt it. The reader's connection keeps its own file open and is not disturbed.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(home.snapshot_database.with_name(home.snapshot_database.name + ".wal"))
    os.replace(staging / "ledger.duckdb", home.snapshot_database)
    if home.snapshot_parquet.is_dir() and not home.snapshot_parquet.is_symlink():
        # a copy of the data home that followed the link (cp -r, a backup restored): its folder becomes a version,
        # the one moment a reader of the folder could see it missing
        os.replace(home.snapshot_parquet, version.with_name(f"{version.name}-copied-{uuid.uuid4().hex[:8]}"))
    link = home.snapshot / f".parquet-{uuid.uuid4().hex}"
    os.symlink(os.path.relpath(version, home.snapshot), link)
    os.replace(link, home.snapshot_parquet)
    write_bytes_atomically(home.snapshot_manifest, manifest)
    _fsync(home.snapshot)


def _remove_abandoned_publications(home: DataHome) -> None:
    """What a publication killed half-way left: its staging folder, its link not yet in place. Publications take the
    warehouse pool, one at a time, so none of these is a live one's."""
    for path in home.snapshot.glob(".publishing-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in home.snapshot.glob(".parquet-*"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_old_versions(home: DataHome, keep: Path) -> None:
    versions = sorted(path for path in home.snapshot_versions.iterdir() if path.is_dir() and path != keep)
    for old in versions[:-VERSIONS_KEPT] if VERSIONS_KEPT else versions:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(home: DataHome) -> dict:
    if not home.snapshot_database.exists() or not home.snapshot_manifest.exists():
        raise SnapshotUnavailable(f"no snapshot in {home.snapshot}: it is published after each run of the pipeline "
                                  "(run `backed demo`, or the pipeline, first)")
    return json.loads(home.snapshot_manifest.read_text())


SNAPSHOT_GROUP = "snapshot"


@dg.asset(
    group_name=SNAPSHOT_GROUP,
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(name) for name in PUBLISHED_TABLES if name != "exceptions"],
    kinds={"duckdb", "parquet"},
    description="The marts people query (journal, hash chain, trial balance, balance sheet, income statement, loan "
                "positions, reserve coverage, exceptions), copied to snapshot/ for SQL clients, BI tools and "
                "notebooks: a reader there never blocks the pipeline. Published after each successful run.",
)
def ledger_snapshot(context: dg.AssetExecutionContext, backed_home: BackedHome) -> dg.MaterializeResult:
    published = publish_snapshot(backed_home.paths, snapshot_id=context.run_id)
    return dg.MaterializeResult(metadata={
        "snapshot_id": published.snapshot_id,
        "ledger_through": published.ledger_through or "",
        "chain_hash": published.chain_hash or "",
        **{f"rows_{name}": dg.MetadataValue.int(count) for name, count in published.rows.items()},
    })


@dg.asset_check(asset=ledger_snapshot, pool=WAREHOUSE_POOL,
                description="Every published table holds the warehouse's rows, in the DuckDB file and in its Parquet "
                            "file, and the Parquet files are those the manifest names.")
def snapshot_matches_warehouse(backed_home: BackedHome) -> dg.AssetCheckResult:
    home = backed_home.paths
    manifest = read_manifest(home)
    differences = []
    with duckdb.connect() as con:
        con.execute(f"attach {quoted_path(home.warehouse)} as warehouse (read_only)")
        try:
            con.execute(f"attach {quoted_path(home.snapshot_database)} as snapshot (read_only)")
            compared = ("warehouse", "DuckDB file", "Parquet")
        except duckdb.IOException:
            # a reader opened the new file read-write already (it holds DuckDB's lock): its tables were copied by the
            # same statements as the Parquet files, which are still compared
            compared = ("warehouse", "Parquet")
        for name, (relation, _) in PUBLISHED_TABLES.items():
            parquet = home.snapshot_parquet / f"{name}.parquet"
            sources = {"warehouse": f"select {_published_columns(con, f'warehouse.{relation}')} "
                                    f"from warehouse.{relation}",
                       "DuckDB file": f"select * from snapshot.main.{name}",
                       "Parquet": f"select * from read_parquet({quoted_path(parquet)})"}
            # order-free fingerprints of the rows: each row's hash, summed (as a HUGEINT, so it cannot overflow)
            fingerprints = con.execute("select " + ", ".join(
                f"(select count(*) || ':' || coalesce(sum(hash(rows)::hugeint), 0) from ({sources[form]}) as rows)"
                for form in compared)).fetchone()
            if len(set(fingerprints)) != 1:
                differences.append(f"{name}: " + ", ".join(f"{form} {fingerprint}"
                                                           for form, fingerprint in zip(compared, fingerprints)))
            elif sha256_of(parquet) != manifest["tables"][name]["parquet_sha256"]:
                differences.append(f"{name}: the Parquet file is not the one the manifest names")
    return dg.AssetCheckResult(passed=not differences, metadata={
        "snapshot_id": manifest["snapshot_id"], "compared": ", ".join(compared),
        "differences": "\n".join(differences) or "none"})
