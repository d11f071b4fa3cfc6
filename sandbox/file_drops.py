"""The off-chain files the sandbox drops into the inbox, in the formats of docs/lake.md: lenders' loan tapes,
DCGM exporter scrapes and custodian statements. Every file is written atomically (a temporary file, then a
rename), so an ingester never sees half a file."""
from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

CENT = Decimal("0.01")


def write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def usd_text(value: Decimal | None) -> str:
    """Cents when the amount is whole cents ("1500.00"), else every significant decimal ("41.095890" → "41.09589")."""
    if value is None:
        return ""
    if value == value.quantize(CENT):
        return f"{value.quantize(CENT):f}"
    return f"{value.normalize():f}"


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


# --- loan tapes -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoanTapeRow:
    as_of_date: date
    lender_id: str
    loan_id: str
    loan_terms_hash: str
    borrower_id: str
    borrower_name: str
    currency: str
    original_principal: Decimal
    principal_outstanding: Decimal
    accrued_interest: Decimal
    daily_interest: Decimal
    interest_rate_bps: int
    status: str
    days_past_due: int
    origination_date: date
    maturity_date: date
    collateral: str


LOAN_TAPE_COLUMNS = tuple(f.name for f in fields(LoanTapeRow))


def loan_tape_path(inbox: Path, lender_id: str, as_of: date) -> Path:
    return inbox / "loan_tapes" / f"{lender_id}-{as_of.isoformat()}.csv"


def collateral_schedule(nfts: Sequence[tuple[int, Sequence[str]]]) -> str:
    """`<nft_token_id>=<gpu_serial>[|<gpu_serial>...]` entries joined by `;`."""
    return ";".join(f"{token_id}={'|'.join(serials)}" for token_id, serials in nfts)


def write_loan_tape(path: Path, rows: Sequence[LoanTapeRow]) -> None:
    def text(value) -> str:
        if isinstance(value, Decimal):
            return usd_text(value)
        return value.isoformat() if isinstance(value, date) else str(value)

    write_atomically(path, _csv_bytes(LOAN_TAPE_COLUMNS, [[text(v) for v in astuple(row)] for row in rows]))


# --- custodian statements ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatementRow:
    record_type: str  # opening_cash, closing_cash, holding, transaction
    cusip: str = ""
    security_description: str = ""
    maturity_date: date | None = None
    par_value: Decimal | None = None
    price: Decimal | None = None
    market_value: Decimal | None = None
    amount: Decimal | None = None
    transaction_type: str = ""
    reference: str = ""


STATEMENT_COLUMNS = ("statement_date", "cut_off_time", "custodian_id", "account_id", "record_type", "cusip",
                     "security_description", "maturity_date", "par_value", "price", "market_value", "amount",
                     "currency", "transaction_type", "reference")


def custodian_statement_path(inbox: Path, custodian_id: str, statement_date: date) -> Path:
    return inbox / "custodian" / f"{custodian_id}-{statement_date.isoformat()}.csv"


def write_custodian_statement(path: Path, statement_date: date, custodian_id: str, account_id: str,
                              rows: Sequence[StatementRow]) -> None:
    cut_off = f"{statement_date.isoformat()}T23:59:59Z"
    lines = [
        [statement_date.isoformat(), cut_off, custodian_id, account_id, row.record_type, row.cusip,
         row.security_description, row.maturity_date.isoformat() if row.maturity_date else "",
         usd_text(row.par_value), f"{row.price:f}" if row.price is not None else "", usd_text(row.market_value),
         usd_text(row.amount), "USD", row.transaction_type, row.reference]
        for row in rows
    ]
    write_atomically(path, _csv_bytes(STATEMENT_COLUMNS, lines))


# --- DCGM telemetry ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuFeed:
    """One GPU as the DCGM exporter on its host reports it, and how it behaves on the day."""

    uuid: str
    serial: str
    index: int  # position on its host: the `gpu` label, device nvidia<index>
    hostname: str
    model_name: str
    util_base: int  # %
    temp_base: int  # °C
    power_base_mw: int  # draw at full load, milliwatts
    dark_from_s: int | None = None  # seconds into the day from which the GPU stops reporting
    xid_events: tuple[tuple[int, int], ...] = ()  # (scrape number, XID code)

    @property
    def labels(self) -> str:
        return (f'{{gpu="{self.index}",UUID="{self.uuid}",device="nvidia{self.index}",modelName="{self.model_name}",'
                f'Hostname="{self.hostname}",serial="{self.serial}"}}')


DCGM_FAMILIES = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "util"),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", "temp"),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "power"),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", "xid"),
)


def dcgm_path(inbox: Path, day: date) -> Path:
    return inbox / "telemetry" / f"dcgm-{day.isoformat()}.prom"


def dcgm_scrapes(day: date, gpus: Sequence[GpuFeed], scrape_interval_s: int, seed: int) -> pl.DataFrame:
    """One row per GPU per scrape the GPU answered: scrape number, epoch ms and the four gauges as text."""
    scrapes = np.arange(0, 86_400, scrape_interval_s, dtype=np.int64)
    day_start_ms = int(datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp()) * 1000
    rng = np.random.default_rng([seed, day.toordinal()])
    shape = (len(gpus), len(scrapes))
    base_util = np.array([[g.util_base] for g in gpus], dtype=np.int64).reshape(-1, 1)
    util = np.clip(base_util + rng.integers(-9, 10, size=shape), 0, 100)
    temp = np.array([[g.temp_base] for g in gpus], dtype=np.int64).reshape(-1, 1) + (util - base_util) // 4 \
        + rng.integers(-2, 3, size=shape)
    full_load_mw = np.array([[g.power_base_mw] for g in gpus], dtype=np.int64).reshape(-1, 1)
    # Idle draw is about a sixth of full load; the rest scales with utilisation.
    power_mw = full_load_mw // 6 + (full_load_mw * 5 // 6) * util // 100 + rng.integers(-4_000, 4_001, size=shape)
    xid = np.zeros(shape, dtype=np.int64)
    for row, gpu in enumerate(gpus):
        for scrape, code in gpu.xid_events:
            xid[row, scrape] = code
    dark_from = np.array([[g.dark_from_s if g.dark_from_s is not None else 86_400] for g in gpus],
                         dtype=np.int64).reshape(-1, 1)
    online = scrapes.reshape(1, -1) < dark_from
    gpu_row, scrape_col = np.nonzero(online)
    return pl.DataFrame({
        "gpu_row": gpu_row.astype(np.int64),
        "timestamp_ms": day_start_ms + scrapes[scrape_col] * 1000,
        "util": util[online],
        "temp": temp[online],
        "power_mw": power_mw[online],
        "xid": xid[online],
    })


def write_dcgm_scrapes(path: Path, day: date, gpus: Sequence[GpuFeed], scrape_interval_s: int, seed: int) -> None:
    """Every scrape of the day in Prometheus text format: each family's HELP/TYPE once, then its samples by
    scrape time and GPU, each with a millisecond timestamp."""
    samples = dcgm_scrapes(day, gpus, scrape_interval_s, seed).with_columns(
        pl.col("gpu_row").replace_strict(list(range(len(gpus))), [g.labels for g in gpus],
                                         return_dtype=pl.String).alias("labels"),
        pl.col("util").cast(pl.String),
        pl.col("temp").cast(pl.String),
        pl.format("{}.{}", pl.col("power_mw") // 1000,
                  (pl.col("power_mw") % 1000).cast(pl.String).str.zfill(3)).alias("power"),
        pl.col("xid").cast(pl.String),
    ).sort("timestamp_ms", "gpu_row")
    blocks = []
    for family, help_text, column in DCGM_FAMILIES:
        blocks.append(f"# HELP {family} {help_text}\n# TYPE {family} gauge\n")
        if samples.height:
            blocks.append(samples.select(
                pl.concat_str([pl.lit(family), pl.col("labels"), pl.lit(" "), pl.col(column), pl.lit(" "),
                               pl.col("timestamp_ms").cast(pl.String), pl.lit("\n")]).str.join("")
            ).item())
    write_atomically(path, "".join(blocks).encode())
