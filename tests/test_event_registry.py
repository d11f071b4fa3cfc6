"""The registry covers the protocol: every event the public USD.AI repositories declare (the catalogue kept in
assets/chain) decodes by name with typed arguments, each version apart, through `backed chain decode`; an unknown
topic0 is kept raw and reported. Types the modelled events do not use (a tuple array, an indexed string, uint64,
an indexed uint128, arrays, bytes4) are also emitted by solc-compiled code on anvil, so their topic0s come from the
compiler."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from assets.chain.registry import CATALOGUE_PATH, OVERLAY_PATH, REGISTRY, decode_log, signature_topic0
from orchestration.cli.chain import chain as chain_cli
from tests.local_chain import EMITTERS_SOL, LocalChain, compile_solidity, utc

CATALOGUE = json.loads(CATALOGUE_PATH.read_text())["events"]
ALICE = to_checksum_address("0x" + "a1" * 20)
ENVELOPE = {"address": "0x" + "0b" * 20, "blockNumber": "0x10", "blockHash": "0x" + "b1" * 32,
            "transactionHash": "0x" + "7e" * 32, "removed": False}


def test_every_catalogue_event_is_registered_under_the_catalogues_topic0_and_indexed_count():
    for event in CATALOGUE:
        spec = REGISTRY[(event["topic0"], event["indexed_count"])]
        assert (spec.name, spec.signature) == (event["name"], event["signature"])
        assert signature_topic0(event["signature"]) == event["topic0"]
        parameters = event["declaration"][event["declaration"].index("("):]
        assert [i.name for i in spec.inputs] == [part.split()[-1] for part in _components(parameters) if part]
    assert len(REGISTRY) == len(CATALOGUE) + OVERLAY_PATH.read_text().count("[[also_emitted]]")
    # versions that share a name stay apart: a different topic0, or the same topic0 with other indexed arguments
    names = {}
    for spec in REGISTRY.values():
        names.setdefault(spec.name, set()).add((spec.topic0, spec.indexed_count))
    assert len(names["BaseYieldDeposited"]) == 2 and len(names["Transfer"]) == 2 and len(names["Withdrawn"]) == 7
    assert len(names["AuctionSettled"]) == 2 and len(names["AuctionCheckpointSet"]) == 2
    # the LayerZero events of the bridge adapters, checked against the topic0s their library publishes
    assert signature_topic0("OFTSent(bytes32,uint32,address,uint256,uint256)").endswith("2fe59a")
    assert signature_topic0("OFTReceived(bytes32,uint32,address,uint256)").endswith("78fd9c")


def test_the_modelled_events_are_the_ledgers_and_every_released_event_is_decoded():
    from assets.chain.registry import MODELLED_DECLARATIONS
    ledger = [key for key, spec in REGISTRY.items() if spec.model == "ledger"]
    assert len(ledger) == len(MODELLED_DECLARATIONS) == 44
    changes = {spec.name for spec in REGISTRY.values() if spec.model == "contract_changes"}
    assert {"Upgraded", "RoleGranted", "RoleRevoked", "Paused", "Unpaused", "SupplyCapSet", "DepositCapUpdated",
            "BaseYieldRateTiersSet", "FeeRecipientSet", "LiquidationFeeRateSet"} <= changes
    released = [event for event in CATALOGUE if event["emitted_by_release"]]
    assert len(released) == 25
    for event in released:
        spec = REGISTRY[(event["topic0"], event["indexed_count"])]
        assert spec.release, spec.signature
        assert spec.status in ("modelled", "declared, not modelled")


# One value per ABI type: the widest of each integer, both booleans, bytes of each size, non-ASCII text.
def _value(abi_type: str, seed: int):
    array = re.search(r"\[(\d*)\]$", abi_type)
    if array:
        return [_value(abi_type[:array.start()], seed + k) for k in range(int(array.group(1) or 2))]
    if abi_type.startswith("("):
        return tuple(_value(part, seed + k) for k, part in enumerate(_components(abi_type)))
    if abi_type == "address":
        return to_checksum_address(f"0x{seed + 1:040x}")
    if abi_type == "bool":
        return seed % 2 == 0
    if abi_type == "string":
        return f"action-{seed}-é"
    if abi_type == "bytes":
        return bytes(range(seed % 7, seed % 7 + 37))
    if abi_type.startswith("bytes"):
        return bytes([seed % 256]) * int(abi_type[5:])
    bits = int(re.sub(r"^u?int", "", abi_type) or 256)
    return (1 << bits) - 1 - seed if abi_type.startswith("uint") else -(1 << (bits - 1)) + seed


def _components(tuple_type: str) -> list[str]:
    inner, parts, depth, current = tuple_type[1:-1], [], 0, ""
    for character in inner:
        depth += (character == "(") - (character == ")")
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    return [*parts, current]


def _expected_json(abi_type: str, value):
    if isinstance(value, list | tuple):
        element_types = (_components(abi_type) if abi_type.startswith("(") and not abi_type.endswith("]")
                         else [abi_type[:abi_type.rindex("[")]] * len(value))
        return [_expected_json(t, v) for t, v in zip(element_types, value)]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def _hashed_in_topic(abi_type: str) -> bool:
    return abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type.startswith("(")


def _raw_log(spec, log_index: int) -> tuple[dict, dict]:
    """The log a contract emits for `spec` with the values of `_value`, and the arguments `backed chain decode`
    must print for it."""
    topics, unindexed_types, unindexed_values, expected = [spec.topic0], [], [], {}
    for position, event_input in enumerate(spec.inputs):
        value = _value(event_input.abi_type, position)
        if event_input.indexed and _hashed_in_topic(event_input.abi_type):
            # the ABI puts the keccak of the value's encoding in the topic; the value itself is not on chain
            encoded = value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else \
                abi_encode([event_input.abi_type], [value])
            topic = "0x" + keccak(encoded).hex()
            topics.append(topic)
            expected[event_input.name] = topic
            continue
        if event_input.indexed:
            topics.append("0x" + abi_encode([event_input.abi_type], [value]).hex())
        else:
            unindexed_types.append(event_input.abi_type)
            unindexed_values.append(value)
        expected[event_input.name] = _expected_json(event_input.abi_type, value)
    data = "0x" + abi_encode(unindexed_types, unindexed_values).hex()
    return {**ENVELOPE, "topics": topics, "data": data, "logIndex": hex(log_index)}, expected


def test_backed_chain_decode_prints_every_registered_event_by_name_and_keeps_an_unknown_one_raw(tmp_path):
    specs = sorted(REGISTRY.values(), key=lambda spec: (spec.name, spec.topic0, spec.indexed_count))
    logs, expected = [], []
    for log_index, spec in enumerate(specs):
        raw_log, arguments = _raw_log(spec, log_index)
        logs.append(raw_log)
        expected.append((spec, arguments))
    unknown_topic0 = signature_topic0("NotInTheCatalogue(uint256,uint256)")
    logs.append({**ENVELOPE, "topics": [unknown_topic0, "0x" + "00" * 31 + "07"], "data": "0x" + "00" * 31 + "08",
                 "logIndex": hex(len(specs))})
    (tmp_path / "logs.json").write_text(json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}))

    result = CliRunner().invoke(chain_cli, ["decode", str(tmp_path / "logs.json")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(specs) + 1
    for line, (spec, arguments) in zip(lines, expected):
        assert (line["event"], line["signature"], line["topic0"]) == (spec.name, spec.signature, spec.topic0)
        assert line["status"] == ("modelled" if spec.modelled else "declared, not modelled")
        assert line["args"] == arguments, spec.signature
        assert line["release"] == (spec.release or None)
    # LoanRouterV2's FeePaid, modelled since the ledger posts a fee paid to the protocol, prints by name with the
    # contract's argument names (its lake columns rename `kind` to fee_kind)
    (fee_paid,) = [line for line in lines if line["event"] == "FeePaid"]
    assert fee_paid["status"] == "modelled"
    assert list(fee_paid["args"]) == ["loanTermsHash", "kind", "recipient", "feeModel", "amount"]
    assert lines[-1]["event"] is None and lines[-1]["topics"][0] == unknown_topic0
    assert lines[-1]["data"] == "0x" + "00" * 31 + "08"
    assert "1 of %d logs have a topic0 the registry does not know" % len(logs) in result.stderr
    assert "declared, not modelled" in result.stderr and "ActionFailed" in result.stderr


def test_a_payload_that_does_not_fit_a_declared_event_is_kept_raw():
    spec = REGISTRY[(signature_topic0("BaseYieldRateTiersSet((uint256,uint256)[])"), 0)]
    raw_log, _ = _raw_log(spec, 0)
    assert decode_log(raw_log) is not None
    # an array length past the data
    assert decode_log({**raw_log, "data": raw_log["data"][:66] + "ff" * 32 + raw_log["data"][130:]}) is None
    assert decode_log({**raw_log, "data": raw_log["data"][:-64]}) is None


@pytest.fixture(scope="module")
def declared_types_chain(tmp_path_factory):
    (code,) = compile_solidity(EMITTERS_SOL, "Emitters.sol", tmp_path_factory.mktemp("solc"), ["Protocol"]).values()
    chain = LocalChain(utc("2026-01-01T00:00:00"))
    try:
        yield chain, chain.deploy(code)
    finally:
        chain.close()


def test_solc_emitted_tuple_arrays_indexed_strings_and_narrow_integers_decode_by_name(declared_types_chain):
    chain, protocol = declared_types_chain
    receipt = chain.transact(protocol, "emitDeclaredTypes()")
    decoded = [decode_log(raw_log) for raw_log in receipt["logs"]]
    assert all(decoded), [raw_log["topics"][0] for raw_log, d in zip(receipt["logs"], decoded) if d is None]
    from assets.chain.registry import argument_values
    printed = {d.event.name: argument_values(d) for d in decoded}
    assert printed["BaseYieldRateTiersSet"] == {"rateTiers": [["317097919", str(5_000_000 * 10**18)],
                                                             ["158548959", str(2**256 - 1)]]}
    assert printed["ActionFailed"] == {"action": "0x" + keccak(b"deposit").hex(), "reason": "0x08c379a0"}
    assert printed["LoanTimelockDeposited"] == {"loanTermsHash": "0x" + "00" * 31 + "11",
                                                "usdaiAmount": str(250_000 * 10**18), "expiration": str(2**64 - 1)}
    assert printed["PoolDeposited"] == {"pool": to_checksum_address("0x" + "00" * 19 + "a1"), "tick": str(2**128 - 1),
                                        "usdaiAmount": str(10**18), "poolCurrencyAmount": "1000000"}
    assert printed["WhitelistedTokensAdded"] == {"tokens": [to_checksum_address("0x" + "00" * 19 + "c5"), protocol],
                                                 "minAmounts": ["1", str(10**30)]}
    assert printed["Executed"] == {"target": protocol, "selector": "0xdeadbeef"}
    # LoanTimelockDeposited and PoolDeposited are the ledger's (a uint64 expiration in a DECIMAL column, a uint128 tick
    # as a decimal string); the others are declared only.
    assert {d.event.name for d in decoded if not d.event.modelled} == {"ActionFailed", "Executed"}
    (deposited,) = [d for d in decoded if d.event.name == "LoanTimelockDeposited"]
    assert deposited.event.model == "ledger"


def test_backed_chain_events_lists_the_registry_by_status():
    everything = CliRunner().invoke(chain_cli, ["events"])
    assert everything.exit_code == 0
    lines = everything.stdout.splitlines()
    assert len(lines) == len(REGISTRY)
    count = sum(spec.modelled for spec in REGISTRY.values())
    assert f"{len(REGISTRY)} of {len(REGISTRY)} events ({count} modelled)" in everything.stderr
    modelled = CliRunner().invoke(chain_cli, ["events", "--status", "modelled"]).stdout.splitlines()
    assert len(modelled) == count and all("declared, not modelled" not in line for line in modelled)
    released = CliRunner().invoke(chain_cli, ["events", "--status", "declared", "--released"]).stdout.splitlines()
    assert any(line.startswith("RepaymentForwarded(uint256)") and "ReserveAccount (V2)" in line for line in released)
    # LoanRouterV2's FeePaid is the ledger's (rule loan_fee_received), with the release that emits it
    assert any(line.startswith("FeePaid(bytes32,uint8,address,address,uint256)") and "LoanRouterV2 v1.0" in line
               for line in modelled)
    assert not any(line.startswith("FeePaid(") for line in released)
    assert not any(line.startswith("AuctionSettled(") for line in released)  # QEV: in no release
