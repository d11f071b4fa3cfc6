// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface BridgedToken {
    function burn(address from, uint256 amount) external;
    function mint(address to, uint256 amount) external;
}

/// @notice The stand-in for USDai's omnichain adapter (a LayerZero OFT adapter): sending burns USDai here and emits
/// the OFT's OFTSent; a message delivered from another chain mints it back and emits OFTReceived. The admin stands in
/// for the LayerZero endpoint that delivers messages.
contract SandboxOAdapter {
    BridgedToken public immutable token;
    address public immutable endpoint;
    uint64 public nonce;

    event OFTSent(bytes32 indexed guid, uint32 dstEid, address indexed fromAddress, uint256 amountSentLD, uint256 amountReceivedLD);
    event OFTReceived(bytes32 indexed guid, uint32 srcEid, address indexed toAddress, uint256 amountReceivedLD);

    error NotEndpoint(address caller);

    constructor(BridgedToken token_) {
        token = token_;
        endpoint = msg.sender;
    }

    function send(uint32 dstEid, uint256 amount) external returns (bytes32 guid) {
        guid = keccak256(abi.encode(address(this), dstEid, ++nonce));
        token.burn(msg.sender, amount);
        emit OFTSent(guid, dstEid, msg.sender, amount, amount);
    }

    function deliver(bytes32 guid, uint32 srcEid, address to, uint256 amount) external {
        if (msg.sender != endpoint) revert NotEndpoint(msg.sender);
        token.mint(to, amount);
        emit OFTReceived(guid, srcEid, to, amount);
    }
}
