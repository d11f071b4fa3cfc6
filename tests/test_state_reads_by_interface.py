"""State reads follow the release each address runs (docs/chain-events.md): LoanRouterV2's `loanState` returns
(status, repaymentCount, originationTimestamp, scaledBalance) where V1's returns (status, maturity,
repaymentDeadline, scaledBalance), and numbers its statuses otherwise. Read from solc-compiled routers on anvil."""
from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from assets.chain.blocks import BlockHeader
from assets.chain.profiles import AddressBookEntry, ChainProfile
from assets.chain.rpc import JsonRpcClient
from assets.chain.state import StateReader, UnlistedBaseToken, current_base_token, state_reads
from tests.local_chain import EMITTERS_SOL, LocalChain, compile_solidity, utc

LOAN_V1 = "0x" + "11" * 32
LOAN_V2 = "0x" + "22" * 32


@pytest.fixture(scope="module")
def routers(tmp_path_factory):
    code = compile_solidity(EMITTERS_SOL, "Emitters.sol", tmp_path_factory.mktemp("solc"), ["Protocol", "RouterV2"])
    chain = LocalChain(utc("2026-01-01T00:00:00"))
    try:
        v1, v2 = chain.deploy(code["Protocol"]), chain.deploy(code["RouterV2"])
        chain.transact(v1, "setLoan(bytes32,uint8,uint64,uint64,uint256)", bytes.fromhex(LOAN_V1[2:]), 1,
                       utc("2026-07-01T00:00:00"), utc("2026-02-01T00:00:00"), 500_000 * 10**18)
        chain.transact(v2, "setLoan(bytes32,uint8,uint16,uint64,uint256)", bytes.fromhex(LOAN_V2[2:]), 5, 3,
                       utc("2025-12-01T00:00:00"), 0)
        yield chain, v1, v2
    finally:
        chain.close()


def test_each_router_is_read_with_its_own_interface(routers):
    chain, v1, v2 = routers
    profile = ChainProfile(name="test", chain_id=31337, rpc_url=chain.url, confirmations=1, address_book=(
        AddressBookEntry("loan_router", v1, True, interface="LoanRouterV1"),
        AddressBookEntry("loan_router", v2, True, interface="LoanRouterV2")))
    with JsonRpcClient(chain.url) as rpc:
        head = rpc.call("eth_getBlockByNumber", ["latest", False])
        block = BlockHeader(number=int(head["number"], 16), hash=head["hash"], timestamp=int(head["timestamp"], 16),
                            parent_hash=head["parentHash"])
        rows, unavailable = StateReader(rpc, use_multicall=False).read(
            state_reads(profile, {LOAN_V1: v1, LOAN_V2: v2}, block.number), block)
    assert unavailable == []
    read = {(row["key"], row["field"]): int(row["value"]) for row in rows}
    assert read == {
        (LOAN_V1, "status"): 1, (LOAN_V1, "maturity"): utc("2026-07-01T00:00:00"),
        (LOAN_V1, "repaymentDeadline"): utc("2026-02-01T00:00:00"), (LOAN_V1, "scaledBalance"): 500_000 * 10**18,
        (LOAN_V2, "status"): 5, (LOAN_V2, "repaymentCount"): 3,
        (LOAN_V2, "originationTimestamp"): utc("2025-12-01T00:00:00"), (LOAN_V2, "scaledBalance"): 0,
    }


def test_the_arbitrum_profile_says_which_router_runs_which_interface(monkeypatch, tmp_path):
    from assets.chain.profiles import load_profile

    monkeypatch.setenv("BACKED_RPC_URL", "http://127.0.0.1:1")
    profile = load_profile("arbitrum", tmp_path)
    assert {entry.address: entry.interface for entry in profile.entries("loan_router")} == {
        "0x0C2ED170F2bB1DF1a44292Ad621B577b3C9597D1": "LoanRouterV1",
        "0x1C2ED170de32846316784c4fd58A5e3C7563E12f": "LoanRouterV2"}


def test_the_base_token_of_the_day_is_the_one_usdai_names_at_the_close(routers):
    """With wM and PYUSD both in the book, `USDai.baseToken()` at the day's close says which one the reserve is in
    (the address book names it `base_token`, the other `inactive_base_token`); a token the book does not list stops
    the day with what to add."""
    chain, usdai, _ = routers
    wm, pyusd, unlisted = (to_checksum_address("0x" + digits * 20) for digits in ("4a", "46", "99"))
    profile = ChainProfile(name="test", chain_id=31337, rpc_url=chain.url, confirmations=1, address_book=(
        AddressBookEntry("usdai", usdai, True), AddressBookEntry("base_token", wm, False, "wM", 6),
        AddressBookEntry("base_token", pyusd, False, "PYUSD", 6)))
    with JsonRpcClient(chain.url) as rpc:
        def at_head() -> BlockHeader:
            head = rpc.call("eth_getBlockByNumber", ["latest", False])
            return BlockHeader(number=int(head["number"], 16), hash=head["hash"],
                               timestamp=int(head["timestamp"], 16), parent_hash=head["parentHash"])

        chain.transact(usdai, "setBaseToken(address)", wm)
        before = at_head()
        chain.transact(usdai, "setBaseToken(address)", pyusd)
        assert (current_base_token(rpc, profile, before), current_base_token(rpc, profile, at_head())) == (wm, pyusd)
        chain.transact(usdai, "setBaseToken(address)", unlisted)
        with pytest.raises(UnlistedBaseToken, match=f"baseToken\\(\\) at block .* is {unlisted}"):
            current_base_token(rpc, profile, at_head())
