"""The attestation registry on the sandbox chain: a digest is published once, by an unlocked account or with a
private key signed here, and found again with its period, publisher, signers and transaction; publishing it again
sends nothing."""
import hashlib
from datetime import date

import pytest

from assets.attestation.registry import Publication, PublishError, find_publication, publish
from sandbox.anvil import AnvilNode
from sandbox.chain_client import SandboxChain
from sandbox.compile import compile_contracts
from sandbox.deploy import deploy_protocol
from sandbox.simulator import genesis_timestamp

# The first key of anvil's default mnemonic ("test test ... junk"): a dev account every anvil funds.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SIGNER_KEYS = ["11" * 32, "0x" + "2a" * 32]


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def deployed():
    """The sandbox protocol deployed as the simulator deploys it, registry included: (chain, protocol)."""
    start = date(2026, 1, 1)
    with AnvilNode(genesis_timestamp(start)) as node:
        chain = SandboxChain(node.rpc_url, compile_contracts())
        accounts = chain.accounts()
        protocol = deploy_protocol(chain, accounts[0], accounts[9], at=genesis_timestamp(start) + 1)
        yield chain, protocol
        chain.close()


@pytest.fixture
def sandbox(deployed):
    """(chain, registry address)."""
    chain, protocol = deployed
    return chain, protocol.attestation_registry.address


def test_the_registry_is_deployed_but_not_in_the_address_book(deployed):
    chain, protocol = deployed
    registry = protocol.attestation_registry.address
    assert chain.rpc("eth_getCode", registry, "latest") not in ("0x", "")
    accounts = chain.accounts()
    assert registry not in {entry.address for entry in protocol.address_book(accounts[4], accounts[5])}


def test_an_unlocked_account_publishes_once_and_the_publication_is_found(sandbox):
    chain, registry = sandbox
    publisher = chain.accounts()[1]
    digest = digest_of("manifest of 2026-01-05")

    published, new = publish(chain.rpc_url, registry, digest, "2026-01-05", SIGNER_KEYS, sender=publisher)

    assert new is True
    receipt = chain.rpc("eth_getTransactionReceipt", published.transaction_hash)
    assert receipt["status"] == "0x1" and int(receipt["blockNumber"], 16) == published.block_number
    found = find_publication(chain.rpc_url, registry, digest)
    assert found == published == Publication(
        registry=registry, digest=digest, period="2026-01-05", publisher=publisher,
        block_number=published.block_number, transaction_hash=receipt["transactionHash"],
        signer_keys=("11" * 32, "2a" * 32))
    assert found.as_json()["signer_keys"] == ["11" * 32, "2a" * 32]

    head = chain.block_number()
    again, new = publish(chain.rpc_url, registry, "0x" + digest.upper(), "2026-01-06", [], sender=chain.accounts()[2])
    assert (again, new) == (published, False)
    assert chain.block_number() == head  # nothing was sent


def test_a_private_key_signs_locally_and_publishes(sandbox):
    chain, registry = sandbox
    digest = digest_of("manifest of 2026-01")

    published, new = publish(chain.rpc_url, registry, digest, "2026-01", SIGNER_KEYS[:1], private_key=DEV_KEY)

    assert new is True
    assert (published.publisher, published.period, published.signer_keys) == (DEV_ADDRESS, "2026-01", ("11" * 32,))
    transaction = chain.rpc("eth_getTransactionByHash", published.transaction_hash)
    assert transaction["type"] == "0x2" and transaction["from"].lower() == DEV_ADDRESS.lower()
    assert find_publication(chain.rpc_url, registry, digest) == published
    head = chain.block_number()
    assert publish(chain.rpc_url, registry, digest, "2026-01", [], private_key=DEV_KEY) == (published, False)
    assert chain.block_number() == head


def test_an_unknown_digest_has_no_publication(sandbox):
    chain, registry = sandbox
    assert find_publication(chain.rpc_url, registry, digest_of("never published")) is None


def test_failures_name_the_registry_and_period_but_never_the_key_nor_the_url(sandbox):
    chain, _ = sandbox
    not_a_registry = chain.accounts()[3]
    with pytest.raises(PublishError) as raised:
        publish(chain.rpc_url, not_a_registry, digest_of("x"), "2026-01-07", [], private_key=DEV_KEY)
    message = str(raised.value)
    assert not_a_registry in message and "2026-01-07" in message
    assert DEV_KEY.removeprefix("0x") not in message and chain.rpc_url not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__

    malformed_key = DEV_KEY[:-1] + "z"
    with pytest.raises(PublishError) as raised:
        publish(chain.rpc_url, not_a_registry, digest_of("x"), "2026-01-07", [], private_key=malformed_key)
    assert malformed_key.removeprefix("0x")[:16] not in str(raised.value)
    assert raised.value.__suppress_context__
