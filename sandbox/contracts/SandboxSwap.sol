// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface SwappableToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function decimals() external view returns (uint8);
}

/// @notice A pre-funded 1:1 pool between two tokens of equal decimals: the stand-in for the DEX through which
/// USDai converts deposit tokens to its base token and back. Outside the protocol.
contract SandboxSwap {
    SwappableToken public immutable tokenA;
    SwappableToken public immutable tokenB;

    // The event of the protocol's swap adapters (ISwapAdapter), so the sandbox's swaps decode as the real ones do.
    event Swapped(address indexed inputToken, address indexed outputToken, uint256 inputAmount, uint256 outputAmount);

    error UnknownToken(address token);
    error DecimalsDiffer();

    constructor(SwappableToken tokenA_, SwappableToken tokenB_) {
        // A 1:1 rate is only exact between tokens of the same precision.
        if (tokenA_.decimals() != tokenB_.decimals()) revert DecimalsDiffer();
        tokenA = tokenA_;
        tokenB = tokenB_;
    }

    function swap(address tokenIn, uint256 amountIn, address recipient) external returns (uint256 amountOut) {
        SwappableToken tokenOut;
        if (tokenIn == address(tokenA)) tokenOut = tokenB;
        else if (tokenIn == address(tokenB)) tokenOut = tokenA;
        else revert UnknownToken(tokenIn);
        SwappableToken(tokenIn).transferFrom(msg.sender, address(this), amountIn);
        amountOut = amountIn;
        tokenOut.transfer(recipient, amountOut);
        emit Swapped(tokenIn, address(tokenOut), amountIn, amountOut);
    }
}
