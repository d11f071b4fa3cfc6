"""Lenders' loan tapes (CSV, XLSX) -> `loan_tapes`, `loan_collateral`, `loan_tape_supersessions`."""
