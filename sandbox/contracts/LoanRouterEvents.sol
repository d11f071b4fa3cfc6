// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice The events LoanRouter (V1) and LoanRouterV2 both declare, under the same names (V2's LoanRepaid keeps
/// `exitFee`, where it carries all of a payment's fees).
interface LoanRouterEvents {
    event LenderPositionMinted(
        bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 tokenId
    );
    event LenderRepaid(
        bytes32 indexed loanTermsHash,
        address indexed lender,
        uint8 indexed trancheIndex,
        uint256 principal,
        uint256 interest,
        uint256 prepay
    );
    event LoanRepaid(
        bytes32 indexed loanTermsHash,
        address indexed borrower,
        uint256 principal,
        uint256 interest,
        uint256 prepayment,
        uint256 exitFee,
        bool isRepaid
    );
}
