"""Ingestion of the four sources (chain, loan tapes, GPU telemetry, custodian statements) into the lake.

Kept free of imports: Dagster loads this package at start-up and the heavy libraries load per module.
"""
