"""The custodian statements' ingestion asset and how their files are recognised.

A day's statements are the files routed to it (taken in by the `inbox_receipts` asset before); each day of the run's
window is rebuilt from them, its Parquet written atomically.
"""
import dagster as dg

from assets.custodian import iso20022, statements
from assets.inbox.manifest import ingest_window
from assets.inbox.row_validation import recognise_document
from assets.source import HEADER, INGEST_RETRY, SIGNATURE, FileRecogniser, Source
from foundation.home_resource import BackedHome
from foundation.lake import Lake
from foundation.partitions import daily_partitions, offchain_backfill_policy

STATEMENT_TABLES = ("custodian_statements", "balance_assertions", "custodian_statement_supersessions")


@dg.multi_asset(
    specs=[
        dg.AssetSpec("custodian_statements", description="Custodian statements (ISO 20022 semt.002 and camt.053, or "
                     "CSV): cash balances, T-bill holdings by CUSIP, transactions.", group_name="custodian",
                     kinds={"parquet"}, deps=["inbox_receipts"]),
        dg.AssetSpec("balance_assertions", description="Closing balances the custodian asserts, each on its ledger "
                     "account at the statement's cut-off (1000 cash, 1010 T-bills by CUSIP and in total).",
                     group_name="custodian", kinds={"parquet"}, deps=["inbox_receipts"]),
        dg.AssetSpec("custodian_statement_supersessions", description="Re-sent or corrected statements: which "
                     "statement file replaced which, and when.", group_name="custodian", kinds={"parquet"},
                     deps=["inbox_receipts"]),
    ],
    partitions_def=daily_partitions,
    backfill_policy=offchain_backfill_policy(),
    retry_policy=INGEST_RETRY,
    name="custodian_ingestion",
)
def custodian_ingestion(context: dg.AssetExecutionContext, backed_home: BackedHome):
    metadata = ingest_window(context, Lake(backed_home.paths), statements.ingest_custodian_day)
    for key in STATEMENT_TABLES:
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


SOURCE = Source(
    name=statements.SOURCE,
    group="custodian",
    description="Custodian statements: cash and T-bill holdings by CUSIP (ISO 20022 semt.002 / camt.053, or CSV).",
    lake_tables=STATEMENT_TABLES,
    assets=(custodian_ingestion,),
    recognisers=(
        FileRecogniser(
            "iso20022", SIGNATURE,
            claim=lambda head: float(head.text.lstrip().startswith("<")),
            recognise=lambda path, name: recognise_document(
                path, lambda content: statements.recognise_message(content, name)),
            separate=iso20022.separate_documents),
        FileRecogniser(
            statements.CSV_FORMAT, HEADER,
            claim=lambda head: statements.header_score(head.csv_header) if head.csv_header else 0.0,
            recognise=lambda path, name: recognise_document(
                path, lambda content: statements.recognise(content, statements.CSV_FORMAT, name))),
    ),
    ingest_day=statements.ingest_custodian_day,
)
