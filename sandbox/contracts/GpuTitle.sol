// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC721Token} from "./ERC721Token.sol";

/// @notice GPU title NFTs ("CALIBER"): one token per GPU or per bundle of GPUs, the collateral of a loan.
/// Which GPU serials a token stands for is off-chain, in the lender's collateral schedule.
contract GpuTitle is ERC721Token {
    address public immutable owner;

    error NotOwner(address caller);

    constructor() ERC721Token("Caliber GPU Title", "CALIBER") {
        owner = msg.sender;
    }

    function mint(address to, uint256 tokenId) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _mint(to, tokenId);
    }
}
