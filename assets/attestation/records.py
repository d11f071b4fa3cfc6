"""What an attestation was issued on, kept under the data home's attestations/ folder, outside the warehouse.

Per period (a day, or a month for the monthly report):
- manifest.json: the canonical manifest (assets/attestation/manifest.py); its sha256 is the attestation's digest;
- signatures.json: the Ed25519 signatures over it (assets/attestation/signing.py);
- publication.json: where its digest was published on chain;
- the chain's lake partitions an attestation read, archived under inbox/archive/chain/DAY/ by their sha256 like
  the inbox's files, so the day can be rebuilt without a node;
- for a day, attested-day.parquet and attested-entries.parquet: the day's journal as it was when the day was
  FIRST attested (its digest and line count, its inputs' chain hash, and every entry's digest), written once and
  never replaced. Check R11 compares the journal with them at every run: an edit of the warehouse cannot
  rewrite what was attested.
A manifest replaced by another (the day was restated, or the code changed) moves with its signatures and its
publication to superseded/<digest>/, so an attestation once signed can still be verified.
"""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from assets.attestation.manifest import read_manifest
from foundation.home import DataHome
from foundation.lake import Lake, write_bytes_atomically

DAY_RECORD_SCHEMA = pa.schema([
    pa.field("partition_date", pa.date32()),
    pa.field("line_count", pa.int64()),
    pa.field("day_digest", pa.string()),
    pa.field("chain_hash", pa.string()),
    pa.field("inputs_chain_hash", pa.string()),
])
ENTRY_RECORD_SCHEMA = pa.schema([
    pa.field("partition_date", pa.date32()),
    pa.field("entry_id", pa.string()),
    pa.field("line_count", pa.int64()),
    pa.field("entry_digest", pa.string()),
])


def superseded_record(home: DataHome, period: str, digest: str) -> Path:
    return home.attestation_record(period) / "superseded" / digest


def write_manifest(home: DataHome, period: str, manifest_bytes: bytes, digest: str) -> bool:
    """Write the period's manifest; returns whether it changed. A different manifest already there moves, with its
    signatures and publication, to superseded/<its digest>/ first."""
    path = home.attestation_manifest(period)
    if path.exists():
        old = path.read_bytes()
        if old == manifest_bytes:
            return False
        _, _, old_digest = read_manifest(path)
        keep = superseded_record(home, period, old_digest)
        keep.mkdir(parents=True, exist_ok=True)
        for current in (home.attestation_signatures(period), home.attestation_publication(period), path):
            if current.exists():
                current.replace(keep / current.name)
    write_bytes_atomically(path, manifest_bytes)
    return True


def manifest_for_digest(home: DataHome, period: str, digest: str) -> Path | None:
    """The manifest of the period with this digest: the current one or a superseded one."""
    current = home.attestation_manifest(period)
    if current.exists() and read_manifest(current)[2] == digest:
        return current
    kept = superseded_record(home, period, digest) / "manifest.json"
    return kept if kept.exists() else None


def read_publication(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def write_publication(path: Path, publication: dict) -> None:
    write_bytes_atomically(path, (json.dumps(publication, indent=2, sort_keys=True) + "\n").encode())


def record_attested_journal(con: duckdb.DuckDBPyConnection, home: DataHome, day: date, ledger: dict) -> bool:
    """Record the day's journal as first attested: written once (the first attestation of the day wins; a later
    one, after a restatement, adds nothing). Returns whether it was written now."""
    if home.attested_day(day).exists():
        return False
    entries = con.sql("select partition_date, entry_id, line_count, entry_digest from main.journal_entry_digests "
                      "where partition_date = $day order by entry_id", params={"day": day}).to_arrow_table()
    write_bytes_atomically(home.attested_entries(day), _parquet_bytes(entries.cast(ENTRY_RECORD_SCHEMA)))
    record = pa.table({"partition_date": [day], "line_count": [ledger["line_count"]],
                       "day_digest": [ledger["day_digest"]], "chain_hash": [ledger["hash_chain_head"]],
                       "inputs_chain_hash": [ledger["inputs_chain_hash"]]}, schema=DAY_RECORD_SCHEMA)
    # the day's file last: R11 reads a day only once both files are there
    write_bytes_atomically(home.attested_day(day), _parquet_bytes(record))
    return True


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def archived_chain_partition(home: DataHome, table: str, day: str, sha256: str) -> Path:
    """Where a chain lake partition an attestation read is archived, by its sha256 (as the inbox archives files)."""
    return home.archive / "chain" / day / f"{sha256}-{table}.parquet"


def archive_chain_partitions(home: DataHome, partitions: list[dict]) -> int:
    """Archive every chain partition the manifest lists that is not archived yet; returns how many were copied.
    Content-addressed: a partition replaced later (a reorg re-ingested the day) keeps its attested bytes here."""
    copied = 0
    for partition in partitions:
        day = partition["partition_date"]
        day = day.isoformat() if isinstance(day, date) else day
        target = archived_chain_partition(home, partition["table"], day, partition["sha256"])
        if target.exists():
            continue
        source = Lake(home).partition_path(partition["table"], date.fromisoformat(day))
        write_bytes_atomically(target, source.read_bytes())
        copied += 1
    return copied

