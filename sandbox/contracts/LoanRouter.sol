// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {LenderPosition} from "./LenderPosition.sol";
import {DepositTimelock} from "./DepositTimelock.sol";

interface LoanCurrency {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

interface Usdai {
    function withdraw(address withdrawToken, uint256 usdaiAmount, uint256 withdrawAmountMin, address recipient)
        external
        returns (uint256);
}

interface Collateral {
    function transferFrom(address from, address to, uint256 tokenId) external;
}

/// @notice Loans against GPU title NFTs, keyed by loanTermsHash, with one tranche per loan whose lender position
/// NFT ("USDai-LR") this router mints. Principal and repayments are in the currency token (USDC, 6 decimals).
/// Interest accrues on chain by whole days (actual/365 on the principal outstanding, as the lenders' tapes accrue
/// it): from the day of origination or of the last repayment, each day counted once it has begun, until the day
/// of liquidation. The lender (the sUSDai vault) values its position from `balances()`. A loan the vault pre-funded
/// through the deposit timelock is originated from that deposit: the router takes the USDai, swaps it into the
/// currency through USDai's withdraw, and lends it as the principal.
contract LoanRouter {
    uint8 private constant TRANCHE = 0;
    /// @dev The loan currency (6 decimals) to the 18-decimal scaled balance of loanState().
    uint256 private constant BALANCE_SCALE = 1e12;

    uint8 public constant UNINITIALIZED = 0;
    uint8 public constant ACTIVE = 1;
    uint8 public constant REPAID = 2;
    uint8 public constant LIQUIDATED = 3;
    uint8 public constant COLLATERAL_LIQUIDATED = 4;

    struct Loan {
        uint8 status;
        uint64 maturity;
        uint64 repaymentDeadline;
        address borrower;
        address lender;
        uint256 outstandingPrincipal;
        uint256 rateBps;
        /// @dev First day (days since 1970-01-01) whose interest is unpaid.
        uint64 accrualDay;
        /// @dev Interest frozen at liquidation: the days before the liquidation's day.
        uint256 frozenInterest;
        uint256[] collateral;
    }

    LoanCurrency public immutable currencyToken;
    Collateral public immutable gpuTitle;
    LenderPosition public immutable lenderPosition;
    address public immutable admin;
    address public immutable liquidator;
    Usdai public immutable usdai;
    DepositTimelock public immutable depositTimelock;

    mapping(bytes32 => Loan) private _loans;
    bytes32[] private _loanTermsHashes;
    uint256 public outstandingPrincipal;
    /// @notice Currency received from repayments and liquidations (never swept in the sandbox).
    uint256 public repayments;
    /// @notice The lender's income received to date: origination and exit fees, interest, and what a collateral
    /// sale recovers beyond principal. The vault charges its admin fee on it.
    uint256 public incomeReceived;

    event LoanOriginated(
        bytes32 indexed loanTermsHash,
        address indexed borrower,
        address indexed currencyToken,
        uint256 principal,
        uint256 originationFee
    );
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
    event LoanLiquidated(bytes32 indexed loanTermsHash);
    event LenderLiquidationRepaid(
        bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest
    );
    event LoanCollateralLiquidated(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 liquidationFee, uint256 surplus);

    error NotAdmin(address caller);
    error NotBorrower(address caller);
    error NotLiquidator(address caller);
    error WrongStatus(bytes32 loanTermsHash, uint8 status);
    error NoCollateral();
    error InvalidTerms();
    error ExceedsOutstanding(uint256 principal, uint256 outstanding);
    error DeadlineNotPassed(uint64 repaymentDeadline);
    error SurplusExceedsProceeds(uint256 surplus, uint256 proceeds);
    error PrefundingMismatch(uint256 deposited, uint256 principal);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    constructor(
        LoanCurrency currencyToken_,
        Collateral gpuTitle_,
        address liquidator_,
        Usdai usdai_,
        DepositTimelock depositTimelock_
    ) {
        currencyToken = currencyToken_;
        usdai = usdai_;
        depositTimelock = depositTimelock_;
        gpuTitle = gpuTitle_;
        liquidator = liquidator_;
        admin = msg.sender;
        lenderPosition = new LenderPosition();
    }

    function lenderPositionTokenId(bytes32 loanTermsHash) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(loanTermsHash, TRANCHE)));
    }

    function loanState(bytes32 loanTermsHash)
        external
        view
        returns (uint8 status, uint64 maturity, uint64 repaymentDeadline, uint256 scaledBalance)
    {
        Loan storage loan = _loans[loanTermsHash];
        return (loan.status, loan.maturity, loan.repaymentDeadline, loan.outstandingPrincipal * BALANCE_SCALE);
    }

    function loanCollateral(bytes32 loanTermsHash) external view returns (uint256[] memory) {
        return _loans[loanTermsHash].collateral;
    }

    /// @notice The lender's position in currency units: the currency the router holds (funds not yet lent,
    /// repayments, sale proceeds), principal outstanding, and interest accrued and unpaid.
    function balances()
        external
        view
        returns (uint256 repaymentBalance, uint256 principalOutstanding, uint256 accruedInterest)
    {
        for (uint256 i = 0; i < _loanTermsHashes.length; i++) {
            accruedInterest += _accrued(_loans[_loanTermsHashes[i]]);
        }
        return (currencyToken.balanceOf(address(this)), outstandingPrincipal, accruedInterest);
    }

    /// @notice Interest accrued and unpaid on one loan, in currency units.
    function accruedInterest(bytes32 loanTermsHash) external view returns (uint256) {
        return _accrued(_loans[loanTermsHash]);
    }

    function _accrued(Loan storage loan) private view returns (uint256) {
        if (loan.status == LIQUIDATED) return loan.frozenInterest;
        if (loan.status != ACTIVE) return 0;
        return _dailyInterest(loan) * (_today() - loan.accrualDay + 1);
    }

    function _dailyInterest(Loan storage loan) private view returns (uint256) {
        return loan.outstandingPrincipal * loan.rateBps / 3_650_000;
    }

    function _today() private view returns (uint64) {
        return uint64(block.timestamp / 1 days);
    }

    function originate(
        bytes32 loanTermsHash,
        address borrower,
        address lender,
        uint256 principal,
        uint256 originationFee,
        uint256 rateBps,
        uint256[] calldata gpuTokenIds,
        uint64 maturity,
        uint64 repaymentDeadline
    ) external onlyAdmin {
        Loan storage loan = _loans[loanTermsHash];
        if (loan.status != UNINITIALIZED) revert WrongStatus(loanTermsHash, loan.status);
        if (gpuTokenIds.length == 0) revert NoCollateral();
        if (principal == 0 || originationFee >= principal || maturity <= block.timestamp) revert InvalidTerms();
        (,,, uint256 prefunded,) = depositTimelock.depositOf(loanTermsHash);
        if (prefunded != 0) {
            if (prefunded != principal * BALANCE_SCALE) revert PrefundingMismatch(prefunded, principal);
            depositTimelock.withdraw(loanTermsHash);
            usdai.withdraw(address(currencyToken), prefunded, principal, address(this));
        }
        loan.status = ACTIVE;
        loan.maturity = maturity;
        loan.repaymentDeadline = repaymentDeadline;
        loan.borrower = borrower;
        loan.lender = lender;
        loan.outstandingPrincipal = principal;
        loan.rateBps = rateBps;
        loan.accrualDay = _today();
        loan.collateral = gpuTokenIds;
        _loanTermsHashes.push(loanTermsHash);
        outstandingPrincipal += principal;
        incomeReceived += originationFee;
        for (uint256 i = 0; i < gpuTokenIds.length; i++) {
            gpuTitle.transferFrom(borrower, address(this), gpuTokenIds[i]);
        }
        currencyToken.transfer(borrower, principal - originationFee);
        uint256 tokenId = lenderPositionTokenId(loanTermsHash);
        lenderPosition.mint(lender, tokenId);
        emit LenderPositionMinted(loanTermsHash, lender, TRANCHE, tokenId);
        emit LoanOriginated(loanTermsHash, borrower, address(currencyToken), principal, originationFee);
    }

    /// @notice The borrower pays interest, scheduled principal, a prepayment and its exit fee; paying the last
    /// principal returns the collateral.
    function repay(bytes32 loanTermsHash, uint256 principal, uint256 interest, uint256 prepayment, uint256 exitFee)
        external
    {
        Loan storage loan = _loans[loanTermsHash];
        if (loan.status != ACTIVE) revert WrongStatus(loanTermsHash, loan.status);
        if (msg.sender != loan.borrower) revert NotBorrower(msg.sender);
        uint256 principalPaid = principal + prepayment;
        if (principalPaid > loan.outstandingPrincipal) revert ExceedsOutstanding(principalPaid, loan.outstandingPrincipal);
        uint256 total = principalPaid + interest + exitFee;
        currencyToken.transferFrom(msg.sender, address(this), total);
        loan.outstandingPrincipal -= principalPaid;
        loan.accrualDay = _today();
        outstandingPrincipal -= principalPaid;
        repayments += total;
        incomeReceived += interest + exitFee;
        bool isRepaid = loan.outstandingPrincipal == 0;
        emit LenderRepaid(loanTermsHash, loan.lender, TRANCHE, principal, interest, prepayment);
        if (isRepaid) {
            loan.status = REPAID;
            _releaseCollateral(loan, loan.borrower);
        }
        emit LoanRepaid(loanTermsHash, loan.borrower, principal, interest, prepayment, exitFee, isRepaid);
    }

    /// @notice After the repayment deadline the collateral goes to the liquidator to be sold off-chain.
    function liquidate(bytes32 loanTermsHash) external onlyAdmin {
        Loan storage loan = _loans[loanTermsHash];
        if (loan.status != ACTIVE) revert WrongStatus(loanTermsHash, loan.status);
        if (block.timestamp <= loan.repaymentDeadline) revert DeadlineNotPassed(loan.repaymentDeadline);
        loan.frozenInterest = _dailyInterest(loan) * (_today() - loan.accrualDay);
        loan.status = LIQUIDATED;
        _releaseCollateral(loan, liquidator);
        emit LoanLiquidated(loanTermsHash);
    }

    /// @notice The liquidator pays in the sale's proceeds (net of its fee). Proceeds short of the surplus repay
    /// principal first, then interest; principal still unpaid is written off, so the loan leaves the book.
    function collateralLiquidated(bytes32 loanTermsHash, uint256 proceeds, uint256 liquidationFee, uint256 surplus)
        external
    {
        if (msg.sender != liquidator) revert NotLiquidator(msg.sender);
        Loan storage loan = _loans[loanTermsHash];
        if (loan.status != LIQUIDATED) revert WrongStatus(loanTermsHash, loan.status);
        if (surplus > proceeds) revert SurplusExceedsProceeds(surplus, proceeds);
        currencyToken.transferFrom(msg.sender, address(this), proceeds);
        uint256 recovered = proceeds - surplus;
        uint256 principalRecovered = recovered < loan.outstandingPrincipal ? recovered : loan.outstandingPrincipal;
        outstandingPrincipal -= loan.outstandingPrincipal;
        loan.outstandingPrincipal = 0;
        loan.frozenInterest = 0;
        loan.status = COLLATERAL_LIQUIDATED;
        repayments += proceeds;
        incomeReceived += recovered - principalRecovered;
        emit LenderLiquidationRepaid(loanTermsHash, loan.lender, TRANCHE, principalRecovered, recovered - principalRecovered);
        emit LoanCollateralLiquidated(loanTermsHash, proceeds, liquidationFee, surplus);
    }

    function _releaseCollateral(Loan storage loan, address to) private {
        for (uint256 i = 0; i < loan.collateral.length; i++) {
            gpuTitle.transferFrom(address(this), to, loan.collateral[i]);
        }
    }
}
