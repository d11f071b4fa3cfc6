// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Where the reserve attestations are published: the sha256 digest of each attestation's canonical
/// manifest, with the period it covers and the Ed25519 public keys that signed the digest. Anyone may publish; what
/// a publication proves is who published it and when, so readers judge a publisher by its address.
/// A digest is published once: the first publication stands, and publishing it again changes nothing.
contract AttestationRegistry {
    struct Publication {
        address publisher;
        uint64 blockNumber;
        string period;
        bytes32[] signerKeys;
    }

    mapping(bytes32 => Publication) private publications;

    event AttestationPublished(bytes32 indexed digest, address indexed publisher, string period, bytes32[] signerKeys);

    /// @notice Record `digest` as published by the caller in this block. A digest already published is left as it
    /// is, without a revert, so that a publisher retrying after an unclear outcome cannot fail or publish twice.
    function publish(bytes32 digest, string calldata period, bytes32[] calldata signerKeys) external {
        Publication storage existing = publications[digest];
        if (existing.publisher != address(0)) return;
        existing.publisher = msg.sender;
        existing.blockNumber = uint64(block.number);
        existing.period = period;
        existing.signerKeys = signerKeys;
        emit AttestationPublished(digest, msg.sender, period, signerKeys);
    }

    /// @notice Who published `digest`, in which block, for which period; the zero address and block 0 when no one
    /// has.
    function publication(bytes32 digest)
        external
        view
        returns (address publisher, uint64 blockNumber, string memory period)
    {
        Publication storage found = publications[digest];
        return (found.publisher, found.blockNumber, found.period);
    }

    /// @notice The Ed25519 public keys that signed `digest`, as its publisher gave them; empty when not published.
    function signers(bytes32 digest) external view returns (bytes32[] memory) {
        return publications[digest].signerKeys;
    }
}
