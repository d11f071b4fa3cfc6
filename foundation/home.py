"""The data home (`BACKED_HOME`, default `./.backed`): every place under it, named once.

```
inbox/                   files dropped by lenders, collectors and custodians
inbox/archive/           every file taken in, under its sha256 (never deleted)
lake/<table>/date=DAY/   the Parquet lake, one file per table per day
quarantine/              rejected rows and files, with the reason
warehouse.duckdb         the dbt warehouse (DuckDB); on Spark, views of spark/'s tables and the exceptions
spark/                   on Spark (BACKED_ENGINE=spark): its warehouse's Parquet tables and its metastore
snapshot/                the marts people query, published read-only after each run (DuckDB file and Parquet)
reports/                 attestations (HTML and PDF), superseded ones, monthly reports, GX Data Docs, dbt docs
attestations/DAY/        what each attestation was issued on, outside the warehouse: its manifest, signatures,
                         publication, and the journal's entries as first attested (the tamper record)
attestations/seals/      the months sealed
keys/                    the demo's signing key only (a real key lives outside the data home)
dagster/                 the Dagster instance (DAGSTER_HOME): runs, event logs, backfill logs
logs/backed.log          what the `backed` commands' runs printed (dbt, Dagster, warnings) and their errors' details
dbt/                     dbt's parse of the project, saved by a run on this warehouse for the next one, and the
                         fingerprint of the project that built the warehouse
sandbox/                 the local chain's deployment and the simulator's ground truth
tmp/                     spill space of the telemetry ingest
reconciliation.toml      the deployment's tolerances (optional)
```
Code asks a `DataHome` for a place by its name; no other module spells a file or folder of the home.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

HOME_ENV = "BACKED_HOME"


def default_home() -> Path:
    """BACKED_HOME, default ./.backed, always absolute: where a command works when not told otherwise."""
    return Path(os.environ.get(HOME_ENV, ".backed")).resolve()


@dataclass(frozen=True)
class DataHome:
    """One data home, by its root directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of(cls, home: DataHome | os.PathLike | str) -> DataHome:
        return home if isinstance(home, DataHome) else cls(Path(home))

    def __fspath__(self) -> str:
        return str(self.root)

    def __str__(self) -> str:
        return str(self.root)

    # --- files received ------------------------------------------------------------------------------------------
    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def archive(self) -> Path:
        """Every file taken in from the inbox, under its sha256, never deleted."""
        return self.inbox / "archive"

    @property
    def intake_lock(self) -> Path:
        return self.root / ".intake.lock"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def spill(self) -> Path:
        """Scratch space of an ingest that does not fit in memory; emptied after each file."""
        return self.root / "tmp"

    # --- what is built from them ---------------------------------------------------------------------------------
    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def warehouse_files(self) -> tuple[Path, ...]:
        """The warehouse and its write-ahead log."""
        return self.warehouse, self.warehouse.with_name(self.warehouse.name + ".wal")

    @property
    def spark(self) -> Path:
        """Spark's warehouse and metastore, when dbt runs on Spark (dbt_project/profiles.yml)."""
        return self.root / "spark"

    @property
    def spark_tables(self) -> Path:
        """The folder of each table dbt builds on Spark (schema `backed`), Parquet, partitioned by day or not."""
        return self.spark / "warehouse" / "backed.db"

    @property
    def spark_table_columns(self) -> Path:
        """The columns of each Spark table kept by day, in the model's order: an empty Parquet file per version of
        the model (dbt_project/macros/engines.sql, record_table_columns)."""
        return self.spark / "columns"

    # --- what readers open -------------------------------------------------------------------------------------
    @property
    def snapshot(self) -> Path:
        """The read-only snapshot of the marts, for SQL clients, BI tools and notebooks (assets/snapshot.py)."""
        return self.root / "snapshot"

    @property
    def snapshot_database(self) -> Path:
        return self.snapshot / "ledger.duckdb"

    @property
    def snapshot_parquet(self) -> Path:
        """A link to the current publication's folder of Parquet files, one per table."""
        return self.snapshot / "parquet"

    @property
    def snapshot_manifest(self) -> Path:
        return self.snapshot / "manifest.json"

    @property
    def snapshot_versions(self) -> Path:
        return self.snapshot / "versions"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def data_docs(self) -> Path:
        """Great Expectations' Data Docs site of the reconciliation checks."""
        return self.reports / "data_docs"

    @property
    def dbt_docs(self) -> Path:
        """dbt's docs site of the warehouse: every model and its lineage, from the lake to the attestation."""
        return self.reports / "dbt_docs"

    def attestation_paths(self, day: date) -> tuple[Path, Path]:
        """The day's attestation: (HTML, PDF)."""
        stem = f"attestation-{day.isoformat()}"
        return self.reports / f"{stem}.html", self.reports / f"{stem}.pdf"

    def superseded_attestation_paths(self, day: date, html_sha256: str) -> tuple[Path, Path]:
        """Where an earlier, different attestation of the day is kept once a new one replaces it: (HTML, PDF)."""
        stem = f"attestation-{day.isoformat()}.{html_sha256[:16]}"
        return self.reports / "superseded" / f"{stem}.html", self.reports / "superseded" / f"{stem}.pdf"

    # --- what an attestation was issued on, kept outside the warehouse ------------------------------------------
    @property
    def attestation_records(self) -> Path:
        return self.root / "attestations"

    def attestation_record(self, period: str) -> Path:
        """The folder of one attestation: a day (YYYY-MM-DD) or a month's report (YYYY-MM)."""
        return self.attestation_records / period

    def attestation_manifest(self, period: str) -> Path:
        """The canonical JSON every figure and input of the attestation is committed to; signed and published."""
        return self.attestation_record(period) / "manifest.json"

    def attestation_signatures(self, period: str) -> Path:
        return self.attestation_record(period) / "signatures.json"

    def attestation_publication(self, period: str) -> Path:
        """Where the manifest's digest was published: the registry, the transaction, the block."""
        return self.attestation_record(period) / "publication.json"

    def attested_day(self, day: date) -> Path:
        """The day's journal when it was first attested: its line count, digest, chain and inputs hashes."""
        return self.attestation_record(day.isoformat()) / "attested-day.parquet"

    def attested_entries(self, day: date) -> Path:
        """The digest of every journal entry of the day when the day was first attested (written once)."""
        return self.attestation_record(day.isoformat()) / "attested-entries.parquet"

    @property
    def seals(self) -> Path:
        return self.attestation_records / "seals"

    def seal(self, month: str) -> Path:
        return self.seals / f"{month}.json"

    def monthly_report_paths(self, month: str) -> tuple[Path, Path]:
        """The month's report: (HTML, PDF)."""
        stem = f"monthly-report-{month}"
        return self.reports / f"{stem}.html", self.reports / f"{stem}.pdf"

    @property
    def demo_keys(self) -> Path:
        """The demo's signing keys, generated by `backed demo`; a real signer's key is never under the data home."""
        return self.root / "keys"

    # --- settings and the orchestrator ---------------------------------------------------------------------------
    @property
    def reconciliation_policy(self) -> Path:
        return self.root / "reconciliation.toml"

    @property
    def dagster(self) -> Path:
        """The Dagster instance's folder (DAGSTER_HOME)."""
        return self.root / "dagster"

    @property
    def dbt_state(self) -> Path:
        """What dbt keeps from one run on this home's warehouse to the next: its parse of the project."""
        return self.root / "dbt"

    @property
    def warehouse_project(self) -> Path:
        """The fingerprint of the dbt project that last built the warehouse."""
        return self.dbt_state / "warehouse-project.sha256"

    @property
    def command_log(self) -> Path:
        """What `backed` commands' runs printed (dbt's and Dagster's output, library warnings) and the tracebacks of
        their errors, appended command after command; the terminal shows the command's own lines."""
        return self.root / "logs" / "backed.log"

    @property
    def spark_log(self) -> Path:
        """Spark's own log on the Spark engine (its warnings, its errors' stack traces), for dbt and the telemetry
        roll-up alike."""
        return self.root / "logs" / "spark.log"

    def backfill_log(self, backfill_id: str) -> Path:
        """What the code server and the runs of one `backed backfill` printed."""
        return self.dagster / "backfill-logs" / f"backfill-{backfill_id}.log"

    # --- the sandbox ---------------------------------------------------------------------------------------------
    @property
    def sandbox(self) -> Path:
        """The local chain's deployment and the simulator's ground truth."""
        return self.root / "sandbox"

    @property
    def sandbox_deployment(self) -> Path:
        return self.sandbox / "deployment.json"

    @property
    def sandbox_node(self) -> Path:
        """The local chain left serving after a demo (`backed sandbox up`, `demo --keep-chain`): its pid and URL."""
        return self.sandbox / "node.json"

    @property
    def sandbox_node_log(self) -> Path:
        return self.sandbox / "anvil.log"

    @property
    def simulated_state(self) -> tuple[Path, ...]:
        """Everything a simulation writes or the pipeline builds from it: reset before a new simulation. The Dagster
        instance (the run history) is not part of it."""
        return (self.inbox, self.lake, self.quarantine, self.reports, self.attestation_records, self.sandbox,
                self.snapshot, *self.warehouse_files, self.spark)

