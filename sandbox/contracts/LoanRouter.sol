// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {LenderPosition} from "./LenderPosition.sol";
import {DepositTimelock} from "./DepositTimelock.sol";
import {LoanRouterEvents} from "./LoanRouterEvents.sol";

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

/// @notice What the lender (the sUSDai vault) is told as the router pays it, as the real ILoanRouterHooks do.
interface LoanLender {
    function onLoanRepayment(bytes32 loanTermsHash, uint256 principal, uint256 interest) external;
    function onLoanCollateralLiquidated(bytes32 loanTermsHash, uint256 principal, uint256 interest) external;
}

/// @notice Loans against GPU title NFTs, keyed by loanTermsHash, with one tranche per loan whose lender position
/// NFT ("USDai-LR") this router mints. Principal and repayments are in the currency token (USDC, 6 decimals).
/// Interest accrues on chain by whole days (actual/365 on the principal outstanding, as the lenders' tapes accrue
/// it): from the day of origination or of the last repayment, each day counted once it has begun, until the day
/// of liquidation. As the released router does, it keeps nothing: a loan is originated from the lender's
/// pre-funding in the deposit timelock (the router takes the USDai and swaps it into the currency through USDai's
/// withdraw), the origination fee goes to the fee recipient and the rest to the borrower; a repayment's principal
/// and interest go on to the lender at once (the exit fee from the borrower to the fee recipient); a collateral
/// sale's proceeds, less the liquidation fee and any surplus over principal and interest (both the fee
/// recipient's), go to the lender.
contract LoanRouter is LoanRouterEvents {
    uint8 private constant TRANCHE = 0;
    /// @dev The loan currency (6 decimals) to the 18-decimal scaled balance of loanState().
    uint256 private constant BALANCE_SCALE = 1e12;

    uint8 public constant UNINITIALIZED = 0;
    uint8 public constant ACTIVE = 1;
    uint8 public constant REPAID = 2;
    uint8 public constant LIQUIDATED = 3;
    uint8 public constant COLLATERAL_LIQUIDATED = 4;
    /// @dev The status LoanRouterV2 v1.0 expects of a V1 loan it has migrated (its ILoanRouterV1 declares it).
    uint8 public constant MIGRATED = 5;
    uint256 public constant LIQUIDATION_FEE_BPS = 300;

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
    /// @notice Receives the origination, exit and liquidation fees and a sale's surplus (outside the protocol).
    address public immutable feeRecipient;

    /// @notice The router that may take a loan over (`migrateOut`): LoanRouterV2, set once by the admin.
    address public migrator;

    mapping(bytes32 => Loan) private _loans;
    bytes32[] private _loanTermsHashes;
    uint256 public outstandingPrincipal;

    event LoanOriginated(
        bytes32 indexed loanTermsHash,
        address indexed borrower,
        address indexed currencyToken,
        uint256 principal,
        uint256 originationFee
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
    error PrefundingMismatch(uint256 deposited, uint256 principal);
    error NotPrefunded(bytes32 loanTermsHash);
    error NotMigrator(address caller);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    constructor(
        LoanCurrency currencyToken_,
        Collateral gpuTitle_,
        address liquidator_,
        Usdai usdai_,
        DepositTimelock depositTimelock_,
        address feeRecipient_
    ) {
        currencyToken = currencyToken_;
        usdai = usdai_;
        depositTimelock = depositTimelock_;
        gpuTitle = gpuTitle_;
        liquidator = liquidator_;
        feeRecipient = feeRecipient_;
        admin = msg.sender;
        lenderPosition = new LenderPosition();
    }

    function setMigrator(address migrator_) external onlyAdmin {
        if (migrator != address(0)) revert NotAdmin(msg.sender);
        migrator = migrator_;
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

    /// @notice Interest accrued and unpaid on all loans, in currency units (what the lender values on top of the
    /// principal outstanding).
    function totalAccruedInterest() external view returns (uint256 accruedInterest) {
        for (uint256 i = 0; i < _loanTermsHashes.length; i++) {
            accruedInterest += _accrued(_loans[_loanTermsHashes[i]]);
        }
    }

    /// @notice The first day (days since 1970-01-01) whose interest the loan has not paid: a migration back-dates the
    /// new loan to it, so the interest in progress carries over.
    function accrualDay(bytes32 loanTermsHash) external view returns (uint64) {
        return _loans[loanTermsHash].accrualDay;
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
        if (prefunded == 0) revert NotPrefunded(loanTermsHash);
        if (prefunded != principal * BALANCE_SCALE) revert PrefundingMismatch(prefunded, principal);
        depositTimelock.withdraw(loanTermsHash);
        usdai.withdraw(address(currencyToken), prefunded, principal, address(this));
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
        for (uint256 i = 0; i < gpuTokenIds.length; i++) {
            gpuTitle.transferFrom(borrower, address(this), gpuTokenIds[i]);
        }
        uint256 tokenId = lenderPositionTokenId(loanTermsHash);
        lenderPosition.mint(lender, tokenId);
        emit LenderPositionMinted(loanTermsHash, lender, TRANCHE, tokenId);
        if (originationFee != 0) currencyToken.transfer(feeRecipient, originationFee);
        currencyToken.transfer(borrower, principal - originationFee);
        emit LoanOriginated(loanTermsHash, borrower, address(currencyToken), principal, originationFee);
    }

    /// @notice The borrower pays interest, scheduled principal and a prepayment, which go on to the lender, and the
    /// exit fee, which goes to the fee recipient; paying the last principal returns the collateral.
    function repay(bytes32 loanTermsHash, uint256 principal, uint256 interest, uint256 prepayment, uint256 exitFee)
        external
    {
        Loan storage loan = _loans[loanTermsHash];
        if (loan.status != ACTIVE) revert WrongStatus(loanTermsHash, loan.status);
        if (msg.sender != loan.borrower) revert NotBorrower(msg.sender);
        uint256 principalPaid = principal + prepayment;
        if (principalPaid > loan.outstandingPrincipal) revert ExceedsOutstanding(principalPaid, loan.outstandingPrincipal);
        loan.outstandingPrincipal -= principalPaid;
        loan.accrualDay = _today();
        outstandingPrincipal -= principalPaid;
        bool isRepaid = loan.outstandingPrincipal == 0;
        if (exitFee != 0) currencyToken.transferFrom(msg.sender, feeRecipient, exitFee);
        if (isRepaid) {
            loan.status = REPAID;
            _releaseCollateral(loan, loan.borrower);
        }
        currencyToken.transferFrom(msg.sender, address(this), principalPaid + interest);
        _payLender(loan.lender, principalPaid + interest);
        LoanLender(loan.lender).onLoanRepayment(loanTermsHash, principalPaid, interest);
        emit LenderRepaid(loanTermsHash, loan.lender, TRANCHE, principal, interest, prepayment);
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

    /// @notice The liquidator pays in what the sale fetched. The router keeps its liquidation fee for the fee
    /// recipient; the rest repays principal first, then the interest owed; a surplus beyond both goes to the fee
    /// recipient too. Principal still unpaid is written off, so the loan leaves the book. The event's `proceeds` is
    /// what the lender received, net of the fee and the surplus.
    function collateralLiquidated(bytes32 loanTermsHash, uint256 saleProceeds) external {
        if (msg.sender != liquidator) revert NotLiquidator(msg.sender);
        Loan storage loan = _loans[loanTermsHash];
        if (loan.status != LIQUIDATED) revert WrongStatus(loanTermsHash, loan.status);
        currencyToken.transferFrom(msg.sender, address(this), saleProceeds);
        uint256 liquidationFee = saleProceeds * LIQUIDATION_FEE_BPS / 10_000;
        uint256 remaining = saleProceeds - liquidationFee;
        uint256 principalRecovered = remaining < loan.outstandingPrincipal ? remaining : loan.outstandingPrincipal;
        remaining -= principalRecovered;
        uint256 interestRecovered = remaining < loan.frozenInterest ? remaining : loan.frozenInterest;
        uint256 surplus = remaining - interestRecovered;
        outstandingPrincipal -= loan.outstandingPrincipal;
        loan.outstandingPrincipal = 0;
        loan.frozenInterest = 0;
        loan.status = COLLATERAL_LIQUIDATED;
        _payLender(loan.lender, principalRecovered + interestRecovered);
        LoanLender(loan.lender).onLoanCollateralLiquidated(loanTermsHash, principalRecovered, interestRecovered);
        emit LenderLiquidationRepaid(loanTermsHash, loan.lender, TRANCHE, principalRecovered, interestRecovered);
        if (liquidationFee + surplus != 0) currencyToken.transfer(feeRecipient, liquidationFee + surplus);
        emit LoanCollateralLiquidated(
            loanTermsHash, principalRecovered + interestRecovered, liquidationFee, surplus
        );
    }

    /// @notice The migrator takes the loan over: its collateral goes to the migrator, and the loan leaves this
    /// router's book (status Migrated, no balance). No token of the loan's currency moves.
    function migrateOut(bytes32 loanTermsHash) external {
        if (msg.sender != migrator) revert NotMigrator(msg.sender);
        Loan storage loan = _loans[loanTermsHash];
        if (loan.status != ACTIVE) revert WrongStatus(loanTermsHash, loan.status);
        outstandingPrincipal -= loan.outstandingPrincipal;
        loan.outstandingPrincipal = 0;
        loan.status = MIGRATED;
        _releaseCollateral(loan, msg.sender);
    }

    function _payLender(address lender, uint256 amount) private {
        if (amount != 0) currencyToken.transfer(lender, amount);
    }

    function _releaseCollateral(Loan storage loan, address to) private {
        for (uint256 i = 0; i < loan.collateral.length; i++) {
            gpuTitle.transferFrom(address(this), to, loan.collateral[i]);
        }
    }
}
