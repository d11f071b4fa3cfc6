"""GPU inventories: what `nvidia-smi --query-gpu=index,name,serial,uuid,pci.bus_id --format=csv` prints on each node,
the one place a GPU's DCGM UUID (all telemetry names) meets its board serial (what lenders' collateral schedules
name). The stock dcgm-exporter writes no serial, so a collateral GPU named by serial is found in telemetry through
the latest inventory that lists it.

nvidia-smi writes a header of the queried properties, comma and blank separated (`index, name, serial, uuid`; a
property with a unit carries it, `memory.total [MiB]`), and `[N/A]` where the board does not report one (a GeForce
has no serial). The file holds no date: its day is the one its name gives (`gpu-inventory-node-03-2026-01-05.csv`).
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

from assets.inbox.register import InboxFile, Recognition
from assets.inbox.document_tables import csv_table
from assets.inbox.row_validation import (
    SOURCE_ROW,
    FieldRule,
    RowSplit,
    encoding_rules,
    problem_frame,
    recognise_document,
    split_rows,
)
from foundation.lake import Lake

INVENTORY_FORMAT = "nvidia_smi_csv"
_PRODUCER = "nvidia-smi"
# The properties read, by nvidia-smi's query name; the rest (index, pci.bus_id, driver_version, ...) are not needed.
_COLUMNS = {"uuid": "gpu_uuid", "serial": "gpu_serial", "name": "model_name"}
_DATE_IN_NAME = re.compile(r"(?<![0-9])([0-9]{4})-?([0-9]{2})-?([0-9]{2})(?![0-9])")
# DCGM's (and nvidia-smi's) form of a GPU's UUID: what telemetry and inventories name a GPU by.
GPU_UUID_TEXT = r"^GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_NOT_AVAILABLE = "[N/A]"


def property_name(header_cell: str) -> str:
    """`memory.total [MiB]` -> `memory.total`: the query property a header cell names."""
    return header_cell.split("[", 1)[0].strip().lower()


def looks_like_inventory(csv_header: list[str]) -> float:
    names = {property_name(cell) for cell in csv_header}
    return 1.0 if {"uuid", "serial"} <= names else 0.0


def recognise(path: Path, name: str) -> Recognition:
    """An inventory's day is the date in its name (basic or extended ISO 8601); it holds none."""
    def by_name(content: bytes) -> Recognition:
        csv_table(content)  # refused here when it cannot be read at all
        found = _DATE_IN_NAME.search(name)
        if found is not None:
            try:
                return Recognition("telemetry", INVENTORY_FORMAT, _PRODUCER, date(*map(int, found.groups())))
            except ValueError:
                pass
        return Recognition("telemetry", INVENTORY_FORMAT, _PRODUCER, problem="no_as_of_date",
                           detail="a GPU inventory holds no date: name it with the day it was taken "
                                  "(gpu-inventory-node-03-2026-01-05.csv)")
    return recognise_document(path, by_name)


def validate(inventory: InboxFile) -> RowSplit:
    """The inventory's GPUs: UUID, serial and model. Quarantined: no UUID or one not in DCGM's `GPU-` form
    (`unknown_gpu`), no serial (`missing_serial`: nvidia-smi's `[N/A]`), a UUID listed twice (`duplicate_gpu`)."""
    table = csv_table(inventory.read_bytes())
    by_property = {property_name(cell): index for index, cell in enumerate(table.header)}
    frame = pl.DataFrame(
        {column: [row[by_property[name]] for row in table.rows] for name, column in _COLUMNS.items()
         if name in by_property},
        schema={column: pl.String for name, column in _COLUMNS.items() if name in by_property},
    ).with_columns(pl.all().str.strip_chars())
    if "model_name" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("model_name"))
    frame = frame.with_row_index(SOURCE_ROW, offset=1).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
    uuid, serial = pl.col("gpu_uuid"), pl.col("gpu_serial")
    rules = [
        *encoding_rules(["gpu_uuid", "gpu_serial", "model_name"]),
        FieldRule("gpu_uuid", "unknown_gpu", uuid.is_null() | ~uuid.str.contains(GPU_UUID_TEXT)),
        FieldRule("gpu_serial", "missing_serial", serial.is_null() | (serial == _NOT_AVAILABLE) | (serial == "")),
        FieldRule("gpu_uuid", "duplicate_gpu", uuid.is_not_null() & ~uuid.str.to_lowercase().is_first_distinct()),
    ]
    split = split_rows(frame, rules, inventory.name, problem_frame(table.problems, inventory.name))
    accepted = split.accepted.with_columns(
        pl.col("model_name").replace(_NOT_AVAILABLE, None),
        pl.lit(inventory.name).alias("source_file"),
        pl.lit(inventory.sha256).alias("source_sha256"),
    ).select("gpu_uuid", "gpu_serial", "model_name", "source_file", "source_sha256", SOURCE_ROW)
    return RowSplit(accepted=accepted, rejected=split.rejected, rows_in=split.rows_in,
                    rows_quarantined=split.rows_quarantined)


def serials_as_of(day: date, lake: Lake) -> pl.DataFrame:
    """`gpu_uuid` -> `inventory_serial`, from the latest inventory up to `day` that lists each GPU (a later inventory
    of the same node replaces what an earlier one said)."""
    frames = [pl.from_arrow(table).with_columns(pl.lit(partition).alias("inventory_day"))
              for partition in lake.partition_days("gpu_inventory") if partition <= day
              for table in [lake.read_table("gpu_inventory", partition)] if table is not None and table.num_rows]
    if not frames:
        return pl.DataFrame(schema={"gpu_uuid": pl.String, "inventory_serial": pl.String})
    return (pl.concat(frames, how="diagonal_relaxed")
            .sort("inventory_day", "source_file", "source_row", descending=[True, False, False])
            .unique("gpu_uuid", keep="first", maintain_order=True)
            .select("gpu_uuid", pl.col("gpu_serial").alias("inventory_serial")))
