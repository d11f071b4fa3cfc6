// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20Token} from "./ERC20Token.sol";
import {DepositTimelock} from "./DepositTimelock.sol";

interface StakedAsset {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function approve(address spender, uint256 value) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
    function baseToken() external view returns (address);
    function withdraw(address withdrawToken, uint256 usdaiAmount, uint256 withdrawAmountMin, address recipient)
        external
        returns (uint256);
    function deposit(address depositToken, uint256 depositAmount, uint256 usdaiAmountMin, address recipient)
        external
        returns (uint256);
}

interface Approvable {
    function approve(address spender, uint256 value) external returns (bool);
}

interface LoanBook {
    function currencyToken() external view returns (address);
    function outstandingPrincipal() external view returns (uint256);
    function totalAccruedInterest() external view returns (uint256);
}

/// @notice sUSDai: staked USDai (18-decimal shares) with an asynchronous, FIFO redemption queue.
/// As the real vault does, it values itself from what it holds: its USDai less what serviced redemptions are owed,
/// its loan router position (the currency the router paid it, principal outstanding, accrued interest) and the
/// reserves it sent to the custodian, less the admin fee on interest and T-bill income. The router pays it each
/// repayment's and each collateral sale's principal and interest as they come (and tells it, as the real
/// ILoanRouterHooks do); the router's fees are never the vault's. A loan written off at its collateral sale lowers the share price.
/// The custodian's T-bill yield is off chain: the admin reports it (cumulative) after each statement.
/// USDai pre-funding a loan sits in the deposit timelock until the router originates the loan or the vault cancels
/// the deposit after its expiration; the vault counts it at face value meanwhile.
contract StakedUSDai is ERC20Token {
    uint256 private constant PRICE_SCALE = 1e18;
    /// @dev The loan router's currency (6 decimals) to USDai (18 decimals).
    uint256 private constant CURRENCY_SCALE = 1e12;
    uint256 public constant ADMIN_FEE_BPS = 1000;
    uint256 private constant BPS = 10_000;

    struct Redemption {
        address controller;
        uint256 pendingShares;
    }

    StakedAsset public immutable usdai;
    LoanBook public immutable loanRouter;
    /// @notice LoanRouterV2, whose loans are in USDai (set once by the admin when the vault moves to it).
    LoanBook public loanRouterV2;
    DepositTimelock public immutable depositTimelock;
    address public immutable admin;

    /// @notice USDai sent to the custodian (at par, as base token).
    uint256 public custodianPrincipal;
    /// @notice The custodian's T-bill income to date as last reported (negative after a mark-down).
    int256 public custodianYield;
    mapping(uint256 => Redemption) public redemptions;
    /// @notice Oldest redemption not yet fully serviced; equals redemptionTail when the queue is empty.
    uint256 public redemptionHead = 1;
    /// @notice Id the next redemption request receives.
    uint256 public redemptionTail = 1;
    uint256 private _pendingShares;
    /// @notice The loan currency the router has paid the vault (principal and interest; never swept in the sandbox).
    uint256 public currencyReceived;
    /// @notice The loan interest received to date, on which the admin fee is charged.
    uint256 public interestReceived;
    /// @notice The interest and fees LoanRouterV2 has paid the vault in USDai, on which the admin fee is charged too.
    uint256 public usdaiIncomeReceived;
    /// @notice The admin fee on loan interest paid out to the admin fee recipient so far, in loan currency.
    uint256 public adminFeePaid;
    /// @notice Receives the admin fee on loan interest, swapped into USDai (outside the protocol).
    address public immutable adminFeeRecipient;
    /// @notice USDai set aside for serviced redemptions not yet claimed.
    uint256 public claimableBalance;
    mapping(address => uint256) public claimableAssets;
    mapping(address => uint256) public claimableShares;

    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event Withdraw(
        address indexed sender, address indexed receiver, address indexed owner, uint256 assets, uint256 shares
    );
    event RedeemRequest(
        address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 shares
    );
    event RedemptionProcessed(
        uint256 indexed redemptionId,
        address indexed controller,
        uint256 fulfilledShares,
        uint256 amount,
        uint256 pendingShares
    );
    event RedemptionsServiced(uint256 shares, uint256 amount, bool allRedemptionsServiced);
    event LoanTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint64 expiration);
    event LoanTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount);
    event LoanRepaymentDeposited(address indexed currencyToken, uint256 claimableBalanceAmount, uint256 usdaiDepositAmount);
    event AdminFeeWithdrawn(address indexed currencyToken, uint256 adminFeeAmount, uint256 usdaiDepositAmount);
    /// @notice sUSDai's own blacklist (StakedUSDai v1.0–v1.6; v1.7 moved to USDai's): the account's shares are frozen.
    event Blacklisted(address indexed value, bool isBlacklisted);

    error NotAdmin(address caller);
    error BlacklistedAccount(address account);
    error NotController(address caller, address controller);
    error ZeroAmount();
    error ExceedsClaimable(uint256 assets, uint256 claimable);
    error InsufficientLiquidity(uint256 balance, uint256 needed);
    error NotLoanRouter(address caller);
    error ExceedsRepaymentBalance(uint256 amount, uint256 repaymentBalance);
    error ExceedsAdminFee(uint256 amount, uint256 adminFee);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    constructor(StakedAsset usdai_, LoanBook loanRouter_, DepositTimelock depositTimelock_, address adminFeeRecipient_)
        ERC20Token("Staked USDai", "sUSDai", 18)
    {
        adminFeeRecipient = adminFeeRecipient_;
        usdai = usdai_;
        loanRouter = loanRouter_;
        depositTimelock = depositTimelock_;
        admin = msg.sender;
    }

    mapping(address => bool) public isBlacklisted;

    function setBlacklist(address account, bool blacklisted) external onlyAdmin {
        isBlacklisted[account] = blacklisted;
        emit Blacklisted(account, blacklisted);
    }

    function setLoanRouterV2(LoanBook loanRouterV2_) external onlyAdmin {
        if (address(loanRouterV2) != address(0)) revert NotAdmin(msg.sender);
        loanRouterV2 = loanRouterV2_;
    }

    function _checkTransfer(address from, address to) internal view override {
        if (isBlacklisted[from]) revert BlacklistedAccount(from);
        if (isBlacklisted[to]) revert BlacklistedAccount(to);
    }

    /// @notice What the vault holds, net of the admin fee on income (OPTIMISTIC: with accrued interest).
    function totalAssets() public view returns (uint256) {
        return _assets(true);
    }

    /// @notice The vault's assets without interest accrued and unpaid (CONSERVATIVE): what redemptions are paid at.
    function conservativeAssets() public view returns (uint256) {
        return _assets(false);
    }

    function _assets(bool withAccrued) private view returns (uint256) {
        uint256 principal = loanRouter.outstandingPrincipal();
        uint256 accrued = withAccrued ? loanRouter.totalAccruedInterest() : 0;
        (uint256 principalV2, uint256 accruedV2) = _loansV2(withAccrued);
        // The timelock holds only this vault's pre-fundings.
        int256 assets = int256(usdai.balanceOf(address(this))) - int256(claimableBalance)
            + int256(usdai.balanceOf(address(depositTimelock)))
            + int256((currencyReceived + principal + accrued) * CURRENCY_SCALE) + int256(principalV2 + accruedV2)
            - int256(_adminFeeHeld() + (accrued * CURRENCY_SCALE + accruedV2) * ADMIN_FEE_BPS / BPS)
            + int256(custodianPrincipal) + custodianYield - custodianYield * int256(ADMIN_FEE_BPS) / int256(BPS);
        return assets > 0 ? uint256(assets) : 0;
    }

    /// @dev LoanRouterV2's principal outstanding and (when asked) accrued interest, in USDai.
    function _loansV2(bool withAccrued) private view returns (uint256 principal, uint256 accrued) {
        if (address(loanRouterV2) == address(0)) return (0, 0);
        return (loanRouterV2.outstandingPrincipal(), withAccrued ? loanRouterV2.totalAccruedInterest() : 0);
    }

    /// @notice Shares in holders' hands plus pending redemption shares (held by the vault until serviced).
    function totalShares() public view returns (uint256) {
        return totalSupply;
    }

    function depositSharePrice() public view returns (uint256) {
        uint256 shares = totalShares();
        return shares == 0 ? PRICE_SCALE : totalAssets() * PRICE_SCALE / shares;
    }

    function redemptionSharePrice() public view returns (uint256) {
        uint256 shares = totalShares();
        return shares == 0 ? PRICE_SCALE : conservativeAssets() * PRICE_SCALE / shares;
    }

    /// @return index id of the last fully serviced redemption (0 before any)
    /// @return head oldest redemption not fully serviced
    /// @return tail id of the next request
    /// @return pendingShares shares waiting in the queue
    /// @return balance USDai serviced and not yet claimed
    function redemptionQueueInfo()
        external
        view
        returns (uint256 index, uint256 head, uint256 tail, uint256 pendingShares, uint256 balance)
    {
        return (redemptionHead - 1, redemptionHead, redemptionTail, _pendingShares, claimableBalance);
    }

    /// @notice The vault's loan position in USDai units (18 decimals), as the real vault gives it: the currency the
    /// router paid it net of the admin fee on the interest in it, principal outstanding, interest accrued and unpaid.
    function loanRouterBalances()
        external
        view
        returns (uint256 repayments, uint256 outstandingPrincipal, uint256 accruedInterest)
    {
        repayments = currencyReceived * CURRENCY_SCALE - _adminFeeHeld();
        (uint256 principalV2, uint256 accruedV2) = _loansV2(true);
        return (repayments, loanRouter.outstandingPrincipal() * CURRENCY_SCALE + principalV2,
                loanRouter.totalAccruedInterest() * CURRENCY_SCALE + accruedV2);
    }

    /// @notice A router has paid the vault a repayment's principal and interest: V1's in its currency, V2's in USDai.
    function onLoanRepayment(bytes32, uint256 principal, uint256 interest) external {
        if (msg.sender == address(loanRouterV2) && msg.sender != address(0)) {
            usdaiIncomeReceived += interest;
        } else {
            _received(principal, interest);
        }
    }

    /// @notice LoanRouterV2 has paid the vault a fee its loan terms name the vault the recipient of, in USDai.
    function onLoanFeePaid(bytes32, uint256 fee) external {
        if (msg.sender != address(loanRouterV2) || msg.sender == address(0)) revert NotLoanRouter(msg.sender);
        usdaiIncomeReceived += fee;
    }

    /// @notice The router has paid the vault what a collateral sale recovered of principal and interest.
    function onLoanCollateralLiquidated(bytes32, uint256 principal, uint256 interest) external {
        _received(principal, interest);
    }

    /// @notice Swaps loan currency the router paid the vault into USDai (the admin fee on its interest stays).
    function depositLoanRepayment(uint256 amount) external onlyAdmin returns (uint256 usdaiAmount) {
        uint256 repaymentBalance = (currencyReceived * CURRENCY_SCALE - _adminFeeHeld()) / CURRENCY_SCALE;
        if (amount > repaymentBalance) revert ExceedsRepaymentBalance(amount, repaymentBalance);
        usdaiAmount = _swapIntoUsdai(amount, address(this));
        emit LoanRepaymentDeposited(loanRouter.currencyToken(), amount, usdaiAmount);
    }

    /// @notice Pays the admin fee on loan interest out to the admin fee recipient, swapped into USDai.
    function withdrawAdminFee(uint256 amount) external onlyAdmin returns (uint256 usdaiAmount) {
        uint256 held = _adminFeeHeld() / CURRENCY_SCALE;
        if (amount > held) revert ExceedsAdminFee(amount, held);
        adminFeePaid += amount;
        usdaiAmount = _swapIntoUsdai(amount, adminFeeRecipient);
        emit AdminFeeWithdrawn(loanRouter.currencyToken(), amount, usdaiAmount);
    }

    /// @dev Loan currency the vault holds, swapped at par into USDai for `recipient` through USDai's deposit.
    function _swapIntoUsdai(uint256 amount, address recipient) private returns (uint256) {
        currencyReceived -= amount;
        address currency = loanRouter.currencyToken();
        Approvable(currency).approve(address(usdai), amount);
        return usdai.deposit(currency, amount, amount * CURRENCY_SCALE, recipient);
    }

    /// @dev The admin fee on the loan interest (and V2 fees) received that the vault still holds, in USDai units.
    function _adminFeeHeld() private view returns (uint256) {
        return (interestReceived * CURRENCY_SCALE + usdaiIncomeReceived) * ADMIN_FEE_BPS / BPS
            - adminFeePaid * CURRENCY_SCALE;
    }

    function _received(uint256 principal, uint256 interest) private {
        if (msg.sender != address(loanRouter)) revert NotLoanRouter(msg.sender);
        currencyReceived += principal + interest;
        interestReceived += interest;
    }

    function deposit(uint256 assets, address receiver) external returns (uint256 shares) {
        if (assets == 0) revert ZeroAmount();
        uint256 supply = totalShares();
        uint256 nav = totalAssets();
        shares = supply == 0 || nav == 0 ? assets : assets * supply / nav;
        usdai.transferFrom(msg.sender, address(this), assets);
        _mint(receiver, shares);
        emit Deposit(msg.sender, receiver, assets, shares);
    }

    function requestRedeem(uint256 shares, address controller, address owner) external returns (uint256 requestId) {
        if (shares == 0) revert ZeroAmount();
        if (msg.sender != owner) {
            uint256 allowed = allowance[owner][msg.sender];
            if (allowed < shares) revert InsufficientAllowance(msg.sender, allowed, shares);
            if (allowed != type(uint256).max) allowance[owner][msg.sender] = allowed - shares;
        }
        _transfer(owner, address(this), shares);
        requestId = redemptionTail++;
        redemptions[requestId] = Redemption(controller, shares);
        _pendingShares += shares;
        emit RedeemRequest(controller, owner, requestId, msg.sender, shares);
    }

    /// @notice Services up to `shares` of the queue, oldest first, at the current redemption share price.
    function serviceRedemptions(uint256 shares) external onlyAdmin returns (uint256 amount) {
        uint256 price = redemptionSharePrice();
        uint256 remaining = shares;
        uint256 head = redemptionHead;
        while (remaining != 0 && head < redemptionTail) {
            Redemption storage redemption = redemptions[head];
            uint256 fulfilled = redemption.pendingShares < remaining ? redemption.pendingShares : remaining;
            uint256 redemptionAmount = fulfilled * price / PRICE_SCALE;
            redemption.pendingShares -= fulfilled;
            remaining -= fulfilled;
            claimableAssets[redemption.controller] += redemptionAmount;
            claimableShares[redemption.controller] += fulfilled;
            amount += redemptionAmount;
            emit RedemptionProcessed(head, redemption.controller, fulfilled, redemptionAmount, redemption.pendingShares);
            if (redemption.pendingShares == 0) head++;
        }
        redemptionHead = head;
        uint256 serviced = shares - remaining;
        _pendingShares -= serviced;
        _burn(address(this), serviced);
        claimableBalance += amount;
        uint256 liquidity = usdai.balanceOf(address(this));
        if (liquidity < claimableBalance) revert InsufficientLiquidity(liquidity, claimableBalance);
        emit RedemptionsServiced(serviced, amount, head == redemptionTail);
    }

    /// @notice Claims serviced redemption proceeds of `controller`.
    function withdraw(uint256 assets, address receiver, address controller) external returns (uint256 shares) {
        if (msg.sender != controller) revert NotController(msg.sender, controller);
        uint256 claimable = claimableAssets[controller];
        if (assets == 0) revert ZeroAmount();
        if (assets > claimable) revert ExceedsClaimable(assets, claimable);
        shares = assets == claimable ? claimableShares[controller] : assets * claimableShares[controller] / claimable;
        claimableAssets[controller] = claimable - assets;
        claimableShares[controller] -= shares;
        claimableBalance -= assets;
        usdai.transfer(receiver, assets);
        emit Withdraw(msg.sender, receiver, controller, assets, shares);
    }

    /// @notice The custodian's T-bill income to date, from its latest statement.
    function reportCustodianYield(int256 yieldToDate) external onlyAdmin {
        custodianYield = yieldToDate;
    }

    /// @notice Commits vault USDai to a loan not yet originated: the router may take it for the loan with these terms
    /// until `expiration`; deposits for the same terms add up.
    function depositLoanTimelock(bytes32 loanTermsHash, uint256 usdaiAmount, uint64 expiration) external onlyAdmin {
        if (usdaiAmount == 0) revert ZeroAmount();
        _requireFree(usdaiAmount);
        usdai.approve(address(depositTimelock), usdaiAmount);
        depositTimelock.deposit(address(loanRouter), loanTermsHash, address(usdai), usdaiAmount, expiration);
        emit LoanTimelockDeposited(loanTermsHash, usdaiAmount, expiration);
    }

    /// @notice Takes back a pre-funding the router did not use, after its expiration.
    function cancelLoanTimelock(bytes32 loanTermsHash) external onlyAdmin returns (uint256 usdaiAmount) {
        usdaiAmount = depositTimelock.cancel(loanTermsHash);
        emit LoanTimelockCancelled(loanTermsHash, usdaiAmount);
    }

    /// @notice Turns vault USDai into base token delivered to the custodian's deposit address.
    function sendToCustodian(uint256 usdaiAmount, address custodian) external onlyAdmin returns (uint256) {
        _requireFree(usdaiAmount);
        custodianPrincipal += usdaiAmount;
        return usdai.withdraw(usdai.baseToken(), usdaiAmount, 0, custodian);
    }

    /// @dev USDai owed to serviced redemptions is never deployed.
    function _requireFree(uint256 usdaiAmount) private view {
        uint256 liquidity = usdai.balanceOf(address(this));
        if (liquidity < claimableBalance + usdaiAmount) revert InsufficientLiquidity(liquidity, claimableBalance + usdaiAmount);
    }
}
