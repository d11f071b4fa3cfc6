// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC721Token} from "./ERC721Token.sol";

/// @notice Lender position NFTs ("USDai-LR"): one per loan tranche, minted only by the loan router that deploys it.
contract LenderPosition is ERC721Token {
    address public immutable loanRouter;

    error NotLoanRouter(address caller);

    constructor() ERC721Token("USDai Loan Router Position", "USDai-LR") {
        loanRouter = msg.sender;
    }

    function mint(address to, uint256 tokenId) external {
        if (msg.sender != loanRouter) revert NotLoanRouter(msg.sender);
        _mint(to, tokenId);
    }
}
