"""The reconciliation checks of docs/design.md (R1–R11) and the hygiene checks (H1–H9): one dbt model each.

Each check's comparisons are the dbt model named for what it asserts (dbt_project/models/reconciliation/, a view
over all history): evaluation rows, one per day and entity, with exact decimal strings, the tolerance applied, each
source's own cut-off, and a `within_tolerance` flag computed in DECIMAL by DuckDB. A check selects its window's
days of the model; Great Expectations validates the rows; failing rows become exceptions under the check's id.
A day is evaluated only where its sources exist: a missing source is R9's break, not every other check's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import pandas as pd

from expectations.exceptions import BREAK_COLUMNS

EVALUATION_COLUMNS = [
    "check_date", "entity_key", "severity", "expected", "actual", "difference", "tolerance", "within_tolerance",
    "description", "cutoffs", "lineage",
]


@dataclass(frozen=True)
class Reconciliation:
    check_id: str
    model: str
    title: str
    # The asset the Dagster check is attached to: the mart the comparison is about.
    asset: str
    key_columns: list[str] = field(default_factory=lambda: ["check_date", "entity_key"])

    @property
    def name(self) -> str:
        """The asset check's name: the model's, which says what the check asserts."""
        return self.model

    def evaluate(self, con: duckdb.DuckDBPyConnection, days: list[date]) -> pd.DataFrame:
        """The model's rows of `days` (first to last, both inclusive), in a stable order: by day and entity, then
        by every other column, so that rows sharing a key come in the same order on every evaluation."""
        columns = ", ".join(EVALUATION_COLUMNS)
        frame = con.execute(
            f"select {columns} from main.{self.model} where check_date between ? and ? order by all",
            [min(days), max(days)]).df()
        return frame.reset_index(drop=True)

    def breaks(self, rows: pd.DataFrame, failing_indexes: list[int]) -> pd.DataFrame:
        """The failing rows as breaks (exceptions.BREAK_COLUMNS), as a frame: a window can hold thousands."""
        failing = rows.loc[failing_indexes] if failing_indexes else rows.iloc[0:0]
        frame = failing.assign(check_id=self.check_id, check_date=pd.to_datetime(failing["check_date"]).dt.date)
        return frame[BREAK_COLUMNS].astype({c: str for c in BREAK_COLUMNS if c not in ("check_date",)}) \
            .reset_index(drop=True)


RECONCILIATIONS = [
    Reconciliation("R1", "r1_supply_matches_events",
                   "Event-derived USDai supply equals totalSupply() at the day's last block",
                   asset="usdai_supply_reconciliation"),
    Reconciliation("R2", "r2_supply_backed_on_chain",
                   "USDai supply is backed by the base token on chain; protocol stablecoin balances equal ledger 1020",
                   asset="reserve_coverage"),
    Reconciliation("R3", "r3_custody_matches_ledger",
                   "Custodian cash and T-bill holdings by CUSIP equal ledger 1000 and 1010",
                   asset="reserve_balances"),
    Reconciliation("R4", "r4_liquid_reserves_cover_supply",
                   "Off-chain and on-chain backing covers the USDai held outside the protocol",
                   asset="reserve_coverage"),
    Reconciliation("R5", "r5_loans_match_tapes",
                   "Every on-chain loan is on a lender's tape and vice versa; principal and status agree",
                   asset="trial_balance"),
    Reconciliation("R6", "r6_susdai_assets_match_ledger",
                   "sUSDai totalAssets() equals the ledger's holders' claim (2100) plus the allowance less the "
                   "insurance claims receivable",
                   asset="reserve_coverage"),
    Reconciliation("R7", "r7_collateral_gpus_online",
                   "Every performing loan's collateral GPUs reported telemetry for most of the day without XID errors",
                   asset="trial_balance"),
    Reconciliation("R8", "r8_ledger_balances",
                   "Every journal entry and every day's trial balance sums to zero; every line has lineage",
                   asset="journal_lines"),
    Reconciliation("R9", "r9_sources_delivered",
                   "Every source delivered for the day: chain to a confirmed block, the custodian statement, tapes, "
                   "telemetry",
                   asset="trial_balance"),
    Reconciliation("R10", "r10_assets_cover_liabilities",
                   "Solvency: total assets net of the allowance cover USDai outstanding, the sUSDai claim and "
                   "redemptions payable",
                   asset="reserve_coverage"),
    Reconciliation("R11", "r11_journal_matches_attestations",
                   "Every journal entry of an attested day is as it was attested; nothing was posted on an attested "
                   "day since without a change in its inputs", asset="journal_lines"),
    Reconciliation("H1", "h1_supply_growth_within_limits",
                   "USDai supply: no day-over-day rise above the limit (5% as the public monitor), never above the cap",
                   asset="usdai_supply_reconciliation"),
    Reconciliation("H2", "h2_source_volumes_steady",
                   "No source's daily volume drops by more than the limit from the previous day",
                   asset="trial_balance"),
    Reconciliation("H3", "h3_cutoffs_fresh",
                   "Each source's cut-off is close to the end of its day (chain state block, statement, last "
                   "telemetry sample)",
                   asset="trial_balance"),
    Reconciliation("H4", "h4_input_files_match_layouts",
                   "No input file carries columns its source's layout does not read (schema drift)",
                   asset="trial_balance"),
    Reconciliation("H5", "h5_no_rows_quarantined",
                   "Every quarantined row and every rejected file is an exception someone must chase",
                   asset="trial_balance"),
    Reconciliation("H6", "h6_chain_reorgs_restated",
                   "A chain reorganisation reached an ingested day: the day was re-ingested (or withdrawn) and restated",
                   asset="usdai_supply_reconciliation"),
    Reconciliation("H7", "h7_susdai_yield_explained",
                   "sUSDai's share price grew by what the ledger explains: income net of the admin fee, less the "
                   "credit losses borne, plus the change in losses the vault has not marked",
                   asset="reserve_coverage"),
    Reconciliation("H8", "h8_contracts_unchanged",
                   "The protocol's contracts did not change: no upgrade, admin or role change, pause or new parameter",
                   asset="contract_changes"),
    Reconciliation("H9", "h9_prefundings_settled",
                   "No loan pre-funding is held in the deposit timelock past its expiration, neither originated nor "
                   "cancelled", asset="trial_balance"),
]
