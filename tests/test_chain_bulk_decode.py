"""The bulk decoder (`decode_logs`, by event layout) gives exactly the rows of the per-log reference
(`decode_log` + `event_row`): on the bench's history from a real node, on a log of every registered event, and on
the edge cases (2^255, dynamic bytes, ERC-20 against ERC-721, payloads that do not fit)."""
from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest
from eth_abi import encode as abi_encode

from assets.chain.event_rows import DecodedLogs, decode_logs, event_row, lake_table
from assets.chain.registry import REGISTRY, decode_log, signature_topic0
from bench.chain_ingest import BULK_EMITTER_SOL, GENESIS, build_history, compile_contracts
from foundation.money import RawAmountOutOfRange
from tests.local_chain import LocalChain

CONTRACT = "0x" + "ab" * 20
ROLES = {CONTRACT: "usdai"}


def _reference(raw_logs: list[dict], roles: dict[str, str]) -> tuple[pa.Table, list[int]]:
    """The chain_events table and the unknown positions, one log at a time, in chain order."""
    order = sorted(range(len(raw_logs)), key=lambda i: (int(raw_logs[i]["blockNumber"], 16),
                                                       int(raw_logs[i]["logIndex"], 16)))
    rows, unknown = [], []
    for position in order:
        decoded = decode_log(raw_logs[position])
        if decoded is None:
            unknown.append(position)
        else:
            rows.append(event_row(decoded, None, roles.get(raw_logs[position]["address"].lower())))
    return lake_table("chain_events", rows), sorted(unknown)


def _same_as_reference(raw_logs: list[dict], roles: dict[str, str] = ROLES) -> DecodedLogs:
    expected, unknown = _reference(raw_logs, roles)
    bulk = decode_logs(raw_logs, roles)
    assert bulk.events.schema == expected.schema
    for name in expected.column_names:
        assert bulk.events[name].equals(expected[name]), (name, bulk.events[name], expected[name])
    assert bulk.events.equals(expected)
    assert sorted(bulk.unknown) == unknown
    return bulk


def _word(value: int) -> str:
    return f"{value:064x}"


def _address_word(rng: random.Random) -> str:
    return _word(rng.getrandbits(160))


def _log(topics: list[str], data: str, index: int = 0, block: int = 7, address: str = CONTRACT) -> dict:
    return {"address": address, "topics": topics, "data": data, "blockNumber": hex(block),
            "blockHash": "0x" + f"{block:064x}", "transactionHash": "0x" + f"{1000 + index:064x}",
            "transactionIndex": "0x0", "logIndex": hex(index), "removed": False}


def _topic0(signature: str) -> str:
    return signature_topic0(signature)


TRANSFER, APPROVAL = _topic0("Transfer(address,address,uint256)"), _topic0("Approval(address,address,uint256)")


def _value_of(abi_type: str, rng: random.Random):
    if abi_type == "address":
        return "0x" + f"{rng.getrandbits(160):040x}"
    if abi_type == "bool":
        return rng.random() < 0.5
    if abi_type.startswith("uint") and "[" not in abi_type:
        return rng.getrandbits(min(int(abi_type[4:]), 100))
    if abi_type == "bytes":
        return rng.randbytes(rng.randint(0, 70))
    if abi_type.startswith("bytes"):
        return rng.randbytes(int(abi_type[5:]))
    if abi_type == "string":
        return 'prêt "à" partir'
    if abi_type == "uint256[]":
        return [1, 2**255, 0]
    if abi_type == "address[]":
        return ["0x" + "12" * 20]
    if abi_type == "(uint256,uint256)[]":
        return [(1, 2), (3, 4)]
    raise AssertionError(f"no sample value for {abi_type}")


def _fitting_log(spec, rng: random.Random, index: int) -> dict:
    """A log of `spec` with random arguments of its types."""
    topics = [spec.topic0]
    unindexed_types, unindexed_values = [], []
    for event_input in spec.inputs:
        if event_input.indexed:
            if event_input.hashed_in_topic:
                topics.append("0x" + rng.randbytes(32).hex())
            else:
                topics.append("0x" + abi_encode([event_input.abi_type],
                                                [_value_of(event_input.abi_type, rng)]).hex())
        else:
            unindexed_types.append(event_input.abi_type)
            unindexed_values.append(_value_of(event_input.abi_type, rng))
    return _log(topics, "0x" + abi_encode(unindexed_types, unindexed_values).hex(), index=index,
                block=7 + index // 5)


def test_every_registered_event_decodes_to_the_reference_rows():
    rng = random.Random(25)
    raw_logs = [_fitting_log(spec, rng, index) for index, spec in enumerate(sorted(
        REGISTRY.values(), key=lambda spec: spec.signature)) for _ in range(3)]
    # logs with the same key several times, interleaved
    rng.shuffle(raw_logs)
    bulk = _same_as_reference(raw_logs)
    assert bulk.events.num_rows == len(raw_logs) and not bulk.unknown


def test_amount_edges_and_erc20_against_erc721():
    sender, receiver = "0x" + _word(0xAAAA), "0x" + _word(0xBBBB)
    raw_logs = [
        _log([TRANSFER, sender, receiver], "0x" + _word(0), index=0),
        _log([TRANSFER, sender, receiver], "0x" + _word(10**38 - 1), index=1),
        _log([TRANSFER, sender, receiver], "0x" + _word(2**64), index=2),
        # an unlimited allowance is null in `value`, whole in `arguments`
        _log([APPROVAL, sender, receiver], "0x" + _word(2**256 - 1), index=3),
        _log([APPROVAL, sender, receiver], "0x" + _word(2**255), index=4),
        _log([APPROVAL, sender, receiver], "0x" + _word(10**38), index=5),
        # ERC-721: the same topic0s with the token id indexed
        _log([TRANSFER, sender, receiver, "0x" + _word(2**256 - 1)], "0x", index=6),
        _log([TRANSFER, sender, receiver, "0x" + _word(2**255)], "0x", index=7),
        _log([APPROVAL, sender, receiver, "0x" + _word(0)], "0x", index=8),
        _log([_topic0("ApprovalForAll(address,address,bool)"), sender, receiver], "0x" + _word(1), index=9),
        _log([_topic0("ApprovalForAll(address,address,bool)"), sender, receiver], "0x" + _word(0), index=10),
        _log([_topic0("LenderRepaid(bytes32,address,uint8,uint256,uint256,uint256)"), "0x" + "cd" * 32, sender,
              "0x" + _word(255)], "0x" + _word(1) + _word(10**30) + _word(0), index=11),
    ]
    bulk = _same_as_reference(raw_logs)
    assert bulk.events["value"].to_pylist()[3:6] == [None, None, None]
    assert '"value":"115792089237316195423570985008687907853269984665640564039457584007913129639935"' in (
        bulk.events["arguments"][3].as_py())
    assert bulk.events["token_id"][6].as_py() == str(2**256 - 1)


@pytest.mark.parametrize("value", [10**38, 2**255, 2**256 - 1])
def test_an_amount_too_large_fails_as_the_reference_does(value):
    raw_log = _log([TRANSFER, "0x" + _word(1), "0x" + _word(2)], "0x" + _word(value), index=3)
    with pytest.raises(RawAmountOutOfRange) as reference:
        event_row(decode_log(raw_log), None, None)
    with pytest.raises(RawAmountOutOfRange) as bulk:
        decode_logs([raw_log], ROLES)
    assert str(bulk.value) == str(reference.value)


def test_dynamic_bytes_events_take_the_per_log_path():
    hashes = ["0x" + "11" * 32, "0x" + "22" * 32]
    raw_logs = [
        _log([_topic0("LoanMigrated(bytes32,bytes32,bytes)"), *hashes],
             "0x" + abi_encode(["bytes"], [b"\x01" * 70]).hex(), index=0),
        _log([_topic0("LoanRefinanced(bytes32,bytes32,bytes)"), *hashes], "0x" + abi_encode(["bytes"], [b""]).hex(),
             index=1),
        _log([_topic0("BundleMinted(uint256,address,bytes)"), "0x" + _word(2**255), "0x" + _word(0xCAFE)],
             "0x" + abi_encode(["bytes"], [b"bundle"]).hex(), index=2),
        _log([TRANSFER, "0x" + _word(1), "0x" + _word(2)], "0x" + _word(5), index=3),
    ]
    bulk = _same_as_reference(raw_logs)
    assert bulk.events.num_rows == 4


def test_payloads_that_do_not_fit_are_handled_as_the_reference_handles_them():
    sender, receiver = "0x" + _word(1), "0x" + _word(2)
    approval_for_all = _topic0("ApprovalForAll(address,address,bool)")
    lender_repaid = _topic0("LenderRepaid(bytes32,address,uint8,uint256,uint256,uint256)")
    raw_logs = [
        _log(["0x" + "ee" * 32, sender], "0x", index=0),  # unknown topic0
        _log([TRANSFER, sender, receiver], "0x1234", index=1),  # truncated data
        _log([TRANSFER, sender, receiver], "0x" + _word(3) + _word(4), index=2),  # a word too many
        _log([TRANSFER, sender, receiver, "0x" + _word(1), "0x" + _word(2)], "0x", index=3),  # extra topics
        _log([TRANSFER, "0x" + "ff" * 32, receiver], "0x" + _word(3), index=4),  # address padding not zero
        _log([TRANSFER, sender, receiver], "0x" + _word(0xABCDEF).upper(), index=5),  # upper-case hex
        _log([TRANSFER.upper().replace("0X", "0x"), sender, receiver], "0x" + _word(3), index=6),
        _log([TRANSFER, sender[2:], receiver], "0x" + _word(3), index=7),  # a topic without 0x
        _log([TRANSFER, sender, receiver], "0x" + "zz" * 32, index=8),
        _log([TRANSFER, sender, receiver[:-2]], "0x" + _word(3), index=9),  # a topic a byte short
        _log([approval_for_all, sender, receiver], "0x" + _word(2), index=10),  # a bool of 2
        _log([lender_repaid, "0x" + "cd" * 32, sender, "0x" + _word(256)], "0x" + _word(1) * 3, index=11),
        _log([], "0x", index=12),  # no topics
        {**_log([TRANSFER, sender, receiver], "0x", index=13), "data": None},
        {**_log([TRANSFER, sender, receiver], "0x" + _word(9), index=14), "topics": None},
        _log([TRANSFER, sender, receiver], "0x" + _word(7), index=15),  # one that fits, among them
    ]
    bulk = _same_as_reference(raw_logs)
    assert 0 in bulk.unknown and 1 in bulk.unknown and bulk.events.num_rows >= 2


def test_an_empty_answer():
    bulk = _same_as_reference([])
    assert bulk.events.num_rows == 0 and bulk.unknown == []


def test_the_bench_history_decodes_to_the_reference_rows(tmp_path: Path):
    assert "BulkEmitter" in BULK_EMITTER_SOL
    chain = LocalChain(GENESIS)
    try:
        emitter, first, last = build_history(chain, compile_contracts(tmp_path)["BulkEmitter"], target_logs=2_000)
        raw_logs = chain.rpc.get_logs(first, last, [emitter])
    finally:
        chain.close()
    assert len(raw_logs) >= 2_000
    roles = {emitter.lower(): "susdai"}
    bulk = _same_as_reference(raw_logs, roles)
    assert bulk.events.num_rows == len(raw_logs)
    # several answers of one range, each decoded alone, give the same rows
    halves = [raw_logs[: len(raw_logs) // 2], raw_logs[len(raw_logs) // 2:]]
    assert pa.concat_tables([decode_logs(half, roles).events for half in halves]).equals(bulk.events)
