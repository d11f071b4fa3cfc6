"""Off-chain ingestion (loan tapes, DCGM telemetry, custodian statements) from small hand-written inbox files."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from assets.inbox.intake import take_in_inbox
from assets.custodian.statements import ingest_custodian_day
from foundation.lake import SCHEMAS, Lake, LakeSchemaError
from assets.loan_tapes.tape import LOAN_TAPE_COLUMNS, ingest_loan_tapes_day
from assets.telemetry.scrapes import ingest_telemetry_day

DAY = date(2026, 1, 5)
HASH_A = "0x" + "ab" * 32
HASH_B = "0x" + "CD" * 32

TAPE_HEADER = ",".join(LOAN_TAPE_COLUMNS)
GOOD_TAPE_ROWS = [
    f'2026-01-05,acme,L-1,{HASH_A},B-1,"Foundry, Inc.",USDC,1000000.00,750000.123456789012345678,1234.56,'
    "205.479452054794520547,750,current,0,2025-11-01,2026-11-01,101=1652922001234|1652922001235;102=1652922001236,"
    "0.70,21",
    f"2026-01-05,acme,L-2,{HASH_B},B-2,Tensor LLC,USDC,250000,0,0,0,1200,repaid,0,2025-06-01,2025-12-31,,,",
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def tape(lake: Lake, rows: list[str], name: str = "acme-2026-01-05.csv", header: str = TAPE_HEADER) -> Path:
    return write(lake.home.inbox / "loan_tapes" / name, "\n".join([header, *rows]) + "\n")


def good_row_with(column: str, value: str) -> str:
    """The second good row with one field replaced (the CSV has no quoted commas in that row)."""
    fields = GOOD_TAPE_ROWS[1].split(",")
    fields[LOAN_TAPE_COLUMNS.index(column)] = value
    return ",".join(fields)


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(tmp_path / "home")


def quarantine(lake: Lake, source: str, file_name: str, day: date = DAY) -> list[dict]:
    """The quarantine entries of the day's file of that name (its hash from the day's manifest)."""
    (sha256,) = [r["sha256"] for r in lake.read_table("input_files", day).to_pylist()
                 if r["source"] == source and r["file_name"] == file_name]
    return lake.read_quarantine(source, day, file_name, sha256).to_pylist()


# ---------------------------------------------------------------------------------------------- the lake

def test_every_table_is_written_with_its_schema_even_when_empty_and_duckdb_reads_the_declared_types(lake):
    for table in SCHEMAS:
        lake.write_table(table, DAY, SCHEMAS[table].empty_table())
        assert lake.read_table(table, DAY).schema == SCHEMAS[table]
    with duckdb.connect() as con:
        described = dict(
            con.execute(
                "select column_name, column_type from (describe select * from read_parquet(?))",
                [str(lake.partition_path("chain_events", DAY))],
            ).fetchall()
        )
    assert described["value"] == "DECIMAL(38,0)"
    assert described["block_time"] == "TIMESTAMP"
    assert described["partition_date"] == "DATE"
    assert described["tranche_index"] == "INTEGER"
    with duckdb.connect() as con:
        usd = con.execute(
            "select column_type from (describe select * from read_parquet(?)) where column_name = 'principal_outstanding'",
            [str(lake.partition_path("loan_tapes", DAY))],
        ).fetchone()[0]
    assert usd == "DECIMAL(38,18)"


def test_write_table_refuses_rows_that_do_not_fit_the_table(lake):
    rows = pa.table({"role": ["usdai"], "address": ["0x1"], "is_protocol": [True], "token_symbol": ["USDai"],
                     "token_decimals": [18], "interface": pa.array([None], pa.string())})
    lake.write_table("chain_address_book", DAY, rows)
    with pytest.raises(LakeSchemaError, match="missing columns"):
        lake.write_table("chain_address_book", DAY, rows.drop_columns(["token_decimals"]))
    with pytest.raises(LakeSchemaError, match="partition_date"):
        lake.write_table("chain_address_book", DAY, rows.append_column("partition_date", pa.array([date(2026, 1, 6)])))
    with pytest.raises(LakeSchemaError, match="unknown lake table"):
        lake.write_table("chain_eventz", DAY, rows)
    assert lake.read_table("chain_address_book", DAY).column("partition_date").to_pylist() == [DAY]


def test_partitions_written_before_a_column_was_added_get_it_before_the_warehouse_reads_them(lake):
    import pyarrow.parquet as pq

    from foundation.lake import SCHEMA_MARKER, digest_path

    first, later = date(2026, 1, 4), DAY
    rows = pa.table({"role": ["usdai"], "address": ["0x1"], "is_protocol": [True], "token_symbol": ["USDai"],
                     "token_decimals": [18], "interface": pa.array([None], pa.string())})
    for day in (first, later):
        lake.write_table("chain_address_book", day, rows)
    # The first day as a version of the code without token_symbol wrote it.
    old = lake.read_table("chain_address_book", first).drop_columns(["token_symbol"])
    pq.write_table(old, lake.partition_path("chain_address_book", first))
    digest_path(lake.partition_path("chain_address_book", first)).unlink()  # that version recorded no digests
    glob = str(lake.root / "chain_address_book" / "date=*" / "part-0.parquet")
    # How the warehouse reads the lake (models/sources.yml): one schema, the first file's.
    read = ("select {columns} from read_parquet('" + glob + "', hive_partitioning=true, union_by_name=false) "
            "order by \"date\"")
    with duckdb.connect() as con:
        assert "token_symbol" not in [c[0] for c in con.execute(read.format(columns="*")).description], "the hazard conformed away"

    assert lake.conform_partitions() == {"chain_address_book": 1}
    assert lake.read_table("chain_address_book", first).column("token_symbol").to_pylist() == [None]
    with duckdb.connect() as con:
        assert con.execute(read.format(columns="token_symbol")).fetchall() == [(None,), ("USDai",)]
    assert (lake.root / "chain_address_book" / SCHEMA_MARKER).exists()
    assert lake.conform_partitions() == {}


# ---------------------------------------------------------------------------------------------- loan tapes

def test_good_loan_tape_rows_land_exactly_with_their_collateral_and_lineage(lake):
    tape(lake, GOOD_TAPE_ROWS)
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined, summary.reasons) == (2, 2, 0, {})

    first, second = lake.read_table("loan_tapes", DAY).to_pylist()
    assert first["principal_outstanding"] == Decimal("750000.123456789012345678")
    assert first["daily_interest"] == Decimal("205.479452054794520547")
    assert first["borrower_name"] == "Foundry, Inc."
    assert (first["interest_rate_bps"], first["days_past_due"], first["maturity_date"]) == (750, 0, date(2026, 11, 1))
    assert (first["source_file"], first["source_sha256"], first["source_row"]) == ("acme-2026-01-05.csv", summary.sha256, 1)
    assert second["loan_terms_hash"] == HASH_B.lower() and second["status"] == "repaid" and second["source_row"] == 2

    collateral = lake.read_table("loan_collateral", DAY).to_pylist()
    assert [(row["nft_token_id"], row["gpu_serial"]) for row in collateral] == [
        ("101", "1652922001234"), ("101", "1652922001235"), ("102", "1652922001236"),
    ]
    assert {row["loan_terms_hash"] for row in collateral} == {HASH_A}
    assert lake.read_quarantine("loan_tapes", DAY, "acme-2026-01-05.csv", summary.sha256) is None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("loan_terms_hash", "0x1234", "invalid_loan_terms_hash"),
        ("loan_terms_hash", "", "missing_value"),
        ("as_of_date", "2026-01-04", "as_of_date_mismatch"),
        ("maturity_date", "2026-02-30", "invalid_date"),
        ("origination_date", "06/01/2025", "ambiguous_date"),
        ("origination_date", "2025-06-31", "invalid_date"),
        ("original_principal", "-250000", "negative_amount"),
        ("accrued_interest", "1e5", "invalid_decimal"),
        ("daily_interest", "0.0000000000000000001", "invalid_decimal"),  # 19 decimals would be rounded
        ("interest_rate_bps", "12.5", "invalid_integer"),
        ("days_past_due", "-3", "negative_integer"),
        ("status", "Current", "unknown_status"),
        ("currency", "EUR", "unknown_currency"),
        ("lender_id", "other", "lender_id_mismatch"),
        ("collateral", "101=165292200123", "invalid_gpu_serial"),
        ("collateral", "101=1652922001234;", "invalid_collateral"),
        ("collateral", "x=1652922001234", "invalid_collateral"),
    ],
)
def test_a_bad_loan_tape_row_is_quarantined_with_its_field_and_reason_and_the_good_ones_go_through(
    lake, column, value, reason
):
    tape(lake, [GOOD_TAPE_ROWS[0], good_row_with(column, value)])
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined) == (2, 1, 1)
    assert summary.reasons == {reason: 1}
    (rejected,) = quarantine(lake, "loan_tapes", "acme-2026-01-05.csv")
    assert rejected == {
        "source_file": "acme-2026-01-05.csv", "source_row": 2, "field": column, "value": value or None, "reason": reason,
    }
    assert [row["loan_id"] for row in lake.read_table("loan_tapes", DAY).to_pylist()] == ["L-1"]
    assert len(lake.read_table("loan_collateral", DAY)) == 3


def test_two_rows_for_one_loan_are_both_quarantined_and_a_file_without_a_column_is_rejected_whole(lake):
    tape(lake, [GOOD_TAPE_ROWS[1], GOOD_TAPE_ROWS[1].replace("L-2", "L-2b"), GOOD_TAPE_ROWS[0]])
    collateral_at = LOAN_TAPE_COLUMNS.index("collateral")

    def without_collateral(row: str) -> str:
        fields = next(csv.reader([row]))
        return ",".join(f'"{f}"' if "," in f else f for i, f in enumerate(fields) if i != collateral_at)

    tape(lake, [without_collateral(r).replace(",acme,", ",beta,") for r in GOOD_TAPE_ROWS], name="beta-2026-01-05.csv",
         header=TAPE_HEADER.replace(",collateral", ""))
    # rows with one field more than the header names: each is rejected, naming its row
    tape(lake, [r.replace(",acme,", ",gamma,") + ",extra" for r in GOOD_TAPE_ROWS], name="gamma-2026-01-05.csv")
    take_in_inbox(lake)
    acme, beta, gamma = sorted(ingest_loan_tapes_day(DAY, lake), key=lambda s: s.file_name)
    assert (acme.rows_accepted, acme.rows_quarantined, acme.reasons) == (1, 2, {"duplicate_loan": 2})
    assert (beta.rows_in, beta.rows_accepted, beta.rows_quarantined, beta.reasons) == (2, 0, 2, {"missing_column": 1})
    assert (gamma.rows_in, gamma.rows_accepted, gamma.reasons) == (2, 0, {"wrong_field_count": 2})
    assert gamma.messages[0] == ("gamma-2026-01-05.csv: row 1: wrong_field_count (value '20 fields, the header has 19') "
                                 "[file row 2]")
    (whole_file,) = quarantine(lake, "loan_tapes", "beta-2026-01-05.csv")
    assert (whole_file["source_row"], whole_file["field"], whole_file["reason"]) == (0, "collateral", "missing_column")
    assert lake.read_table("loan_tapes", DAY).num_rows == 1


def test_rerunning_a_day_gives_byte_identical_files(lake):
    tape(lake, [GOOD_TAPE_ROWS[0], good_row_with("status", "bogus")])
    tape(lake, [GOOD_TAPE_ROWS[1].replace(",acme,", ",beta,")], name="beta-2026-01-05.csv")
    tape(lake, [r.replace("2026-01-05,acme", "2026-01-06,acme") for r in GOOD_TAPE_ROWS], name="acme-2026-01-06.csv")
    take_in_inbox(lake)
    summaries = ingest_loan_tapes_day(DAY, lake)
    assert [s.file_name for s in summaries] == ["acme-2026-01-05.csv", "beta-2026-01-05.csv"]
    for s in summaries:
        assert s.rows_in == s.rows_accepted + s.rows_quarantined
    written = [
        lake.partition_path("loan_tapes", DAY),
        lake.partition_path("loan_collateral", DAY),
        lake.partition_path("input_files", DAY),
        lake.quarantine_path("loan_tapes", DAY, "acme-2026-01-05.csv", summaries[0].sha256),
    ]
    before = [path.read_bytes() for path in written]
    take_in_inbox(lake)
    ingest_loan_tapes_day(DAY, lake)
    assert [path.read_bytes() for path in written] == before
    # the other day's tape was taken in too, and routed to its own day
    assert [s.file_name for s in ingest_loan_tapes_day(date(2026, 1, 6), lake)] == ["acme-2026-01-06.csv"]


def test_a_day_without_tapes_still_writes_empty_tables(lake):
    take_in_inbox(lake)
    assert ingest_loan_tapes_day(DAY, lake) == []
    assert lake.read_table("loan_tapes", DAY).num_rows == 0
    assert lake.read_table("loan_collateral", DAY).schema == SCHEMAS["loan_collateral"]


# ---------------------------------------------------------------------------------------------- telemetry

H100 = 'modelName="NVIDIA H100 80GB HBM3",Hostname="node-03"'
UUID_A = "GPU-0a1b2c3d-0000-4000-8000-00000000000a"
UUID_B = "GPU-0a1b2c3d-0000-4000-8000-00000000000b"
T0 = 1767571200000  # 2026-01-05T00:00:00Z in ms
TEN_MINUTES = 600_000


def sample(metric: str, uuid: str, serial: str, value: str, at_ms: int | None, extra: str = H100) -> str:
    labels = f'gpu="0",UUID="{uuid}",device="nvidia0",{extra},serial="{serial}"'
    return f"{metric}{{{labels}}} {value}" + ("" if at_ms is None else f" {at_ms}")


def test_dcgm_scrapes_roll_up_per_gpu_per_day(lake):
    lines = [
        "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).",
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
        *(sample("DCGM_FI_DEV_GPU_UTIL", UUID_A, "1652922001234", str(v), T0 + i * TEN_MINUTES)
          for i, v in enumerate([10, 20, 30, 40, 100])),
        # GPU b: a model name with an escaped quote, comma and backslash; one scrape is NaN
        sample("DCGM_FI_DEV_GPU_UTIL", UUID_B, "1652922009999", "NaN", T0,
               extra='modelName="H100 \\"SXM\\", rev\\\\2",Hostname="node-04"'),
        sample("DCGM_FI_DEV_GPU_UTIL", UUID_B, "1652922009999", "50", T0 + TEN_MINUTES,
               extra='modelName="H100 \\"SXM\\", rev\\\\2",Hostname="node-04"'),
        "",
        "# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).",
        "# TYPE DCGM_FI_DEV_GPU_TEMP gauge",
        sample("DCGM_FI_DEV_GPU_TEMP", UUID_A, "1652922001234", "61", T0),
        sample("DCGM_FI_DEV_GPU_TEMP", UUID_A, "1652922001234", "74.5", T0 + TEN_MINUTES),
        "# TYPE DCGM_FI_DEV_POWER_USAGE gauge",
        sample("DCGM_FI_DEV_POWER_USAGE", UUID_A, "1652922001234", "300", T0),
        sample("DCGM_FI_DEV_POWER_USAGE", UUID_A, "1652922001234", "500", T0 + TEN_MINUTES),
        "# TYPE DCGM_FI_DEV_XID_ERRORS gauge",
        sample("DCGM_FI_DEV_XID_ERRORS", UUID_A, "1652922001234", "0", T0),
        sample("DCGM_FI_DEV_XID_ERRORS", UUID_A, "1652922001234", "79", T0 + TEN_MINUTES),
        sample("DCGM_FI_DEV_XID_ERRORS", UUID_A, "1652922001234", "79", T0 + 2 * TEN_MINUTES),
        # rejected: next day, no timestamp, not a number, no UUID, a repeat, not a sample at all
        sample("DCGM_FI_DEV_GPU_UTIL", UUID_A, "1652922001234", "99", T0 + 86_400_000),
        sample("DCGM_FI_DEV_GPU_UTIL", UUID_A, "1652922001234", "99", None),
        sample("DCGM_FI_DEV_GPU_UTIL", UUID_A, "1652922001234", "high", T0 + 3 * TEN_MINUTES),
        'DCGM_FI_DEV_GPU_UTIL{gpu="3"} 5 ' + str(T0),
        sample("DCGM_FI_DEV_GPU_UTIL", UUID_A, "1652922001234", "10", T0),
        "{not a sample",
    ]
    write(lake.home.inbox / "telemetry" / "dcgm-2026-01-05.prom", "\n".join(lines) + "\n")
    take_in_inbox(lake)
    (summary,) = ingest_telemetry_day(DAY, lake)
    assert summary.rows_in == 20  # sample lines; comments and blank lines are not rows
    assert (summary.rows_accepted, summary.rows_quarantined) == (14, 6)
    assert summary.reasons == {"outside_day": 1, "missing_timestamp": 1, "invalid_value": 1, "missing_label": 1,
                               "duplicate_sample": 1, "unparseable_line": 1}
    rejected = {(r["source_row"], r["reason"]) for r in
                quarantine(lake, "telemetry", "dcgm-2026-01-05.prom")}
    assert (22, "outside_day") in rejected and (27, "unparseable_line") in rejected

    a, b = lake.read_table("gpu_telemetry_daily", DAY).to_pylist()
    assert (a["gpu_uuid"], a["gpu_serial"], a["hostname"], a["model_name"]) == (
        UUID_A, "1652922001234", "node-03", "NVIDIA H100 80GB HBM3")
    assert (a["samples"], a["scrape_interval_s"], a["minutes_online"]) == (5, 600, 50.0)
    assert a["util_mean"] == 40.0
    assert a["util_p95"] == pytest.approx(88.0)  # linear between 40 and 100 at 0.95
    assert (a["temp_max"], a["power_mean"], a["xid_error_samples"]) == (74.5, 400.0, 2)
    assert (a["first_seen"], a["last_seen"]) == (datetime(2026, 1, 5, 0, 0), datetime(2026, 1, 5, 0, 40))
    assert b["model_name"] == 'H100 "SXM", rev\\2' and b["hostname"] == "node-04"
    assert (b["samples"], b["util_mean"], b["minutes_online"]) == (2, 50.0, 20.0)
    assert a["source_sha256"] == summary.sha256

    before = lake.partition_path("gpu_telemetry_daily", DAY).read_bytes()
    take_in_inbox(lake)
    ingest_telemetry_day(DAY, lake)
    assert lake.partition_path("gpu_telemetry_daily", DAY).read_bytes() == before


# ---------------------------------------------------------------------------------------------- custodian

STATEMENT_HEADER = ("statement_date,cut_off_time,custodian_id,account_id,record_type,cusip,security_description,"
                    "maturity_date,par_value,price,market_value,amount,currency,transaction_type,reference")
RECEIPT_TX = "0x" + "9F" * 32
GOOD_STATEMENT_ROWS = [
    "2026-01-05,2026-01-05T23:59:59Z,bny,ACC-1,opening_cash,,,,,,,1500000.00,USD,,",
    f"2026-01-05,2026-01-05T23:59:59Z,bny,ACC-1,transaction,,,,,,,250000.00,USD,cash_receipt,{RECEIPT_TX}",
    "2026-01-05,2026-01-05T23:59:59Z,bny,ACC-1,transaction,912797LB1,,,1000000,,,989123.45,USD,tbill_purchase,T-77",
    "2026-01-05,2026-01-05T23:59:59Z,bny,ACC-1,holding,912797LB1,US T-Bill 2026-03-26,2026-03-26,1000000,98.9123451234,989123.45,,USD,,",
    "2026-01-05,2026-01-05T23:59:59Z,bny,ACC-1,closing_cash,,,,,,,760876.55,USD,,",
]


def statement(lake: Lake, rows: list[str]) -> None:
    write(lake.home.inbox / "custodian" / "bny-2026-01-05.csv", "\n".join([STATEMENT_HEADER, *rows]) + "\n")


def test_custodian_statement_rows_land_as_exact_decimals(lake):
    statement(lake, GOOD_STATEMENT_ROWS)
    take_in_inbox(lake)
    (summary,) = ingest_custodian_day(DAY, lake)
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined) == (5, 5, 0)
    rows = lake.read_table("custodian_statements", DAY).to_pylist()
    opening, receipt, purchase, holding, closing = rows
    assert opening["amount"] == Decimal("1500000") and opening["cut_off_time"] == datetime(2026, 1, 5, 23, 59, 59)
    assert receipt["reference"] == RECEIPT_TX.lower()
    assert purchase["reference"] == "T-77" and purchase["par_value"] == Decimal("1000000")
    assert holding["price"] == Decimal("98.9123451234") and holding["maturity_date"] == date(2026, 3, 26)
    assert holding["market_value"] == Decimal("989123.45") and holding["amount"] is None
    assert closing["amount"] == Decimal("760876.55")
    assert [row["source_row"] for row in rows] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("row_index", "old", "new", "field", "reason"),
    [
        (3, "912797LB1", "912797LB2", "cusip", "cusip_check_digit"),
        (3, "912797LB1", "912797LB", "cusip", "invalid_cusip"),
        (3, "98.9123451234", "", "price", "missing_value"),
        (0, "opening_cash", "opening_balance", "record_type", "unknown_record_type"),
        (2, "tbill_purchase", "tbill_sale", "transaction_type", "unknown_transaction_type"),
        (1, RECEIPT_TX, "T-1", "reference", "invalid_tx_hash"),
        (4, "760876.55", "-1.00", "amount", "negative_amount"),
        (4, "2026-01-05T23:59:59Z", "2026-01-05T18:59:59-05:00", "cut_off_time", "invalid_timestamp"),
        (4, "2026-01-05,2026", "2026-01-04,2026", "statement_date", "statement_date_mismatch"),
        (4, ",USD,", ",EUR,", "currency", "unknown_currency"),
        (4, ",bny,", ",state-street,", "custodian_id", "custodian_id_mismatch"),
    ],
)
def test_a_bad_statement_row_is_quarantined_with_its_field_and_reason(lake, row_index, old, new, field, reason):
    rows = list(GOOD_STATEMENT_ROWS)
    assert old in rows[row_index]
    rows[row_index] = rows[row_index].replace(old, new, 1)
    statement(lake, rows)
    take_in_inbox(lake)
    (summary,) = ingest_custodian_day(DAY, lake)
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined, summary.reasons) == (5, 4, 1, {reason: 1})
    (rejected,) = quarantine(lake, "custodian", "bny-2026-01-05.csv")
    assert (rejected["source_row"], rejected["field"], rejected["reason"]) == (row_index + 1, field, reason)
    assert row_index + 1 not in lake.read_table("custodian_statements", DAY).column("source_row").to_pylist()


# ---------------------------------------------------------------------------------------------- input_files

def test_input_files_holds_every_source_of_the_day_and_each_source_replaces_only_its_own_rows(lake):
    tape(lake, GOOD_TAPE_ROWS)
    statement(lake, GOOD_STATEMENT_ROWS)
    write(lake.home.inbox / "telemetry" / "dcgm-2026-01-05.prom",
          sample("DCGM_FI_DEV_GPU_UTIL", UUID_A, "1652922001234", "1", T0) + "\n")
    take_in_inbox(lake)
    ingest_loan_tapes_day(DAY, lake)
    take_in_inbox(lake)
    ingest_telemetry_day(DAY, lake)
    take_in_inbox(lake)
    (custodian_summary,) = ingest_custodian_day(DAY, lake)
    tape(lake, [GOOD_TAPE_ROWS[0]])
    take_in_inbox(lake)
    ingest_loan_tapes_day(DAY, lake)
    manifest = {(r["source"], r["file_name"]): r for r in lake.read_table("input_files", DAY).to_pylist()}
    assert set(manifest) == {("loan_tapes", "acme-2026-01-05.csv"), ("telemetry", "dcgm-2026-01-05.prom"),
                             ("custodian", "bny-2026-01-05.csv")}
    assert manifest[("loan_tapes", "acme-2026-01-05.csv")]["rows_in"] == 1
    # one scrape in the whole file says nothing about the cadence: no interval, no minutes online
    (gpu,) = lake.read_table("gpu_telemetry_daily", DAY).to_pylist()
    assert (gpu["samples"], gpu["scrape_interval_s"], gpu["minutes_online"]) == (1, None, None)
    custodian_row = manifest[("custodian", "bny-2026-01-05.csv")]
    assert custodian_row["sha256"] == custodian_summary.sha256
    # the statement left the drop folder for the archive, under its hash
    archived = lake.home.archive / "custodian" / "2026-01-05" / f"{custodian_summary.sha256}-bny-2026-01-05.csv"
    assert custodian_row["size_bytes"] == archived.stat().st_size == len(
        ("\n".join([STATEMENT_HEADER, *GOOD_STATEMENT_ROWS]) + "\n").encode())
    assert not (lake.home.inbox / "custodian" / "bny-2026-01-05.csv").exists()
