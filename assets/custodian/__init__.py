"""Custodian statements (ISO 20022 semt.002 and camt.053, or CSV) -> `custodian_statements`, `balance_assertions`."""
