"""The loan tapes' ingestion asset and how their files are recognised.

A day's tapes are the files routed to it (taken in by the `inbox_receipts` asset before); each day of the run's
window is rebuilt from them, its Parquet written atomically.
"""
import dagster as dg

from assets.inbox.manifest import ingest_window
from assets.inbox.row_validation import recognise_document
from assets.loan_tapes import tape
from assets.source import HEADER, INGEST_RETRY, SIGNATURE, FileRecogniser, Source
from foundation.home_resource import BackedHome
from foundation.lake import Lake
from foundation.partitions import daily_partitions, offchain_backfill_policy

ZIP_CONTAINER = b"PK\x03\x04"  # an XLSX workbook is a ZIP container

TAPE_TABLES = ("loan_tapes", "loan_collateral", "loan_tape_supersessions")


@dg.multi_asset(
    specs=[
        dg.AssetSpec("loan_tapes", description="Lenders' loan tapes (CSV or XLSX, per-lender layouts): one row per loan "
                     "per day, with insurance cover.", group_name="loan_books", kinds={"parquet"},
                     deps=["inbox_receipts"]),
        dg.AssetSpec("loan_collateral", description="Collateral schedules: loan → GPU title NFT → GPU serials / UUIDs.",
                     group_name="loan_books", kinds={"parquet"}, deps=["inbox_receipts"]),
        dg.AssetSpec("loan_tape_supersessions", description="Corrected tapes: which tape file replaced which, and when.",
                     group_name="loan_books", kinds={"parquet"}, deps=["inbox_receipts"]),
    ],
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),
    retry_policy=INGEST_RETRY,
    name="loan_tape_ingestion",
)
def loan_tape_ingestion(context: dg.AssetExecutionContext, backed_home: BackedHome):
    metadata = ingest_window(context, Lake(backed_home.paths), tape.ingest_loan_tapes_day)
    for key in TAPE_TABLES:
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


SOURCE = Source(
    name=tape.SOURCE,
    group="loan_books",
    description="Lenders' loan tapes: one row per loan per day, with its collateral schedule (CSV or XLSX).",
    lake_tables=TAPE_TABLES,
    assets=(loan_tape_ingestion,),
    recognisers=(
        FileRecogniser(
            tape.XLSX_FORMAT, SIGNATURE,
            claim=lambda head: float(head.data.startswith(ZIP_CONTAINER)),
            recognise=lambda path, name: recognise_document(
                path, lambda content: tape.recognise(content, tape.XLSX_FORMAT, name))),
        FileRecogniser(
            tape.CSV_FORMAT, HEADER,
            claim=lambda head: max((tape.header_score(row) for row in head.csv_lines(tape.HEADER_SCAN_ROWS) if row),
                                   default=0.0),
            recognise=lambda path, name: recognise_document(
                path, lambda content: tape.recognise(content, tape.CSV_FORMAT, name))),
    ),
    ingest_day=tape.ingest_loan_tapes_day,
)
