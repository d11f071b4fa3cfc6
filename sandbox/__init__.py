"""The sandbox: a local world the whole pipeline is tested against.

Solidity contracts that emit the real USD.AI event signatures (compiled by solcjs), a local anvil node, and a
seeded simulator that drives days of protocol life on chain and writes the matching off-chain files (loan tapes,
DCGM telemetry, custodian statements) plus the ledger balances the pipeline must arrive at.
"""
