// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface TimelockToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @notice Holds a depositor's tokens for a target, keyed by a context (a loan's terms hash), until an expiration:
/// the target may withdraw them up to the expiration, the depositor may cancel only after it. Deposits for one
/// context add up. The sandbox's stand-in for the protocol's deposit timelock that pre-funds loans.
contract DepositTimelock {
    struct Deposit {
        address depositor;
        address target;
        address token;
        uint256 amount;
        uint64 expiration;
    }

    mapping(bytes32 => Deposit) private _deposits;

    event Deposited(
        address indexed depositor,
        address indexed target,
        bytes32 indexed context,
        address token,
        uint256 amount,
        uint64 expiration
    );
    event Withdrawn(
        address indexed depositor,
        address indexed target,
        bytes32 indexed context,
        address token,
        uint256 depositAmount,
        uint256 withdrawAmount,
        uint256 refundAmount
    );
    event Canceled(
        address indexed depositor, address indexed target, bytes32 indexed context, address token, uint256 amount
    );

    error ZeroAmount();
    error InvalidDeposit(bytes32 context);
    error NotTarget(address caller);
    error NotDepositor(address caller);
    error Expired(uint64 expiration);
    error NotExpired(uint64 expiration);

    function depositOf(bytes32 context)
        external
        view
        returns (address depositor, address target, address token, uint256 amount, uint64 expiration)
    {
        Deposit storage d = _deposits[context];
        return (d.depositor, d.target, d.token, d.amount, d.expiration);
    }

    function deposit(address target, bytes32 context, address token, uint256 amount, uint64 expiration) external {
        if (amount == 0) revert ZeroAmount();
        if (expiration <= block.timestamp) revert Expired(expiration);
        Deposit storage d = _deposits[context];
        if (d.amount != 0 && (d.depositor != msg.sender || d.target != target || d.token != token)) {
            revert InvalidDeposit(context);
        }
        d.depositor = msg.sender;
        d.target = target;
        d.token = token;
        d.amount += amount;
        d.expiration = expiration;
        TimelockToken(token).transferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, target, context, token, amount, expiration);
    }

    /// @notice The target takes the whole deposit, up to its expiration.
    function withdraw(bytes32 context) external returns (uint256 amount) {
        Deposit memory d = _deposits[context];
        if (d.amount == 0) revert InvalidDeposit(context);
        if (msg.sender != d.target) revert NotTarget(msg.sender);
        if (block.timestamp > d.expiration) revert Expired(d.expiration);
        delete _deposits[context];
        amount = d.amount;
        TimelockToken(d.token).transfer(d.target, amount);
        emit Withdrawn(d.depositor, d.target, context, d.token, amount, amount, 0);
    }

    /// @notice The depositor takes the deposit back, once it has expired.
    function cancel(bytes32 context) external returns (uint256 amount) {
        Deposit memory d = _deposits[context];
        if (d.amount == 0) revert InvalidDeposit(context);
        if (msg.sender != d.depositor) revert NotDepositor(msg.sender);
        if (block.timestamp <= d.expiration) revert NotExpired(d.expiration);
        delete _deposits[context];
        amount = d.amount;
        TimelockToken(d.token).transfer(d.depositor, amount);
        emit Canceled(d.depositor, d.target, context, d.token, amount);
    }
}
