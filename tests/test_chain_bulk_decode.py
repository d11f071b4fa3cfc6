"""The bulk decoder (`decode_logs`, by event layout) gives exactly the rows of the per-log reference
(`decode_log` + `event_row`): on the bench's history from a real node, on a log of every registered event, and on
the edge cases (2^255, dynamic bytes, ERC-20 against ERC-721, payloads that do not fit). Every case is decoded twice:
from the logs as JSON objects, and from the answer as the ingest reads it (the node's bytes read into columns by
`JsonRpcClient.get_log_columns`, served by a canned node on 127.0.0.1)."""
from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak as keccak256

from assets.chain import event_rows
from assets.chain.event_rows import DecodedLogs, decode_logs, event_row, lake_table
from assets.chain.logs import AdaptiveSpan, LogAnswer, LogFetcher, quantities, range_too_large
from assets.chain.registry import REGISTRY, decode_log, signature_topic0
from assets.chain.rpc import JsonRpcClient, JsonRpcError, ResultColumns, RpcUnavailable
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


class _CannedNode:
    """An HTTP JSON-RPC endpoint on 127.0.0.1 that answers every request with the bytes it is given."""

    def __init__(self) -> None:
        self.body = b""
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
                pass

            def do_POST(self) -> None:  # noqa: N802 (the base class's name)
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(node.body)))
                self.end_headers()
                self.wfile.write(node.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, body: bytes) -> LogAnswer:
        """The answer as the log fetcher reads it when the node sends `body`."""
        self.body = body
        with JsonRpcClient(self.url, attempts=1) as rpc:
            return LogAnswer(rpc.get_log_columns(0, 1, [CONTRACT]))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_NODE: _CannedNode | None = None


@pytest.fixture(scope="module", autouse=True)
def canned_node():
    global _NODE
    _NODE = _CannedNode()
    yield _NODE
    _NODE.close()
    _NODE = None


def _answer_body(raw_logs: list[dict]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": raw_logs}).encode()


def _same_as_reference(raw_logs: list[dict], roles: dict[str, str] = ROLES, *, columnar: bool = True) -> DecodedLogs:
    """The bulk decoding of the logs as JSON objects, and of their answer read into columns (`columnar`: every
    log's fields read that way), each the reference's rows."""
    expected, unknown = _reference(raw_logs, roles)
    bulk = decode_logs(raw_logs, roles)
    answer = _NODE.answer(_answer_body(raw_logs))
    assert isinstance(answer._result, ResultColumns) == columnar
    from_columns = decode_logs(answer, roles)
    for decoded in (bulk, from_columns):
        assert decoded.events.schema == expected.schema
        for name in expected.column_names:
            assert decoded.events[name].equals(expected[name]), (name, decoded.events[name], expected[name])
        assert decoded.events.equals(expected)
        assert sorted(decoded.unknown) == unknown
    assert from_columns.positions.equals(bulk.positions) and from_columns.removed == bulk.removed
    assert from_columns.log_count == len(raw_logs) and from_columns.raw_logs == raw_logs
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
        _log([TRANSFER, sender, receiver], "0x" + _word(7), index=15),  # one that fits, among them
    ]
    bulk = _same_as_reference(raw_logs)
    assert 0 in bulk.unknown and 1 in bulk.unknown and bulk.events.num_rows >= 2
    # null topics: the answer is read log by log (a field the column reader gives as null where an array is)
    raw_logs.append({**_log([TRANSFER, sender, receiver], "0x" + _word(9), index=14), "topics": None})
    bulk = _same_as_reference(raw_logs)
    assert 0 in bulk.unknown and 1 in bulk.unknown and bulk.events.num_rows >= 2


def test_an_empty_answer():
    bulk = _same_as_reference([])
    assert bulk.events.num_rows == 0 and bulk.unknown == []


def test_the_envelope_of_each_log_is_read_as_from_the_json_objects():
    """Quantities in either case, flags of removal, fields nodes add, a field missing: the columns give what the
    JSON objects give; a field of another type sends the answer to the JSON objects."""
    sender, receiver = "0x" + _word(1), "0x" + _word(2)
    raw_logs = [
        _log([TRANSFER, sender, receiver], "0x" + _word(5), index=0, block=0xAB),
        {**_log([TRANSFER, sender, receiver], "0x" + _word(6), index=10, block=0xAB), "logIndex": "0xA",
         "blockNumber": "0xaB", "transactionIndex": "0x3", "blockTimestamp": "0x6955b902"},
        {**_log([TRANSFER, sender, receiver], "0x" + _word(7), index=11, block=0xAC), "removed": True},
        {key: value for key, value in _log([TRANSFER, sender, receiver], "0x" + _word(8), index=12,
                                           block=0xAC).items() if key != "removed"},
        {**_log([TRANSFER, sender, receiver], "0x" + _word(9), index=13, block=0xAC),
         "blockHash": "0x" + "AB" * 32, "transactionHash": "0x" + "CD" * 32, "address": "0x" + "AB" * 20},
    ]
    bulk = _same_as_reference(raw_logs)
    assert bulk.removed == [2] and bulk.positions["block_number"].to_pylist() == [0xAB, 0xAB, 0xAC, 0xAC, 0xAC]
    # a quantity as a JSON number, a log without its address: read from the JSON objects, one log at a time
    for odd in ({**raw_logs[0], "blockNumber": 171}, {key: value for key, value in raw_logs[0].items()
                                                    if key != "address"}):
        answer = _NODE.answer(_answer_body([odd, *raw_logs[1:]]))
        assert answer.raw_logs == [odd, *raw_logs[1:]]
        try:
            expected = decode_logs([odd, *raw_logs[1:]], ROLES)
        except Exception as error:  # the reference's failure is the answer's failure
            with pytest.raises(type(error)):
                decode_logs(answer, ROLES)
        else:
            assert decode_logs(answer, ROLES).events.equals(expected.events)


def test_quantities_are_read_as_int_reads_them():
    texts = ["0x0", "0x1", "0xa", "0xA", "0x" + "f" * 15, "0xdeadBEEF", "0x00012"]
    assert quantities(pa.array(texts)).tolist() == [int(text, 16) for text in texts]
    # not column-wise: 16 digits, 0X, an underscore; read one at a time as int reads them
    odd = ["0x" + "7" * 16, "0X1f", "0x1_0", *texts]
    assert quantities(pa.array(odd)).tolist() == [int(text, 16) for text in odd]
    assert quantities(pa.chunked_array([pa.array(texts[:3]), pa.array(texts[3:])])).tolist() == [
        int(text, 16) for text in texts]
    with pytest.raises(ValueError):
        quantities(pa.array(["0x1", "0xg"]))
    assert quantities(pa.array([], pa.string())).tolist() == []


def test_addresses_are_hashed_as_eth_hash_hashes_them():
    rng = random.Random(7)
    rows = np.frombuffer(b"".join(f"{rng.getrandbits(160):040x}".encode() for _ in range(300)),
                         dtype=np.uint8).reshape(-1, 40)
    expected = np.frombuffer(b"".join(keccak256(row.tobytes()) for row in rows), dtype=np.uint8).reshape(-1, 32)
    assert np.array_equal(event_rows._keccak_rows(rows), expected)
    assert event_rows._keccak_rows(rows[:0]).shape == (0, 32)


def test_node_errors_and_odd_answers_read_as_the_client_reads_them(canned_node):
    canned_node.body = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"query returned more than 10000 results"}}'
    with JsonRpcClient(canned_node.url, attempts=1) as rpc:
        with pytest.raises(JsonRpcError) as refused:
            rpc.get_log_columns(0, 1, [CONTRACT])
        assert refused.value.code == -32005 and range_too_large(refused.value)
        canned_node.body = b'{"jsonrpc":"2.0","id":1,"result":null}'
        assert rpc.get_log_columns(0, 1, [CONTRACT]) is None
        canned_node.body = b'{"jsonrpc":"2.0","id":1,"result":[{"address":1}]}'
        assert rpc.get_log_columns(0, 1, [CONTRACT]) == [{"address": 1}]
        canned_node.body = _answer_body([_log([TRANSFER], "0x")])[:-20]
        with pytest.raises(RpcUnavailable, match="truncated or non-JSON answer"):
            rpc.get_log_columns(0, 1, [CONTRACT])


def test_an_answer_for_another_question_is_refused(canned_node):
    canned_node.body = _answer_body([_log([TRANSFER], "0x", index=0, block=7), _log([TRANSFER], "0x", index=1,
                                                                                  block=9)])
    with JsonRpcClient(canned_node.url, attempts=1) as rpc:
        fetcher = LogFetcher(rpc, AdaptiveSpan(initial=10))
        assert [answer.block_numbers.tolist() for answer in fetcher.chunks(7, 9, [CONTRACT])] == [[7, 9]]
        with pytest.raises(JsonRpcError, match=f"answer for blocks 8-9 holds a log of block 7 from {CONTRACT}"):
            list(fetcher.chunks(8, 9, [CONTRACT]))
        with pytest.raises(JsonRpcError, match=f"answer for blocks 7-9 holds a log of block 7 from {CONTRACT}"):
            list(fetcher.chunks(7, 9, ["0x" + "cd" * 20]))


def test_the_bench_history_decodes_to_the_reference_rows(tmp_path: Path):
    assert "BulkEmitter" in BULK_EMITTER_SOL
    chain = LocalChain(GENESIS)
    try:
        emitter, first, last = build_history(chain, compile_contracts(tmp_path)["BulkEmitter"], target_logs=2_000)
        raw_logs = chain.rpc.get_logs(first, last, [emitter])
        roles = {emitter.lower(): "susdai"}
        # as the ingest reads them from the node: answers of one block each, read into columns
        fetcher = LogFetcher(chain.rpc, AdaptiveSpan(initial=1, maximum=1))
        answers = [decode_logs(answer, roles) for answer in fetcher.chunks(first, last, [emitter])]
    finally:
        chain.close()
    assert len(raw_logs) >= 2_000
    bulk = _same_as_reference(raw_logs, roles)
    assert bulk.events.num_rows == len(raw_logs)
    # several answers of one range, each decoded alone, give the same rows
    halves = [raw_logs[: len(raw_logs) // 2], raw_logs[len(raw_logs) // 2:]]
    assert pa.concat_tables([decode_logs(half, roles).events for half in halves]).equals(bulk.events)
    assert len(answers) == last - first + 1
    assert all(isinstance(answer.answer._result, ResultColumns) for answer in answers)
    events = pa.concat_tables([answer.events for answer in sorted(
        answers, key=lambda answer: answer.positions["block_number"][0].as_py())])
    assert events.equals(bulk.events)
