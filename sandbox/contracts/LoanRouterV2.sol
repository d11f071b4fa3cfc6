// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {LenderPosition} from "./LenderPosition.sol";
import {LoanRouterEvents} from "./LoanRouterEvents.sol";

interface LoanToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

interface Collateral {
    function transferFrom(address from, address to, uint256 tokenId) external;
}

interface LoanRouterV1 {
    function loanState(bytes32 loanTermsHash)
        external
        view
        returns (uint8 status, uint64 maturity, uint64 repaymentDeadline, uint256 scaledBalance);
    function accrualDay(bytes32 loanTermsHash) external view returns (uint64);
    function migrateOut(bytes32 loanTermsHash) external;
}

/// @notice What the lender (the sUSDai vault) is told as the router pays it, as ILoanRouterV2Hooks do.
interface LoanLenderV2 {
    function onLoanRepayment(bytes32 loanTermsHash, uint256 principal, uint256 interest) external;
    function onLoanFeePaid(bytes32 loanTermsHash, uint256 fee) external;
}

/// @notice LoanRouterV2 v1.0 as far as the sandbox needs it: it takes V1 loans over (`migrateLoan`) and is repaid
/// in its loans' currency, USDai (18 decimals), paying each repayment's principal and interest to the lender at once
/// and each fee its terms name to the fee's recipient (`FeePaid`). As the released router does, a migration gives the
/// V2 loan the V1 loan's scaled balance as its principal, back-dates it to the V1 loan's first unpaid day (the
/// interest in progress carries over), takes the collateral from V1, mints the lender positions, emits no
/// LoanOriginated and moves no currency. Interest accrues by whole days on the balance, in whole millionths of a
/// dollar as the lenders' tapes accrue it; the borrower pays the interest the tape has accrued.
contract LoanRouterV2 is LoanRouterEvents {
    uint8 private constant TRANCHE = 0;
    /// @dev USDai (18 decimals) to the lenders' millionths of a dollar.
    uint256 private constant MICRO_USD = 1e12;

    uint8 public constant UNINITIALIZED = 0;
    uint8 public constant ACTIVE = 1;
    uint8 public constant REPAID = 2;
    uint8 public constant FEE_KIND_REPAYMENT = 1;

    struct TrancheSpec {
        address lender;
        uint256 amount;
        uint256 rate;
    }

    struct FeeSpec {
        uint8 kind;
        address recipient;
        address model;
        bytes options;
    }

    struct InterestRateSpec {
        address model;
        bytes options;
    }

    struct RepaymentSpec {
        uint16 totalDurationDays;
        uint8 day;
        int32 timezoneOffsetSeconds;
    }

    struct LoanTermsV2 {
        uint64 expiration;
        address borrower;
        address currencyToken;
        address collateralToken;
        RepaymentSpec repaymentSpec;
        InterestRateSpec interestRateSpec;
        uint256[] collateralTokenIds;
        TrancheSpec[] trancheSpecs;
        FeeSpec[] feeSpecs;
        address[] approvalAddresses;
        bytes options;
    }

    struct Loan {
        uint8 status;
        uint16 repaymentCount;
        uint64 originationTimestamp;
        uint256 balance;
        address borrower;
        address lender;
        /// @dev The tranche's rate in basis points a year (the sandbox's rate model reads the tranche rate so).
        uint256 rateBps;
        /// @dev First day (days since 1970-01-01) whose interest is unpaid.
        uint64 accrualDay;
        uint256[] collateral;
        FeeSpec[] repaymentFees;
    }

    LoanToken public immutable currencyToken;
    Collateral public immutable gpuTitle;
    LenderPosition public immutable lenderPosition;
    LoanRouterV1 public immutable loanRouterV1;
    address public immutable admin;
    /// @dev The released v1.0 holds the V2 principal to the V1 scaled balance; `false` only for the injected fault
    /// of a router built without that check (docs/reconciliation.md, migrated-principal-mismatch).
    bool public immutable checksMigratedPrincipal;

    mapping(bytes32 => Loan) private _loans;
    bytes32[] private _loanTermsHashes;
    uint256 public outstandingPrincipal;

    event FeePaid(
        bytes32 indexed loanTermsHash, uint8 indexed kind, address indexed recipient, address feeModel, uint256 amount
    );
    event LoanMigrated(bytes32 indexed loanTermsHashV1, bytes32 indexed loanTermsHashV2, bytes loanTerms);

    error NotAdmin(address caller);
    error NotBorrower(address caller);
    error InvalidLoanState();
    error InvalidLoanTerms(string reason);
    error ExceedsOutstanding(uint256 principal, uint256 outstanding);

    constructor(LoanToken currencyToken_, Collateral gpuTitle_, LoanRouterV1 loanRouterV1_, bool checksMigratedPrincipal_) {
        currencyToken = currencyToken_;
        gpuTitle = gpuTitle_;
        loanRouterV1 = loanRouterV1_;
        checksMigratedPrincipal = checksMigratedPrincipal_;
        admin = msg.sender;
        lenderPosition = new LenderPosition();
    }

    function loanTermsHash(LoanTermsV2 calldata loanTerms) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, loanTerms));
    }

    function lenderPositionTokenId(bytes32 loanTermsHash_) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(loanTermsHash_, TRANCHE)));
    }

    /// @notice The V2 loan state: status, repayments made, origination time (back-dated on migration), balance.
    function loanState(bytes32 loanTermsHash_)
        external
        view
        returns (uint8 status, uint16 repaymentCount, uint64 originationTimestamp, uint256 scaledBalance)
    {
        Loan storage loan = _loans[loanTermsHash_];
        return (loan.status, loan.repaymentCount, loan.originationTimestamp, loan.balance);
    }

    /// @notice Interest accrued and unpaid on all loans, in USDai.
    function totalAccruedInterest() external view returns (uint256 interest) {
        for (uint256 i = 0; i < _loanTermsHashes.length; i++) {
            interest += _accrued(_loans[_loanTermsHashes[i]]);
        }
    }

    function accruedInterest(bytes32 loanTermsHash_) external view returns (uint256) {
        return _accrued(_loans[loanTermsHash_]);
    }

    function _accrued(Loan storage loan) private view returns (uint256) {
        if (loan.status != ACTIVE) return 0;
        uint256 daily = loan.balance / MICRO_USD * loan.rateBps / 3_650_000 * MICRO_USD;
        return daily * (block.timestamp / 1 days - loan.accrualDay + 1);
    }

    /// @notice Takes an active V1 loan over under V2 terms whose one tranche lends the V1 scaled balance.
    function migrateLoan(bytes32 loanTermsHashV1, LoanTermsV2 calldata loanTerms) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        (uint8 statusV1, uint64 maturityV1,, uint256 scaledBalanceV1) = loanRouterV1.loanState(loanTermsHashV1);
        if (statusV1 != ACTIVE) revert InvalidLoanState();
        if (block.timestamp >= maturityV1) revert InvalidLoanTerms("Maturity");
        if (loanTerms.currencyToken != address(currencyToken)) revert InvalidLoanTerms("Currency Token");
        if (loanTerms.collateralToken != address(gpuTitle)) revert InvalidLoanTerms("Collateral Token");
        if (loanTerms.trancheSpecs.length != 1) revert InvalidLoanTerms("Tranches");
        uint256 principal = loanTerms.trancheSpecs[0].amount;
        if (checksMigratedPrincipal && principal != scaledBalanceV1) revert InvalidLoanTerms("Principal");

        bytes32 loanTermsHashV2 = loanTermsHash(loanTerms);
        Loan storage loan = _loans[loanTermsHashV2];
        if (loan.status != UNINITIALIZED) revert InvalidLoanState();
        uint64 firstUnpaidDay = loanRouterV1.accrualDay(loanTermsHashV1);
        loan.status = ACTIVE;
        loan.originationTimestamp = firstUnpaidDay * 1 days;
        loan.balance = principal;
        loan.borrower = loanTerms.borrower;
        loan.lender = loanTerms.trancheSpecs[0].lender;
        loan.rateBps = loanTerms.trancheSpecs[0].rate;
        loan.accrualDay = firstUnpaidDay;
        loan.collateral = loanTerms.collateralTokenIds;
        for (uint256 i = 0; i < loanTerms.feeSpecs.length; i++) {
            if (loanTerms.feeSpecs[i].kind == FEE_KIND_REPAYMENT) loan.repaymentFees.push(loanTerms.feeSpecs[i]);
        }
        _loanTermsHashes.push(loanTermsHashV2);
        outstandingPrincipal += principal;

        loanRouterV1.migrateOut(loanTermsHashV1);
        uint256 tokenId = lenderPositionTokenId(loanTermsHashV2);
        lenderPosition.mint(loan.lender, tokenId);
        emit LenderPositionMinted(loanTermsHashV2, loan.lender, TRANCHE, tokenId);
        emit LoanMigrated(loanTermsHashV1, loanTermsHashV2, abi.encode(loanTerms));
    }

    /// @notice The borrower pays interest and principal, which go on to the lender at once, and each repayment fee
    /// of the terms (an absolute amount in the fee's options), which goes to the fee's recipient; paying the last
    /// principal returns the collateral.
    function repay(bytes32 loanTermsHash_, uint256 principal, uint256 interest) external {
        Loan storage loan = _loans[loanTermsHash_];
        if (loan.status != ACTIVE) revert InvalidLoanState();
        if (msg.sender != loan.borrower) revert NotBorrower(msg.sender);
        if (principal > loan.balance) revert ExceedsOutstanding(principal, loan.balance);
        loan.balance -= principal;
        loan.accrualDay = uint64(block.timestamp / 1 days);
        loan.repaymentCount += 1;
        outstandingPrincipal -= principal;
        bool isRepaid = loan.balance == 0;
        if (isRepaid) {
            loan.status = REPAID;
            for (uint256 i = 0; i < loan.collateral.length; i++) {
                gpuTitle.transferFrom(address(this), loan.borrower, loan.collateral[i]);
            }
        }
        currencyToken.transferFrom(msg.sender, address(this), principal + interest);
        currencyToken.transfer(loan.lender, principal + interest);
        LoanLenderV2(loan.lender).onLoanRepayment(loanTermsHash_, principal, interest);
        emit LenderRepaid(loanTermsHash_, loan.lender, TRANCHE, principal, interest, 0);
        uint256 fees;
        for (uint256 i = 0; i < loan.repaymentFees.length; i++) {
            FeeSpec storage spec = loan.repaymentFees[i];
            uint256 fee = abi.decode(spec.options, (uint256));
            if (fee == 0) continue;
            currencyToken.transferFrom(msg.sender, spec.recipient, fee);
            if (spec.recipient == loan.lender) LoanLenderV2(loan.lender).onLoanFeePaid(loanTermsHash_, fee);
            emit FeePaid(loanTermsHash_, FEE_KIND_REPAYMENT, spec.recipient, spec.model, fee);
            fees += fee;
        }
        emit LoanRepaid(loanTermsHash_, loan.borrower, principal, interest, 0, fees, isRepaid);
    }
}
