"""`backed chain ...`: the chain source from the command line (registered by orchestration/cli/__init__.py)."""
from __future__ import annotations

import json
from typing import Any

import click


@click.group()
def chain() -> None:
    """The chain source: decode raw logs, list the events the registry knows."""


@chain.command()
@click.argument("file", type=click.File("r"))
def decode(file) -> None:
    """Decode raw eth_getLogs results from FILE ('-' for stdin) and print one JSON object per log.

    FILE holds a JSON array of logs as a node returns them (a whole JSON-RPC answer, or a transaction receipt
    with its `logs`, is read too). Each line has `event`, `signature`, `status` (`modelled`: the ledger reads it;
    `declared, not modelled`: decoded and kept, no model reads it), `release` (the release that emits it, where
    known), `address`, `block_number`, `tx_hash`, `log_index` and `args` by the contract's names (integers as
    decimal strings, addresses checksummed, bytes as 0x hex, arrays and tuples as lists); a log no registered event
    matches has `event` null and its raw `topics` and `data`.
    """
    try:
        raw_logs = _raw_logs(json.load(file))
    except ValueError as error:
        raise click.ClickException(f"{file.name}: {error}") from None
    unknown, declared = 0, set()
    for raw_log in raw_logs:
        try:
            line = log_as_json(raw_log)
        except (KeyError, TypeError, ValueError) as error:
            raise click.ClickException(f"{file.name}: not an eth_getLogs log: {error!r}") from None
        unknown += line["event"] is None
        if line["event"] is not None and line["status"] != "modelled":
            declared.add(line["event"])
        click.echo(json.dumps(line))
    if declared:
        click.echo(f"declared, not modelled (decoded, no ledger rule reads them): {', '.join(sorted(declared))}",
                   err=True)
    if unknown:
        click.echo(f"{unknown} of {len(raw_logs)} logs have a topic0 the registry does not know", err=True)


@chain.command()
@click.option("--status", type=click.Choice(["all", "modelled", "declared"]), default="all", show_default=True,
              help="modelled: read by the ledger and the checks; declared: decoded and kept, no model reads them.")
@click.option("--released", is_flag=True, help="Only the events a release is known to emit.")
def events(status: str, released: bool) -> None:
    """List every event the registry decodes: name, indexed count, topic0, status and the release that emits it.

    The registry is every event the public USD.AI repositories declare (assets/chain/usdai_events_catalogue.json)
    and the library events of assets/chain/events.toml; docs/chain-events.md says what each status means."""
    from assets.chain.registry import REGISTRY

    specs = sorted(REGISTRY.values(), key=lambda spec: (spec.name, spec.signature, spec.indexed_count))
    shown = [spec for spec in specs
             if (status == "all" or (spec.modelled == (status == "modelled"))) and (spec.release or not released)]
    for spec in shown:
        click.echo(f"{spec.signature:<72} indexed {spec.indexed_count}  {spec.topic0}  {spec.status:<22}  "
                   f"{spec.release or '-'}")
    click.echo(f"{len(shown)} of {len(specs)} events ({sum(spec.modelled for spec in specs)} modelled)", err=True)


def log_as_json(raw_log: dict) -> dict[str, Any]:
    """One raw log as `backed chain decode` prints it."""
    from eth_utils import to_checksum_address

    from assets.chain.registry import argument_values, decode_log

    decoded = decode_log(raw_log)
    where = {
        "address": to_checksum_address(raw_log["address"]),
        "block_number": _number(raw_log.get("blockNumber")),
        "tx_hash": (raw_log.get("transactionHash") or "").lower() or None,
        "log_index": _number(raw_log.get("logIndex")),
    }
    if decoded is None:
        topics = [topic.lower() for topic in raw_log.get("topics") or []]
        return {"event": None, "signature": None, **where, "topic0": topics[0] if topics else None,
                "topics": topics, "data": (raw_log.get("data") or "0x").lower()}
    return {"event": decoded.event.name, "signature": decoded.event.signature, "status": decoded.event.status,
            "release": decoded.event.release or None, **where, "topic0": decoded.event.topic0,
            "args": argument_values(decoded)}


def _raw_logs(document: Any) -> list[dict]:
    if isinstance(document, dict):
        document = document.get("result", document.get("logs"))
    if not isinstance(document, list) or not all(isinstance(raw_log, dict) for raw_log in document):
        raise ValueError("expected a JSON array of logs (or a JSON-RPC answer, or a receipt with `logs`)")
    return document


def _number(value: str | int | None) -> int | None:
    if value is None:
        return None
    return value if isinstance(value, int) else int(value, 16)


if __name__ == "__main__":
    chain()
