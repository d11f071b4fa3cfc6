// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20Token} from "./ERC20Token.sol";

/// @notice A plain stablecoin stand-in (the base reserve token "wM", USDC) that its owner can mint.
contract SandboxERC20 is ERC20Token {
    address public immutable owner;

    error NotOwner(address caller);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20Token(name_, symbol_, decimals_) {
        owner = msg.sender;
    }

    function mint(address to, uint256 value) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _mint(to, value);
    }
}
