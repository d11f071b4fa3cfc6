"""`backed chain ...`: the chain source from the command line (registered by orchestration/cli/__init__.py)."""
from __future__ import annotations

import json
from typing import Any

import click


@click.group()
def chain() -> None:
    """The chain source: decode raw logs."""


@chain.command()
@click.argument("file", type=click.File("r"))
def decode(file) -> None:
    """Decode raw eth_getLogs results from FILE ('-' for stdin) and print one JSON object per log.

    FILE holds a JSON array of logs as a node returns them (a whole JSON-RPC answer, or a transaction receipt
    with its `logs`, is read too). Each line has `event`, `signature`, `address`, `block_number`, `tx_hash`,
    `log_index` and `args` (integers as decimal strings, addresses checksummed, bytes as 0x hex); a log no
    registered event matches has `event` null and its raw `topics` and `data`.
    """
    try:
        raw_logs = _raw_logs(json.load(file))
    except ValueError as error:
        raise click.ClickException(f"{file.name}: {error}") from None
    unknown = 0
    for raw_log in raw_logs:
        try:
            line = log_as_json(raw_log)
        except (KeyError, TypeError, ValueError) as error:
            raise click.ClickException(f"{file.name}: not an eth_getLogs log: {error!r}") from None
        unknown += line["event"] is None
        click.echo(json.dumps(line))
    if unknown:
        click.echo(f"{unknown} of {len(raw_logs)} logs have a topic0 the registry does not know", err=True)


def log_as_json(raw_log: dict) -> dict[str, Any]:
    """One raw log as `backed chain decode` prints it."""
    from eth_utils import to_checksum_address

    from assets.chain.registry import decode_log

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
    args = {event_input.name: _json_value(decoded.args[event_input.column]) for event_input in decoded.event.inputs}
    return {"event": decoded.event.name, "signature": decoded.event.signature, **where,
            "topic0": decoded.event.topic0, "args": args}


def _raw_logs(document: Any) -> list[dict]:
    if isinstance(document, dict):
        document = document.get("result", document.get("logs"))
    if not isinstance(document, list) or not all(isinstance(raw_log, dict) for raw_log in document):
        raise ValueError("expected a JSON array of logs (or a JSON-RPC answer, or a receipt with `logs`)")
    return document


def _json_value(value: Any) -> Any:
    # bool before int: a bool is an int in Python, and must stay a JSON boolean
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    return value


def _number(value: str | int | None) -> int | None:
    if value is None:
        return None
    return value if isinstance(value, int) else int(value, 16)


if __name__ == "__main__":
    chain()
