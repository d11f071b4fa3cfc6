"""JSON-RPC access to the sandbox chain: deploy, send transactions at chosen block timestamps, read state,
and decode the receipts' logs against the compiled ABIs.

Transactions come from anvil's unlocked accounts and are sent with `eth_sendTransactionSync`, so each one is
mined in its own block (automine) with the timestamp set just before it, and its receipt comes back at once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import eth_abi
import requests
from eth_utils import keccak, to_checksum_address

# Gas given to every contract call (a tenth of anvil's block gas limit): far above any sandbox transaction.
CALL_GAS_LIMIT = 3_000_000


class ChainError(RuntimeError):
    """A JSON-RPC call failed or a transaction reverted."""


class SimulatorMismatch(AssertionError):
    """What the chain did differs from what the simulator computed: a bug in the simulator or the contracts."""


def _abi_type(param: Mapping[str, Any]) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(component) for component in param["components"]) + ")" + kind[len("tuple"):]
    return kind


def _signature(item: Mapping[str, Any]) -> str:
    return f"{item['name']}({','.join(_abi_type(p) for p in item['inputs'])})"


def _normalise(kind: str, value: Any) -> Any:
    """Addresses EIP-55, bytes lowercase 0x hex, arrays element by element; integers and booleans as they are."""
    if kind.endswith("]"):
        return [_normalise(kind[: kind.rindex("[")], item) for item in value]
    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log."""

    contract: str
    address: str
    event: str
    args: Mapping[str, Any]
    log_index: int
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    events: tuple[ChainEvent, ...]
    contract_address: str | None = None

    def events_named(self, event: str, address: str | None = None) -> list[ChainEvent]:
        return [e for e in self.events if e.event == event and (address is None or e.address == address)]

    def expect(self, address: str, event: str, **args: Any) -> ChainEvent:
        """The one `event` from `address` whose arguments include `args`; a mismatch is a SimulatorMismatch."""
        candidates = self.events_named(event, address)
        matching = [e for e in candidates if all(e.args.get(k) == v for k, v in args.items())]
        if len(matching) != 1:
            raise SimulatorMismatch(
                f"tx {self.tx_hash}: expected one {event} from {address} with {args}, "
                f"chain emitted {[dict(e.args) for e in candidates]}"
            )
        return matching[0]


class ContractAbi:
    """Encoding of calls and decoding of results, logs and revert reasons for one compiled contract."""

    def __init__(self, name: str, abi: Sequence[Mapping[str, Any]]):
        self.name = name
        self.abi = list(abi)
        self._functions: dict[str, list[Mapping[str, Any]]] = {}
        self.events_by_topic0: dict[str, Mapping[str, Any]] = {}
        self.errors_by_selector: dict[str, Mapping[str, Any]] = {}
        self.constructor_inputs: list[str] = []
        for item in self.abi:
            if item["type"] == "function":
                self._functions.setdefault(item["name"], []).append(item)
            elif item["type"] == "event":
                self.events_by_topic0["0x" + keccak(text=_signature(item)).hex()] = item
            elif item["type"] == "error":
                self.errors_by_selector["0x" + keccak(text=_signature(item)).hex()[:8]] = item
            elif item["type"] == "constructor":
                self.constructor_inputs = [_abi_type(p) for p in item["inputs"]]

    def function(self, name: str, arity: int) -> Mapping[str, Any]:
        overloads = [f for f in self._functions.get(name, ()) if len(f["inputs"]) == arity]
        if len(overloads) != 1:
            raise ChainError(f"{self.name} has no single function {name} taking {arity} arguments")
        return overloads[0]

    def encode_call(self, name: str, args: Sequence[Any]) -> str:
        function = self.function(name, len(args))
        selector = keccak(text=_signature(function))[:4]
        return "0x" + (selector + eth_abi.encode([_abi_type(p) for p in function["inputs"]], list(args))).hex()

    def decode_result(self, name: str, arity: int, data: str) -> tuple:
        outputs = self.function(name, arity)["outputs"]
        types = [_abi_type(p) for p in outputs]
        values = eth_abi.decode(types, bytes.fromhex(data.removeprefix("0x")))
        return tuple(_normalise(kind, value) for kind, value in zip(types, values))

    def decode_log(self, log: Mapping[str, Any]) -> ChainEvent | None:
        topics = log["topics"]
        event = self.events_by_topic0.get(topics[0]) if topics else None
        indexed = [p for p in event["inputs"] if p["indexed"]] if event else []
        # ERC-20 and ERC-721 Transfer share topic0; the topic count tells them apart.
        if event is None or len(indexed) != len(topics) - 1:
            return None
        args: dict[str, Any] = {}
        for param, topic in zip(indexed, topics[1:]):
            kind = _abi_type(param)
            args[param["name"]] = _normalise(kind, eth_abi.decode([kind], bytes.fromhex(topic[2:]))[0])
        plain = [p for p in event["inputs"] if not p["indexed"]]
        values = eth_abi.decode([_abi_type(p) for p in plain], bytes.fromhex(log["data"][2:]))
        for param, value in zip(plain, values):
            args[param["name"]] = _normalise(_abi_type(param), value)
        ordered = {p["name"]: args[p["name"]] for p in event["inputs"]}
        return ChainEvent(self.name, to_checksum_address(log["address"]), event["name"], ordered,
                          int(log["logIndex"], 16), log["transactionHash"], int(log["blockNumber"], 16))

    def decode_revert(self, data: str) -> str | None:
        error = self.errors_by_selector.get(data[:10])
        if error is None:
            return None
        types = [_abi_type(p) for p in error["inputs"]]
        values = eth_abi.decode(types, bytes.fromhex(data[10:]))
        return f"{error['name']}({', '.join(repr(_normalise(t, v)) for t, v in zip(types, values))})"


class Contract:
    """A deployed contract bound to the chain client."""

    def __init__(self, chain: SandboxChain, abi: ContractAbi, address: str):
        self.chain = chain
        self.abi = abi
        self.address = to_checksum_address(address)

    @property
    def name(self) -> str:
        return self.abi.name

    def transact(self, function: str, *args: Any, sender: str, at: int) -> Receipt:
        return self.chain.send({"from": sender, "to": self.address, "data": self.abi.encode_call(function, args)}, at)

    def call(self, function: str, *args: Any, block: int | str = "latest") -> Any:
        """The function's outputs at `block`: one value, or a tuple when it returns several."""
        tag = hex(block) if isinstance(block, int) else block
        data = self.chain.rpc("eth_call", {"to": self.address, "data": self.abi.encode_call(function, args)}, tag)
        result = self.abi.decode_result(function, len(args), data)
        return result[0] if len(result) == 1 else result

    def __repr__(self) -> str:
        return f"{self.name}@{self.address}"


class SandboxChain:
    """A JSON-RPC client for the sandbox anvil that knows the compiled contracts."""

    def __init__(self, rpc_url: str, artifacts: Mapping[str, Mapping[str, Any]], timeout_s: float = 30.0):
        self.rpc_url = rpc_url
        self.artifacts = artifacts
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._abis = {name: ContractAbi(name, artifact["abi"]) for name, artifact in artifacts.items()}
        self._contracts: dict[str, Contract] = {}
        self._request_id = 0
        self.last_timestamp: int | None = None
        self.last_tx_hash: str | None = None

    def close(self) -> None:
        self._session.close()

    def rpc(self, method: str, *params: Any) -> Any:
        self._request_id += 1
        try:
            reply = self._session.post(
                self.rpc_url, json={"jsonrpc": "2.0", "id": self._request_id, "method": method, "params": list(params)},
                timeout=self.timeout_s,
            ).json()
        except (requests.RequestException, ValueError) as exc:
            raise ChainError(f"{method} on {self.rpc_url} failed: {exc}") from exc
        if "error" in reply:
            error = reply["error"]
            raise ChainError(f"{method} failed: {error.get('message')}{self._explain_revert(error.get('data'))}")
        return reply["result"]

    def accounts(self) -> list[str]:
        return [to_checksum_address(a) for a in self.rpc("eth_accounts")]

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block(self, number: int | str = "latest") -> Mapping[str, Any]:
        return self.rpc("eth_getBlockByNumber", hex(number) if isinstance(number, int) else number, False)

    def contract(self, name: str, address: str) -> Contract:
        contract = Contract(self, self._abis[name], address)
        self._contracts[contract.address] = contract
        return contract

    def deploy(self, name: str, *args: Any, sender: str, at: int) -> tuple[Contract, Receipt]:
        abi = self._abis[name]
        data = self.artifacts[name]["bytecode"] + eth_abi.encode(abi.constructor_inputs, list(args)).hex()
        receipt = self.send({"from": sender, "data": data}, at)
        return self.contract(name, receipt.contract_address), receipt

    def send(self, transaction: Mapping[str, Any], at: int) -> Receipt:
        """Mine `transaction` alone in a block with timestamp `at` (strictly after the previous one)."""
        if self.last_timestamp is not None and at <= self.last_timestamp:
            raise ChainError(f"block timestamps must increase: {at} after {self.last_timestamp}")
        self.rpc("evm_setNextBlockTimestamp", at)
        transaction = dict(transaction)
        if "to" in transaction:
            # A call's gas is not estimated: the node estimates at the previous block's time, and a call whose
            # storage writes depend on the day (the router's accrual) would be given too little.
            transaction.setdefault("gas", hex(CALL_GAS_LIMIT))
        raw = self.rpc("eth_sendTransactionSync", transaction)
        self.last_timestamp = at
        self.last_tx_hash = raw["transactionHash"]
        if int(raw["status"], 16) != 1:
            raise ChainError(f"transaction {raw['transactionHash']} reverted{self._replayed_revert(transaction, raw)}")
        return self._receipt(raw)

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> None:
        """Back to the snapshot: its blocks after it are gone, and the next block may again take any later time."""
        if self.rpc("evm_revert", snapshot_id) is not True:
            raise ChainError(f"anvil could not revert to snapshot {snapshot_id}")
        self.last_timestamp = int(self.block("latest")["timestamp"], 16)

    def mine_empty_block(self, at: int) -> int:
        if self.last_timestamp is not None and at <= self.last_timestamp:
            raise ChainError(f"block timestamps must increase: {at} after {self.last_timestamp}")
        self.rpc("evm_mine", at)
        self.last_timestamp = at
        return self.block_number()

    def _receipt(self, raw: Mapping[str, Any]) -> Receipt:
        events = []
        for log in raw["logs"]:
            contract = self._contracts.get(to_checksum_address(log["address"]))
            decoded = contract.abi.decode_log(log) if contract else None
            if decoded is not None:
                events.append(decoded)
        created = raw.get("contractAddress")
        return Receipt(raw["transactionHash"], int(raw["blockNumber"], 16), tuple(events),
                       to_checksum_address(created) if created else None)

    def _replayed_revert(self, transaction: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
        """The revert reason, found by replaying the call on the state the transaction ran against."""
        try:
            self.rpc("eth_call", dict(transaction), hex(int(raw["blockNumber"], 16) - 1))
        except ChainError as exc:
            return f": {exc}"
        return ""

    def _explain_revert(self, data: Any) -> str:
        if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
            return ""
        for abi in self._abis.values():
            reason = abi.decode_revert(data)
            if reason:
                return f" ({reason})"
        return f" (revert data {data})"
