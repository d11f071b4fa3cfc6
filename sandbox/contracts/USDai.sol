// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20Token} from "./ERC20Token.sol";

interface ReserveToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function approve(address spender, uint256 value) external returns (bool);
}

interface ReserveSwap {
    function swap(address tokenIn, uint256 amountIn, address recipient) external returns (uint256 amountOut);
}

/// @notice The USDai stablecoin (18 decimals), backed 1:1 by the base reserve token (6 decimals) it holds.
/// Deposits in another token are swapped to the base token first; withdrawals in another token are swapped out.
contract USDai is ERC20Token {
    /// @dev Base token (6 decimals) to USDai (18 decimals).
    uint256 private constant SCALE = 1e12;

    /// @notice Fixed in each implementation of the real USDai (wM until v1.4, PYUSD since): changed here only by
    /// `migrateBaseToken`, the stand-in for the v1.4 upgrade.
    address public baseToken;
    ReserveSwap public swap;
    address public immutable admin;
    /// @notice USDai bridged to other chains: not in totalSupply here, yet backed by this contract's reserves.
    uint256 public bridgedSupply;
    mapping(address => bool) public isBlacklisted;
    /// @notice The code the deployed USDai runs behind its ERC-1967 proxy; an upgrade replaces it.
    address public implementation;

    event Deposited(
        address indexed caller, address indexed recipient, address depositToken, uint256 depositAmount, uint256 mintAmount
    );
    event Withdrawn(
        address indexed caller, address indexed recipient, address withdrawToken, uint256 usdaiAmount, uint256 withdrawAmount
    );
    event BlacklistUpdated(address indexed account, bool isBlacklisted);
    event Upgraded(address indexed implementation);
    event BaseTokenConverted(address indexed converter, uint256 amount);

    error NotAdmin(address caller);
    error Blacklisted(address account);
    error SlippageExceeded(uint256 amount, uint256 minimum);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    constructor(address baseToken_, ReserveSwap swap_) ERC20Token("USD.AI", "USDai", 18) {
        baseToken = baseToken_;
        swap = swap_;
        admin = msg.sender;
    }

    /// @notice The proxy's upgrade, as the deployed contract's admin performs it: the event ERC-1967 proxies emit.
    function upgradeTo(address newImplementation) external onlyAdmin {
        implementation = newImplementation;
        emit Upgraded(newImplementation);
    }

    /// @notice The v1.4 release: new code whose base token and swap adapter are new (the real ones are immutables
    /// of the implementation). The reserve stays in the former token until the admin converts it.
    function migrateBaseToken(address newImplementation, address newBaseToken, ReserveSwap newSwap) external onlyAdmin {
        formerBaseToken = baseToken;
        baseToken = newBaseToken;
        swap = newSwap;
        implementation = newImplementation;
        emit Upgraded(newImplementation);
    }

    /// @notice The admin takes `amount` of the former base token out of the reserve and puts the same raw amount of
    /// the base token in (both have 6 decimals): the reserve changes token, not size.
    function convertBaseToken(uint256 amount) external onlyAdmin {
        ReserveToken(formerBaseToken).transfer(msg.sender, amount);
        ReserveToken(baseToken).transferFrom(msg.sender, address(this), amount);
        emit BaseTokenConverted(msg.sender, amount);
    }

    /// @notice The base token before the last migration (zero before any).
    address public formerBaseToken;

    function deposit(address depositToken, uint256 depositAmount, uint256 usdaiAmountMin, address recipient)
        external
        returns (uint256 mintAmount)
    {
        ReserveToken(depositToken).transferFrom(msg.sender, address(this), depositAmount);
        uint256 baseAmount = depositToken == baseToken ? depositAmount : _swap(depositToken, depositAmount, address(this));
        mintAmount = baseAmount * SCALE;
        if (mintAmount < usdaiAmountMin) revert SlippageExceeded(mintAmount, usdaiAmountMin);
        _mint(recipient, mintAmount);
        emit Deposited(msg.sender, recipient, depositToken, depositAmount, mintAmount);
    }

    function withdraw(address withdrawToken, uint256 usdaiAmount, uint256 withdrawAmountMin, address recipient)
        external
        returns (uint256 withdrawAmount)
    {
        _burn(msg.sender, usdaiAmount);
        // Sub-unit dust of the base token stays in the reserve: a burn never pays out more than it backs.
        uint256 baseAmount = usdaiAmount / SCALE;
        if (withdrawToken == baseToken) {
            ReserveToken(baseToken).transfer(recipient, baseAmount);
            withdrawAmount = baseAmount;
        } else {
            withdrawAmount = _swap(baseToken, baseAmount, recipient);
        }
        if (withdrawAmount < withdrawAmountMin) revert SlippageExceeded(withdrawAmount, withdrawAmountMin);
        emit Withdrawn(msg.sender, recipient, withdrawToken, usdaiAmount, withdrawAmount);
    }

    function setBlacklist(address account, bool blacklisted) external onlyAdmin {
        isBlacklisted[account] = blacklisted;
        emit BlacklistUpdated(account, blacklisted);
    }

    function setBridgedSupply(uint256 supply) external onlyAdmin {
        bridgedSupply = supply;
    }

    /// @notice The omnichain adapter that alone may burn USDai leaving for another chain and mint it back (USDai v1.5).
    address public bridgeAdapter;

    error NotBridgeAdapter(address caller);

    function setBridgeAdapter(address adapter) external onlyAdmin {
        bridgeAdapter = adapter;
    }

    /// @notice USDai leaves for another chain: burned here, counted in bridgedSupply, still backed here.
    function burn(address from, uint256 amount) external {
        if (msg.sender != bridgeAdapter) revert NotBridgeAdapter(msg.sender);
        _burn(from, amount);
        bridgedSupply += amount;
    }

    /// @notice USDai comes back from another chain: minted here, out of bridgedSupply.
    function mint(address to, uint256 amount) external {
        if (msg.sender != bridgeAdapter) revert NotBridgeAdapter(msg.sender);
        bridgedSupply -= amount;
        _mint(to, amount);
    }

    /// @notice SANDBOX ONLY: a compromised minter. Mints with a bare Transfer and no Deposited, against no reserve,
    /// so that the reconciliation has a known unbacked mint to find.
    function adminMint(address to, uint256 amount) external onlyAdmin {
        _mint(to, amount);
    }

    function _swap(address tokenIn, uint256 amountIn, address recipient) private returns (uint256) {
        ReserveToken(tokenIn).approve(address(swap), amountIn);
        return swap.swap(tokenIn, amountIn, recipient);
    }

    function _checkTransfer(address from, address to) internal view override {
        if (isBlacklisted[from]) revert Blacklisted(from);
        if (isBlacklisted[to]) revert Blacklisted(to);
    }
}
