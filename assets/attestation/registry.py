"""The attestation registry on chain: publishing an attestation's digest (the sha256 of its canonical manifest)
with the period it covers and the Ed25519 keys that signed it, and finding that publication again.

The registry contract (sandbox/contracts/AttestationRegistry.sol) keeps the first publication of a digest and ignores
any later one, so publishing is idempotent on chain; here it is also idempotent off chain: a digest already published
is returned as it stands, and nothing is sent.

Two ways to send, by who holds the key:
- `private_key`: the transaction is signed here and sent raw (a real chain; the key comes from the environment
  variable named by `PUBLISHER_KEY_VARIABLE`). The key never reaches a log line or an exception.
- `sender`: an account the node holds unlocked (the sandbox's anvil) signs it, through `eth_sendTransaction`.

The RPC URL may carry a provider key, so messages never name it (the JSON-RPC client hides it too).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from assets.chain.rpc import JsonRpcClient, JsonRpcError, RpcUnavailable

# Where a real deployment's publishing job finds the publisher's private key (hex); the caller reads it.
PUBLISHER_KEY_VARIABLE = "BACKED_PUBLISHER_KEY"

# The registry's interface, as much of it as is used here: (signature, output types) of each function.
PUBLISH = "publish(bytes32,string,bytes32[])"
PUBLICATION = ("publication(bytes32)", ("address", "uint64", "string"))
SIGNERS = ("signers(bytes32)", ("bytes32[]",))
ATTESTATION_PUBLISHED = "AttestationPublished(bytes32,address,string,bytes32[])"
# The event's data: the two arguments not indexed.
ATTESTATION_PUBLISHED_DATA = ("string", "bytes32[]")
ATTESTATION_PUBLISHED_TOPIC = "0x" + keccak(text=ATTESTATION_PUBLISHED).hex()

RECEIPT_TIMEOUT_S = 60.0
RECEIPT_POLL_S = 0.25
# Headroom over the node's gas estimate: the estimate is taken against the state before the transaction's block.
GAS_MARGIN = 1.2

_ZERO_ADDRESS = "0x" + "00" * 20
_BYTES32_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class RegistryError(Exception):
    """There is no attestation registry at the address given."""


class PublishError(Exception):
    """A publication could not be sent, was reverted, or was not mined in time."""


@dataclass(frozen=True)
class Publication:
    """One digest as the registry holds it."""

    registry: str
    digest: str  # hex, no 0x
    period: str
    publisher: str
    block_number: int
    transaction_hash: str | None  # None when the node no longer has the event's log
    signer_keys: tuple[str, ...]  # Ed25519 public keys, hex, no 0x

    def as_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "digest": self.digest, "period": self.period, "publisher": self.publisher,
                "block_number": self.block_number, "transaction_hash": self.transaction_hash,
                "signer_keys": list(self.signer_keys)}


def find_publication(rpc_url: str, registry: str, digest_hex: str) -> Publication | None:
    """The registry's publication of `digest_hex`, or None when no one has published it. A node that fails
    raises the JSON-RPC client's errors (`RpcUnavailable`, `JsonRpcError`); an address without code, RegistryError."""
    registry, digest = to_checksum_address(registry), _bytes32(digest_hex, "digest")
    with JsonRpcClient(rpc_url) as rpc:
        return _read_publication(rpc, registry, digest)


def publish(rpc_url: str, registry: str, digest_hex: str, period: str, signer_keys: list[str], *,
            sender: str | None = None, private_key: str | None = None) -> tuple[Publication, bool]:
    """Publish `digest_hex` for `period`, signed by `signer_keys`: (the publication, whether this call published
    it). A digest already published comes back as it is, with False, and nothing is sent.

    Exactly one of `sender` (an account the node holds unlocked) and `private_key` (hex) says who publishes.
    """
    if (sender is None) == (private_key is None):
        raise ValueError("publish needs exactly one of sender (an unlocked account) and private_key")
    if not period:
        raise ValueError("publish needs the period the attestation covers")
    registry, digest = to_checksum_address(registry), _bytes32(digest_hex, "digest")
    keys = [_bytes32(key, "signer key") for key in signer_keys]
    account = _account(private_key, registry, period) if private_key is not None else None
    del private_key  # only the account, whose repr does not show the key, is kept
    publisher = account.address if account is not None else to_checksum_address(sender)
    data = "0x" + (keccak(text=PUBLISH)[:4] + eth_abi.encode(["bytes32", "string", "bytes32[]"],
                                                           [digest, period, keys])).hex()
    transaction = {"from": publisher, "to": registry, "data": data}
    where = f"attestation for {period} to registry {registry}"

    with JsonRpcClient(rpc_url) as rpc:
        try:
            return _publish(rpc, registry, digest, transaction, account, where)
        except (JsonRpcError, RpcUnavailable, RegistryError) as error:
            raise PublishError(f"could not publish the {where}: {error}") from None


# ------------------------------------------------------------------------------------------------ internals


def _publish(rpc: JsonRpcClient, registry: str, digest: bytes, transaction: dict[str, Any],
             account: LocalAccount | None, where: str) -> tuple[Publication, bool]:
    existing = _read_publication(rpc, registry, digest)
    if existing is not None:
        return existing, False
    gas = int(rpc.call("eth_estimateGas", [transaction]), 16)
    # The nonce is fixed here, not by the node: a send the client retries is then the same transaction.
    nonce = int(rpc.call("eth_getTransactionCount", [transaction["from"], "pending"]), 16)
    transaction = {**transaction, "gas": hex(int(gas * GAS_MARGIN)), "nonce": hex(nonce)}
    if account is not None:
        tx_hash = _send_signed(rpc, account, transaction, where)
    else:
        try:
            tx_hash = rpc.call("eth_sendTransaction", [transaction])
        except JsonRpcError:
            # A send the client retried after the node took the first one is refused (its nonce is used): the
            # registry tells whether it went through.
            published = _read_publication(rpc, registry, digest)
            if published is None:
                raise
            return published, published.publisher == transaction["from"]
    receipt = _wait_for_receipt(rpc, tx_hash, where)
    event = _published_event(receipt, registry, digest)
    if event is None:
        # Mined, but someone else's publication of the digest came first: the registry kept theirs.
        published = _read_publication(rpc, registry, digest)
        if published is None:
            raise PublishError(f"the {where} was mined in {tx_hash} but the registry does not hold it")
        return published, False
    return _publication_from_event(registry, digest, event), True


def _bytes32(text: str, what: str) -> bytes:
    if not isinstance(text, str) or not _BYTES32_HEX.match(text):
        raise ValueError(f"a {what} is 32 bytes as 64 hex digits, got {text!r}")
    return bytes.fromhex(text.removeprefix("0x"))


def _account(private_key: str, registry: str, period: str) -> LocalAccount:
    try:
        return Account.from_key(private_key)
    except Exception:  # noqa: BLE001 - whatever the parser says about the key stays here, the key with it
        raise PublishError(f"the publisher key for the attestation for {period} to registry {registry} is not a "
                           f"valid private key (32 bytes in hex)") from None


def _call(rpc: JsonRpcClient, registry: str, function: tuple[str, tuple[str, ...]], digest: bytes,
          block: str) -> tuple:
    signature, outputs = function
    data = "0x" + (keccak(text=signature)[:4] + eth_abi.encode(["bytes32"], [digest])).hex()
    result = rpc.call("eth_call", [{"to": registry, "data": data}, block])
    if result in ("0x", None):
        raise RegistryError(f"{registry} is not an attestation registry: its {signature} returned nothing")
    return eth_abi.decode(list(outputs), bytes.fromhex(result.removeprefix("0x")))


def _read_publication(rpc: JsonRpcClient, registry: str, digest: bytes) -> Publication | None:
    # Both views at one block, so that they describe the same state.
    block = rpc.call("eth_blockNumber")
    publisher, block_number, period = _call(rpc, registry, PUBLICATION, digest, block)
    if publisher == _ZERO_ADDRESS:
        return None
    (keys,) = _call(rpc, registry, SIGNERS, digest, block)
    logs = rpc.call("eth_getLogs", [{"address": registry, "fromBlock": hex(block_number), "toBlock": hex(block_number),
                                     "topics": [ATTESTATION_PUBLISHED_TOPIC, "0x" + digest.hex()]}])
    return Publication(registry=registry, digest=digest.hex(), period=period,
                       publisher=to_checksum_address(publisher), block_number=block_number,
                       transaction_hash=logs[0]["transactionHash"] if logs else None,
                       signer_keys=tuple(key.hex() for key in keys))


def _send_signed(rpc: JsonRpcClient, account: LocalAccount, transaction: dict[str, Any], where: str) -> str:
    chain_id = int(rpc.call("eth_chainId"), 16)
    latest = rpc.call("eth_getBlockByNumber", ["latest", False])
    if not latest or "baseFeePerGas" not in latest:
        raise PublishError(f"the chain has no EIP-1559 base fee to price the {where} with")
    base_fee = int(latest["baseFeePerGas"], 16)
    try:
        tip = int(rpc.call("eth_maxPriorityFeePerGas"), 16)
    except JsonRpcError:  # a node without the method: the legacy gas price less the base fee is the tip
        tip = max(int(rpc.call("eth_gasPrice"), 16) - base_fee, 0)
    signed = account.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": int(transaction["nonce"], 16), "to": transaction["to"],
        "data": transaction["data"], "gas": int(transaction["gas"], 16), "value": 0,
        # Twice the base fee: the transaction stays includable through several blocks of rising base fee.
        "maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip,
    })
    tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
    try:
        rpc.call("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex().removeprefix("0x")])
    except JsonRpcError as error:
        # A send the client retried after the node took the first one is refused as known or as reusing the
        # nonce: the hash is ours either way, so the transaction is there if the node knows it.
        if rpc.call("eth_getTransactionByHash", [tx_hash]) is None:
            raise PublishError(f"the node refused the {where}: {error}") from None
    except RpcUnavailable as error:
        raise PublishError(f"could not send the {where} (transaction {tx_hash} may still be mined): {error}") from None
    return tx_hash


def _wait_for_receipt(rpc: JsonRpcClient, tx_hash: str, where: str) -> dict[str, Any]:
    deadline = time.monotonic() + RECEIPT_TIMEOUT_S
    while True:
        try:
            receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
        except (JsonRpcError, RpcUnavailable) as error:
            raise PublishError(f"lost track of the {where} (transaction {tx_hash}): {error}") from None
        if receipt is not None:
            break
        if time.monotonic() > deadline:
            raise PublishError(f"the {where} (transaction {tx_hash}) was not mined within {RECEIPT_TIMEOUT_S:.0f} s")
        time.sleep(RECEIPT_POLL_S)
    if int(receipt["status"], 16) != 1:
        raise PublishError(f"the {where} was reverted (transaction {tx_hash}, block {int(receipt['blockNumber'], 16)})")
    return receipt


def _published_event(receipt: dict[str, Any], registry: str, digest: bytes) -> dict[str, Any] | None:
    topics = [ATTESTATION_PUBLISHED_TOPIC, "0x" + digest.hex()]
    for log in receipt["logs"]:
        if log["address"].lower() == registry.lower() and [t.lower() for t in log["topics"][:2]] == topics:
            return log
    return None


def _publication_from_event(registry: str, digest: bytes, log: dict[str, Any]) -> Publication:
    period, keys = eth_abi.decode(list(ATTESTATION_PUBLISHED_DATA), bytes.fromhex(log["data"].removeprefix("0x")))
    (publisher,) = eth_abi.decode(["address"], bytes.fromhex(log["topics"][2].removeprefix("0x")))
    return Publication(registry=registry, digest=digest.hex(), period=period, publisher=to_checksum_address(publisher),
                       block_number=int(log["blockNumber"], 16), transaction_hash=log["transactionHash"],
                       signer_keys=tuple(key.hex() for key in keys))
